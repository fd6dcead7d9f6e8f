// rtnetlink replies (links, addresses, routes, neighbours) as the kernel
// might send them to `ip -d link show` and friends: the input is one
// receive buffer.
#include <linux/netlink.h>

#include "decode_messages.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  netplumb::fuzz::DecodeMessages(NETLINK_ROUTE, data, size);
  return 0;
}
