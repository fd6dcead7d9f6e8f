// Reply matching (native/netlink/replies.cc) on hand-made receive buffers:
// what the kernel can send that no test namespace provokes on demand.
// Built and run by test/native/replies.unit.ts; prints "N checks passed".
#include "netlink/replies.h"

#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include <cstdio>
#include <cstring>
#include <vector>

namespace {

using netplumb::Completion;
using netplumb::Transaction;

int failures = 0;
int checks = 0;

void Check(bool ok, const char* what) {
  checks++;
  if (!ok) {
    failures++;
    std::printf("FAIL: %s\n", what);
  }
}

constexpr uint32_t kPort = 4242;
constexpr uint32_t kSeq = 100;

// Appends one message with a zeroed payload of `payload` bytes.
void Put(std::vector<uint8_t>* buf, uint16_t type, uint16_t flags, uint32_t seq, size_t payload) {
  nlmsghdr h{};
  h.nlmsg_len = static_cast<uint32_t>(NLMSG_HDRLEN + payload);
  h.nlmsg_type = type;
  h.nlmsg_flags = flags;
  h.nlmsg_seq = seq;
  h.nlmsg_pid = kPort;
  size_t at = buf->size();
  buf->resize(at + NLMSG_ALIGN(h.nlmsg_len), 0);
  std::memcpy(buf->data() + at, &h, sizeof(h));
}

Transaction Replies(const std::vector<uint8_t>& buf) {
  Transaction t;
  t.completions.assign(1, Completion{});
  std::vector<bool> multi(1, false);
  netplumb::CollectReplies(buf.data(), buf.size(), kSeq, kPort, &t, &multi);
  return t;
}

Transaction Dump(const std::vector<uint8_t>& buf) {
  Transaction t;
  t.completions.assign(1, Completion{});
  netplumb::CollectDump(buf.data(), buf.size(), kSeq, kPort, &t);
  return t;
}

}  // namespace

int main() {
  {
    std::vector<uint8_t> b;
    Put(&b, RTM_NEWLINK, NLM_F_MULTI, kSeq, sizeof(ifinfomsg));
    Put(&b, NLMSG_DONE, NLM_F_MULTI, kSeq, sizeof(int32_t));
    Transaction r = Replies(b), d = Dump(b);
    Check(r.completions[0].done && !r.interrupted && r.received.size() == 1, "a whole dump, as a transaction");
    Check(d.completions[0].done && !d.interrupted && d.received.size() == 1, "a whole dump, streamed");
  }
  {
    // The kernel checks consistency again when it ends the dump: a change
    // after the last data message is flagged on NLMSG_DONE alone.
    std::vector<uint8_t> b;
    Put(&b, RTM_NEWLINK, NLM_F_MULTI, kSeq, sizeof(ifinfomsg));
    Put(&b, NLMSG_DONE, NLM_F_MULTI | NLM_F_DUMP_INTR, kSeq, sizeof(int32_t));
    Check(Replies(b).interrupted, "DUMP_INTR on DONE marks the transaction interrupted");
    Check(Dump(b).interrupted, "DUMP_INTR on DONE marks the streamed dump interrupted");
  }
  {
    std::vector<uint8_t> b;
    Put(&b, RTM_NEWLINK, NLM_F_MULTI | NLM_F_DUMP_INTR, kSeq, sizeof(ifinfomsg));
    Put(&b, NLMSG_DONE, NLM_F_MULTI, kSeq, sizeof(int32_t));
    Check(Replies(b).interrupted, "DUMP_INTR on a data message, as a transaction");
    Check(Dump(b).interrupted, "DUMP_INTR on a data message, streamed");
  }
  {
    // Another request's end (a stale sequence number) ends nothing here.
    std::vector<uint8_t> b;
    Put(&b, NLMSG_DONE, NLM_F_MULTI | NLM_F_DUMP_INTR, kSeq + 7, sizeof(int32_t));
    Transaction r = Replies(b), d = Dump(b);
    Check(!r.completions[0].done && !r.interrupted, "a stale DONE is not ours (transaction)");
    Check(!d.completions[0].done && !d.interrupted, "a stale DONE is not ours (dump)");
  }
  std::printf("%d checks passed, %d failed\n", checks - failures, failures);
  return failures == 0 ? 0 : 1;
}
