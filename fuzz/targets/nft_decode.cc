// nf_tables dumps (tables, chains, rules with their expressions, sets,
// elements, generations) and ctnetlink entries: the input is one receive
// buffer on a NETLINK_NETFILTER socket.
#include <linux/netlink.h>

#include "decode_messages.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  netplumb::fuzz::DecodeMessages(NETLINK_NETFILTER, data, size);
  return 0;
}
