#include "netlink/socket.h"

#include <arpa/inet.h>
#include <linux/filter.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "common/errors.h"
#include "netlink/message.h"

#ifndef NETLINK_EXT_ACK
#define NETLINK_EXT_ACK 11
#endif
#ifndef NETLINK_GET_STRICT_CHK
#define NETLINK_GET_STRICT_CHK 12
#endif

namespace netplumb {
namespace {

constexpr size_t kReceiveBufferSize = 64 * 1024;  // > the 32 KiB dump skbs
constexpr int kDefaultRcvbuf = 1 << 20;
// How long to wait for an ACK that should already be queued (it always is
// with today's kernels; this only bounds a surprise).
constexpr int kLateAckTimeoutMs = 2000;

void SetOpt(int fd, int level, int name, int value) { ::setsockopt(fd, level, name, &value, sizeof(value)); }

}  // namespace

NetlinkSocket::NetlinkSocket(int protocol) : protocol_(protocol) {
  fd_.Reset(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol));
  if (!fd_.Valid()) ThrowErrno("socket");
  int fd = fd_.Get();
  // Options older kernels lack are simply not set.
  SetOpt(fd, SOL_NETLINK, NETLINK_EXT_ACK, 1);
  SetOpt(fd, SOL_NETLINK, NETLINK_CAP_ACK, 1);
  SetOpt(fd, SOL_NETLINK, NETLINK_GET_STRICT_CHK, 1);
  // Large dumps and long batches of ACKs must never overrun: ask for a big
  // receive buffer (FORCE needs CAP_NET_ADMIN, which any caller here has).
  int want = kDefaultRcvbuf;
  if (::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &want, sizeof(want)) != 0) {
    SetOpt(fd, SOL_SOCKET, SO_RCVBUF, want);
  }
  // What was granted: without FORCE (a user namespace) it is capped at
  // net.core.rmem_max, and a batch is windowed by what it really holds.
  socklen_t rl = sizeof(rcvbuf_);
  if (::getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf_, &rl) != 0) rcvbuf_ = 0;
  sockaddr_nl addr{};
  addr.nl_family = AF_NETLINK;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) ThrowErrno("bind");
  socklen_t len = sizeof(addr);
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) ThrowErrno("getsockname");
  portid_ = addr.nl_pid;
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  seq_ = static_cast<uint32_t>(ts.tv_nsec ^ ts.tv_sec);
}

void NetlinkSocket::EnsureSendBuffer(size_t len) {
  // netlink_sendmsg refuses messages larger than sk_sndbuf - 32.
  if (sndbuf_ == 0) {
    socklen_t sl = sizeof(sndbuf_);
    ::getsockopt(fd_.Get(), SOL_SOCKET, SO_SNDBUF, &sndbuf_, &sl);
  }
  if (len + 64 <= static_cast<size_t>(sndbuf_)) return;
  int want = static_cast<int>(len + 4096);
  if (::setsockopt(fd_.Get(), SOL_SOCKET, SO_SNDBUFFORCE, &want, sizeof(want)) != 0) {
    SetOpt(fd_.Get(), SOL_SOCKET, SO_SNDBUF, want);
  }
  socklen_t sl = sizeof(sndbuf_);
  ::getsockopt(fd_.Get(), SOL_SOCKET, SO_SNDBUF, &sndbuf_, &sl);
}

void NetlinkSocket::SetReceiveBuffer(int want) {
  if (::setsockopt(fd_.Get(), SOL_SOCKET, SO_RCVBUFFORCE, &want, sizeof(want)) != 0) {
    SetOpt(fd_.Get(), SOL_SOCKET, SO_RCVBUF, want);
  }
  // What was granted (the kernel doubles what it grants, for its overhead).
  int got = 0;
  socklen_t len = sizeof(got);
  if (::getsockopt(fd_.Get(), SOL_SOCKET, SO_RCVBUF, &got, &len) == 0) rcvbuf_ = got;
}

size_t NetlinkSocket::ReplyBudget(const std::vector<uint8_t>& batch) {
  // What the kernel charges the receive queue (skb truesize) for the
  // replies, measured on 6.18 (/proc/net/netlink Rmem with the replies
  // queued, and the smallest SO_RCVBUF that holds them):
  // - an ACK or error (NETLINK_CAP_ACK): an skb of its own, 832 bytes.
  // - echoes (NLM_F_ECHO): nf_tables queues them at commit, packed into
  //   skbs of NLMSG_GOODSIZE (a page less skb_shared_info) whose head
  //   lands in a kmalloc bucket twice that size: 8,378 bytes each with 4 KiB
  //   pages. An echo is its request plus what the kernel adds (the handle,
  //   ...: 56 bytes for a rule). 1000 rules of 560 bytes with a counter and
  //   a comment: 168 such skbs and 1000 ACKs, 2,239,552 bytes.
  constexpr size_t kAck = 1024, kEchoGrowth = 128, kShinfo = 320;
  static const size_t page = std::min<size_t>(static_cast<size_t>(::sysconf(_SC_PAGESIZE)), 8192);
  const size_t good = page - kShinfo;  // NLMSG_GOODSIZE
  size_t messages = 0, echoes = 0, echo_bytes = 0, largest = 0;
  MessageIterator it(batch.data(), batch.size());
  MessageView m;
  while (it.Next(&m)) {
    messages++;
    if ((m.header.nlmsg_flags & NLM_F_ECHO) == 0) continue;
    const size_t e = NLMSG_ALIGN(m.header.nlmsg_len) + kEchoGrowth;
    echoes++;
    echo_bytes += e;
    largest = std::max(largest, e);
  }
  // Packed in order, each skb is filled past good - largest before the
  // next is started, and none holds fewer than one echo.
  size_t skbs = echoes;
  if (largest < good) skbs = std::min(skbs, echo_bytes / (good - largest) + 1);
  if (echoes > 0) skbs++;  // NFT_MSG_NEWGEN, when the first message asked for an echo
  const size_t per_skb = 2 * std::max(page, largest) + 512;
  return messages * kAck + skbs * per_skb;
}

size_t NetlinkSocket::EnsureReceiveBuffer(size_t need, size_t messages) {
  constexpr size_t kSpare = 64 * 1024;
  // How many messages fit at their average share of `need` (windows).
  auto fits = [&] {
    if (rcvbuf_ <= static_cast<int>(kSpare) || need == 0) return size_t{1};
    return static_cast<size_t>(static_cast<double>(messages) * static_cast<double>(rcvbuf_ - kSpare) /
                               static_cast<double>(need));
  };
  if (rcvbuf_limit_ == 0 && need + kSpare > static_cast<size_t>(rcvbuf_)) {
    SetReceiveBuffer(static_cast<int>(std::min<size_t>(need + kSpare, INT32_MAX / 2)));
  }
  if (need + kSpare <= static_cast<size_t>(rcvbuf_)) return messages;
  return std::min(messages, std::max<size_t>(1, fits()));
}

std::vector<size_t> NetlinkSocket::Number(std::vector<uint8_t>& batch, uint32_t first_seq) {
  std::vector<size_t> starts;
  uint32_t seq = first_seq;
  size_t off = 0;
  while (off + NLMSG_HDRLEN <= batch.size()) {
    nlmsghdr h;
    std::memcpy(&h, batch.data() + off, sizeof(h));
    if (h.nlmsg_len < NLMSG_HDRLEN || off + h.nlmsg_len > batch.size()) {
      throw SysError(EINVAL, "sendmsg", "malformed request batch");
    }
    h.nlmsg_seq = seq++;
    h.nlmsg_pid = 0;
    std::memcpy(batch.data() + off, &h, sizeof(h));
    starts.push_back(off);
    off += NLMSG_ALIGN(h.nlmsg_len);
  }
  starts.push_back(std::min(off, batch.size()));
  return starts;
}

void NetlinkSocket::SendBytes(const uint8_t* data, size_t len) {
  EnsureSendBuffer(len);
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  for (;;) {
    ssize_t n = ::sendto(fd_.Get(), data, len, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof(kernel));
    if (n >= 0) return;
    if (errno == EINTR) continue;
    ThrowErrno("sendmsg");
  }
}

void NetlinkSocket::Send(std::vector<uint8_t>& batch, uint32_t first_seq) {
  Number(batch, first_seq);
  SendBytes(batch.data(), batch.size());
}

size_t NetlinkSocket::Receive(bool block) {
  if (rbuf_.empty()) rbuf_.resize(kReceiveBufferSize);
  for (;;) {
    sockaddr_nl from{};
    iovec iov{rbuf_.data(), rbuf_.size()};
    msghdr msg{};
    msg.msg_name = &from;
    msg.msg_namelen = sizeof(from);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    ssize_t n = ::recvmsg(fd_.Get(), &msg, block ? 0 : MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
      if (errno == ENOBUFS) {
        throw SysError(ENOBUFS, "recvmsg", "netlink receive queue overrun; replies were lost");
      }
      ThrowErrno("recvmsg");
    }
    if ((msg.msg_flags & MSG_TRUNC) != 0) throw SysError(EMSGSIZE, "recvmsg", "reply truncated");
    if (from.nl_pid != 0) continue;  // only the kernel speaks to us
    return static_cast<size_t>(n);
  }
}

void NetlinkSocket::Transact(std::vector<uint8_t>& batch, Transaction* out, int rcvbuf_limit) {
  // A fixed receive buffer for this batch only: put back however it ends.
  struct Restore {
    NetlinkSocket* s;
    int saved;
    ~Restore() {
      if (s->rcvbuf_limit_ == 0) return;
      s->rcvbuf_limit_ = 0;
      if (saved > 0) s->SetReceiveBuffer(saved / 2);  // getsockopt reports twice what was set
    }
  } restore{this, rcvbuf_};
  if (rcvbuf_limit > 0) {
    SetReceiveBuffer(rcvbuf_limit);
    rcvbuf_limit_ = rcvbuf_limit;
  }
  // Which messages expect a completion (ACK, error or NLMSG_DONE)?
  std::vector<bool> expects;
  bool all_ack = true;
  {
    MessageIterator it(batch.data(), batch.size());
    MessageView m;
    while (it.Next(&m)) {
      expects.push_back((m.header.nlmsg_flags & NLM_F_ACK) != 0);
      all_ack = all_ack && expects.back();
    }
  }
  const uint32_t count = static_cast<uint32_t>(expects.size());
  out->completions.assign(count, Completion{});
  if (count == 0) return;
  const uint32_t base = seq_;
  seq_ += count;
  std::vector<bool> multi(count, false);  // a dump in progress
  const size_t fit = EnsureReceiveBuffer(ReplyBudget(batch), count);
  const std::vector<size_t> starts = Number(batch, base);
  // A batch whose ACKs the receive queue cannot hold goes in windows that
  // it can, the next once the last is answered: rtnetlink handles each
  // message on its own, so this changes nothing of what happens. Not a
  // batch with silent messages (nf_tables: one transaction, never split).
  const uint32_t window = all_ack ? static_cast<uint32_t>(fit) : count;
  uint32_t sent = std::min(window, count);
  SendBytes(batch.data() + starts[0], starts[sent] - starts[0]);
  uint32_t answered = 0;  // messages before this one are all answered
  // Messages never sent (a later window's send failed): failed with `err`.
  auto unsent = [&](int err) {
    for (uint32_t i = sent; i < count; i++) {
      out->completions[i].done = true;
      out->completions[i].error = err;
    }
    sent = count;
  };

  bool block = false;
  for (;;) {
    while (answered < sent && out->completions[answered].done) answered++;
    if (sent < count && answered == sent && !out->overrun) {
      // The earlier windows are in the kernel: a failure now fails only
      // what was not sent, so the caller still learns what was applied.
      const uint32_t next = std::min(sent + window, count);
      try {
        SendBytes(batch.data() + starts[sent], starts[next] - starts[sent]);
        sent = next;
      } catch (const SysError& e) {
        unsent(e.err);
        return;
      }
    }
    size_t n = 0;
    try {
      n = Receive(block);
    } catch (const SysError& e) {
      if (e.err != ENOBUFS) throw;
      // The kernel dropped replies it could not queue (it keeps the first
      // ones, drops the rest): read what it kept, then say what is missing.
      out->overrun = true;
      block = false;
      continue;
    }
    if (n == 0 && out->overrun) {
      // A dump cut short may still be running in the kernel (the next dump
      // on this socket would get EBUSY): fail as a whole, and the job drops
      // the socket (see TransactJob).
      for (uint32_t i = 0; i < sent; i++) {
        if (multi[i] && !out->completions[i].done)
          throw SysError(ENOBUFS, "recvmsg", "netlink receive queue overrun during a dump");
      }
      for (uint32_t i = 0; i < sent; i++) {
        Completion& c = out->completions[i];
        if (!c.done && (expects[i] || multi[i])) {
          c.done = true;
          c.error = ENOBUFS;
        }
      }
      unsent(ECANCELED);
      return;
    }
    if (n == 0) {
      bool dumping = false, missing = false, failed = false;
      for (uint32_t i = 0; i < sent; i++) {
        const Completion& c = out->completions[i];
        if (multi[i] && !c.done) dumping = true;
        if (expects[i] && !c.done) missing = true;
        if (c.done && c.error != 0) failed = true;
      }
      if (dumping) {
        block = true;
        continue;
      }
      if (!missing && sent < count) continue;  // the next window
      // An aborted nf_tables batch acknowledges nothing after the failure.
      if (!missing || failed) {
        unsent(ECANCELED);
        return;
      }
      pollfd p{fd_.Get(), POLLIN, 0};
      int r = ::poll(&p, 1, kLateAckTimeoutMs);
      if (r > 0) continue;
      unsent(ECANCELED);
      for (uint32_t i = 0; i < count; i++) {
        if (expects[i] && !out->completions[i].done) {
          out->completions[i].done = true;
          out->completions[i].error = ETIMEDOUT;
        }
      }
      return;
    }
    block = false;
    CollectReplies(rbuf_.data(), n, base, portid_, out, &multi);
    // Every message asked for an ACK and got it: the kernel answers a
    // batch in order, so nothing of this one is still queued (an echo comes
    // before its ACK), and reading on to EAGAIN is one syscall per request
    // for nothing. Batches with silent messages (nf_tables' begin and end,
    // whose errors come after the others' ACKs) read on.
    if (all_ack) {
      bool open = false;
      for (uint32_t i = 0; i < count && !open; i++) open = !out->completions[i].done || multi[i];
      if (!open) return;
    }
  }
}

void NetlinkSocket::DumpBegin(std::vector<uint8_t>& request) {
  if (dump_active_) DumpAbort();
  dump_seq_ = seq_++;
  Send(request, dump_seq_);
  dump_active_ = true;
}

bool NetlinkSocket::DumpRead(size_t budget, Transaction* out) {
  out->completions.assign(1, Completion{});
  while (dump_active_ && out->data.size() < budget) {
    size_t n = Receive(true);
    if (CollectDump(rbuf_.data(), n, dump_seq_, portid_, out)) dump_active_ = false;
  }
  return !dump_active_;
}

void NetlinkSocket::DumpAbort() {
  Transaction sink;
  while (dump_active_) {
    sink.data.clear();
    sink.received.clear();
    DumpRead(1, &sink);
  }
}

void NetlinkSocket::Join(uint32_t group) {
  if (::setsockopt(fd_.Get(), SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &group, sizeof(group)) != 0) {
    ThrowErrno("setsockopt", "NETLINK_ADD_MEMBERSHIP");
  }
}

void NetlinkSocket::KeepTypes(const std::vector<uint16_t>& types) {
  if (types.empty()) return;
  // Every notification is its own skb, so the filter sees one nlmsghdr at
  // offset 0. BPF_H|BPF_ABS loads in network byte order; nlmsg_type is in
  // host order, hence ntohs on the constants compared.
  std::vector<sock_filter> prog;
  prog.push_back(BPF_STMT(BPF_LD | BPF_H | BPF_ABS, offsetof(nlmsghdr, nlmsg_type)));
  const auto n = static_cast<uint8_t>(types.size());
  for (uint8_t i = 0; i < n; i++) {
    // Equal: jump to the accepting return, past the remaining tests and the drop.
    prog.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ntohs(types[i]), static_cast<uint8_t>(n - i), 0));
  }
  prog.push_back(BPF_STMT(BPF_RET | BPF_K, 0));            // drop
  prog.push_back(BPF_STMT(BPF_RET | BPF_K, 0xffffffffu));  // keep, whole
  sock_fprog fprog{static_cast<unsigned short>(prog.size()), prog.data()};
  if (::setsockopt(fd_.Get(), SOL_SOCKET, SO_ATTACH_FILTER, &fprog, sizeof(fprog)) != 0) {
    ThrowErrno("setsockopt", "SO_ATTACH_FILTER");
  }
}

bool NetlinkSocket::ReadEvents(Transaction* out) {
  size_t n = Receive(false);
  if (n == 0) return false;
  CollectEvents(rbuf_.data(), n, out);
  return true;
}

}  // namespace netplumb
