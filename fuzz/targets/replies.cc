// How replies are matched to a batch of requests (netlink/replies.h): ACKs,
// errors with extended ACK TLVs, NLMSG_DONE, dump parts, stale and foreign
// messages; then the data messages kept are decoded as the addon would.
//
// Input: one byte of parameters, then a receive buffer. The batch is taken
// to start at the sequence number of the buffer's first message (minus
// 0-3, from bits 3-4) and to hold 1-8 requests (bits 0-2); bit 5 picks the
// protocol the data is decoded as.
#include "netlink/replies.h"

#include <linux/netlink.h>

#include <cstdlib>
#include <cstring>

#include "netlink/decode.h"
#include "netlink/message.h"
#include "tree_out.h"

namespace {

using netplumb::Transaction;

// What the rest of the addon relies on after a collect.
void Check(const Transaction& t, size_t count) {
  if (t.completions.size() != count) std::abort();
  for (const netplumb::Received& r : t.received) {
    if (r.index >= count) std::abort();
    if (static_cast<size_t>(r.offset) + r.len > t.data.size()) std::abort();
  }
}

void DecodeKept(const Transaction& t, int protocol) {
  netplumb::fuzz::TreeOut tree;
  for (const netplumb::Received& r : t.received) {
    netplumb::MessageIterator it(t.data.data() + r.offset, r.len);
    netplumb::MessageView m;
    // Each kept message is whole: exactly one message in its range.
    if (!it.Next(&m) || it.Next(&m)) std::abort();
    tree.Clear();
    netplumb::DecodeMessage(tree, protocol, m);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  uint8_t params = data[0];
  data++;
  size--;
  size_t count = (params & 7) + 1;
  uint32_t base = 0, portid = 0;
  if (size >= sizeof(nlmsghdr)) {
    nlmsghdr h;
    std::memcpy(&h, data, sizeof(h));
    base = h.nlmsg_seq - ((params >> 3) & 3);
    portid = h.nlmsg_pid;
  }
  int protocol = (params & 0x20) != 0 ? NETLINK_NETFILTER : NETLINK_ROUTE;

  Transaction batch;
  batch.completions.assign(count, netplumb::Completion{});
  std::vector<bool> multi(count, false);
  netplumb::CollectReplies(data, size, base, portid, &batch, &multi);
  Check(batch, count);
  DecodeKept(batch, protocol);

  Transaction dump;
  dump.completions.assign(1, netplumb::Completion{});
  netplumb::CollectDump(data, size, base, portid, &dump);
  Check(dump, 1);
  DecodeKept(dump, protocol);

  Transaction events;
  netplumb::CollectEvents(data, size, &events);
  DecodeKept(events, protocol);
  return 0;
}
