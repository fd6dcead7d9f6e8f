// Reading the kernel's answers to a batch of requests: ACKs, errors with
// their extended ACK, NLMSG_DONE and data messages, matched to requests by
// sequence number. Pure functions of the received bytes (no socket, no
// N-API), so the fuzz targets can drive them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace netplumb {

// How one request message ended.
struct Completion {
  bool done = false;           // an ACK, an error or NLMSG_DONE arrived
  int error = 0;               // positive errno; 0 = success
  std::string extack;          // NLMSGERR_ATTR_MSG
  uint32_t extack_offset = 0;  // NLMSGERR_ATTR_OFFS: byte offset into the request
  uint32_t missing_type = 0;   // NLMSGERR_ATTR_MISS_TYPE
};

// A data message received for request `index`, at data[offset, offset+len).
struct Received {
  uint32_t index;
  uint32_t offset;
  uint32_t len;
};

// Everything a transaction brought back.
struct Transaction {
  std::vector<Completion> completions;  // one per request message
  std::vector<uint8_t> data;            // data messages, back to back
  std::vector<Received> received;
  bool interrupted = false;  // some dump part had NLM_F_DUMP_INTR
  bool overrun = false;      // the receive queue overran (ENOBUFS): replies were lost
};

// Files the messages of one received buffer under requests base ..
// base+count-1 (count = out->completions.size()); messages for other
// sequence numbers or another port id are dropped. multi[i] is set when
// request i gets multi-part replies (a dump in progress).
void CollectReplies(const uint8_t* buf, size_t len, uint32_t base, uint32_t portid, Transaction* out,
                    std::vector<bool>* multi);

// The same for one streaming dump with sequence number `seq` (completion 0);
// returns true once the dump has ended (NLMSG_DONE or an error).
bool CollectDump(const uint8_t* buf, size_t len, uint32_t seq, uint32_t portid, Transaction* out);

// Notifications (multicast events): every data message, as request 0.
void CollectEvents(const uint8_t* buf, size_t len, Transaction* out);

}  // namespace netplumb
