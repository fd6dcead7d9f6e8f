#include "netlink/replies.h"

#include <linux/netlink.h>
#include <linux/version.h>

#include <cerrno>
#include <cstring>

#include "netlink/message.h"

namespace netplumb {
namespace {

// Reads the extended ACK TLVs that follow an nlmsgerr / NLMSG_DONE payload.
void ParseExtack(const uint8_t* data, size_t len, Completion* c) {
  AttrIterator it(data, len);
  AttrView a;
  while (it.Next(&a)) {
    switch (a.type) {
      case NLMSGERR_ATTR_MSG:
        c->extack.assign(a.String());
        break;
      case NLMSGERR_ATTR_OFFS:
        c->extack_offset = a.U32();
        break;
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 0, 0)
      // An enumerator, not a macro: #ifdef never saw it (uapi since 6.0).
      case NLMSGERR_ATTR_MISS_TYPE:
        c->missing_type = a.U32();
        break;
#endif
      default:
        break;
    }
  }
}

// The errno of a negative code; a code the kernel never sends (positive, or
// past the errno range, INT_MIN included) is a protocol error.
int ErrnoOf(int32_t code) {
  if (code == 0) return 0;
  return code < 0 && code >= -4095 ? -code : EPROTO;
}

void ParseError(const MessageView& m, Completion* c) {
  nlmsgerr err;
  if (!m.Fixed(&err)) {
    c->error = EPROTO;
    return;
  }
  c->error = ErrnoOf(err.error);
  if ((m.header.nlmsg_flags & NLM_F_ACK_TLVS) == 0) return;
  // The TLVs follow the echoed request: its header alone when capped.
  size_t skip = sizeof(nlmsgerr);
  if ((m.header.nlmsg_flags & NLM_F_CAPPED) == 0 && err.msg.nlmsg_len > NLMSG_HDRLEN) {
    skip += err.msg.nlmsg_len - NLMSG_HDRLEN;
  }
  skip = (skip + NLMSG_ALIGNTO - 1) & ~static_cast<size_t>(NLMSG_ALIGNTO - 1);
  if (skip < m.payload_len) ParseExtack(m.payload + skip, m.payload_len - skip, c);
}

void ParseDone(const MessageView& m, Completion* c) {
  int32_t code = 0;
  if (m.payload_len >= sizeof(code)) std::memcpy(&code, m.payload, sizeof(code));
  c->error = code < 0 ? ErrnoOf(code) : 0;
  if ((m.header.nlmsg_flags & NLM_F_ACK_TLVS) != 0 && m.payload_len > sizeof(code)) {
    ParseExtack(m.payload + sizeof(code), m.payload_len - sizeof(code), c);
  }
}

void AppendData(const MessageView& m, uint32_t index, Transaction* out) {
  const uint8_t* start = m.payload - NLMSG_HDRLEN;
  uint32_t at = static_cast<uint32_t>(out->data.size());
  out->data.insert(out->data.end(), start, start + m.header.nlmsg_len);
  out->data.resize(NLMSG_ALIGN(out->data.size()), 0);
  out->received.push_back(Received{index, at, m.header.nlmsg_len});
  if ((m.header.nlmsg_flags & NLM_F_DUMP_INTR) != 0) out->interrupted = true;
}

}  // namespace

void CollectReplies(const uint8_t* buf, size_t len, uint32_t base, uint32_t portid, Transaction* out,
                    std::vector<bool>* multi) {
  const uint32_t count = static_cast<uint32_t>(out->completions.size());
  MessageIterator it(buf, len);
  MessageView m;
  while (it.Next(&m)) {
    uint32_t idx = m.header.nlmsg_seq - base;
    if (idx >= count || m.header.nlmsg_pid != portid) continue;  // stale or foreign
    Completion& c = out->completions[idx];
    switch (m.header.nlmsg_type) {
      case NLMSG_ERROR:
        ParseError(m, &c);
        c.done = true;
        break;
      case NLMSG_DONE:
        ParseDone(m, &c);
        c.done = true;
        // The kernel checks a dump's consistency once more when it ends:
        // a change after the last data message is flagged on DONE alone.
        if ((m.header.nlmsg_flags & NLM_F_DUMP_INTR) != 0) out->interrupted = true;
        break;
      case NLMSG_NOOP:
      case NLMSG_OVERRUN:
        break;
      default:
        if ((m.header.nlmsg_flags & NLM_F_MULTI) != 0) (*multi)[idx] = true;
        AppendData(m, idx, out);
    }
  }
}

bool CollectDump(const uint8_t* buf, size_t len, uint32_t seq, uint32_t portid, Transaction* out) {
  bool ended = false;
  MessageIterator it(buf, len);
  MessageView m;
  while (it.Next(&m)) {
    if (m.header.nlmsg_seq != seq || m.header.nlmsg_pid != portid) continue;
    Completion& c = out->completions[0];
    if (m.header.nlmsg_type == NLMSG_ERROR) {
      ParseError(m, &c);
      c.done = true;
      ended = true;
    } else if (m.header.nlmsg_type == NLMSG_DONE) {
      ParseDone(m, &c);
      c.done = true;
      ended = true;
      if ((m.header.nlmsg_flags & NLM_F_DUMP_INTR) != 0) out->interrupted = true;
    } else if (m.header.nlmsg_type >= NLMSG_MIN_TYPE) {
      AppendData(m, 0, out);
    }
  }
  return ended;
}

void CollectEvents(const uint8_t* buf, size_t len, Transaction* out) {
  MessageIterator it(buf, len);
  MessageView m;
  while (it.Next(&m)) {
    if (m.header.nlmsg_type >= NLMSG_MIN_TYPE) AppendData(m, 0, out);
  }
}

}  // namespace netplumb
