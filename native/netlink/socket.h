// A netlink socket bound to the network namespace of the thread that opened
// it. Requests are pipelined: a buffer of several messages goes out in one
// sendmsg and every reply is matched back to its message by sequence number.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/fd.h"
#include "netlink/replies.h"

namespace netplumb {

class NetlinkSocket {
 public:
  // Opens and binds a socket of `protocol` (NETLINK_ROUTE, NETLINK_NETFILTER)
  // in the calling thread's network namespace. Throws SysError.
  explicit NetlinkSocket(int protocol);

  int Protocol() const { return protocol_; }
  int Fd() const { return fd_.Get(); }

  // Sends every message of `batch` in one sendmsg (sequence numbers and port
  // id are written here) and collects all replies. Blocks until each dump has
  // ended; ACKs of other messages are already queued when sendmsg returns,
  // because the kernel handles requests in the sender's context.
  // `rcvbuf_limit` > 0: the receive buffer is that (SO_RCVBUF) for this
  // batch, not grown for its replies, and restored after (tests use it to
  // make the kernel drop replies).
  void Transact(std::vector<uint8_t>& batch, Transaction* out, int rcvbuf_limit = 0);

  // Streaming dump: Begin sends the request; Read gathers replies until about
  // `budget` bytes are in `out` or the dump ends (returns true when ended).
  void DumpBegin(std::vector<uint8_t>& request);
  bool DumpRead(size_t budget, Transaction* out);
  bool DumpActive() const { return dump_active_; }
  // Abandons a dump: reads and drops the rest so the socket is usable again.
  void DumpAbort();

  // Joins multicast groups (RTNLGRP_*, NFNLGRP_*).
  void Join(uint32_t group);
  // Keeps only notifications of these nlmsg_types: a classic BPF socket
  // filter, so the kernel drops the others before they are queued (they
  // cost no wakeup, no copy, no decoding). Empty: keep everything.
  void KeepTypes(const std::vector<uint16_t>& types);
  // Non-blocking read of pending notifications into `out` (index 0).
  // Returns false when nothing was pending.
  bool ReadEvents(Transaction* out);

 private:
  void Send(std::vector<uint8_t>& batch, uint32_t first_seq);
  // Numbers the messages of `batch` in place from `first_seq`; returns
  // where each starts, and the batch's end last.
  static std::vector<size_t> Number(std::vector<uint8_t>& batch, uint32_t first_seq);
  void SendBytes(const uint8_t* data, size_t len);
  // One recvmsg; returns bytes read, 0 on EAGAIN when `block` is false.
  size_t Receive(bool block);
  void EnsureSendBuffer(size_t len);
  // Bytes of receive queue the kernel may charge for the replies to `batch`
  // (ACKs, errors and NLM_F_ECHO echoes).
  static size_t ReplyBudget(const std::vector<uint8_t>& batch);
  // Grows the receive buffer to hold `need` bytes of replies to `messages`
  // messages; returns how many of them it holds (fewer where it cannot
  // grow: a user namespace has no SO_RCVBUFFORCE and is capped at
  // net.core.rmem_max).
  size_t EnsureReceiveBuffer(size_t need, size_t messages);
  // Sets SO_RCVBUF (FORCE where allowed) and records what was granted.
  void SetReceiveBuffer(int bytes);

  int protocol_;
  UniqueFd fd_;
  uint32_t portid_ = 0;
  uint32_t seq_;
  int sndbuf_ = 0;
  int rcvbuf_ = 0;
  int rcvbuf_limit_ = 0;  // > 0 while a Transact runs with a fixed receive buffer
  std::vector<uint8_t> rbuf_;
  bool dump_active_ = false;
  uint32_t dump_seq_ = 0;
};

}  // namespace netplumb
