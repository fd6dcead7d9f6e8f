#include "netlink/message.h"

#include <endian.h>

namespace netplumb {

void MessageWriter::Append(const void* data, size_t len) {
  size_t at = buf_.size();
  buf_.resize(at + NLMSG_ALIGN(len), 0);
  if (len > 0) std::memcpy(buf_.data() + at, data, len);
}

void MessageWriter::Begin(uint16_t type, uint16_t flags) {
  msg_start_ = buf_.size();
  nlmsghdr h{};
  h.nlmsg_type = type;
  h.nlmsg_flags = flags;
  Append(&h, sizeof(h));
}

void MessageWriter::End() {
  uint32_t len = static_cast<uint32_t>(buf_.size() - msg_start_);
  std::memcpy(buf_.data() + msg_start_, &len, sizeof(len));
  count_++;
}

uint16_t MessageWriter::AttrLen(size_t len) {
  if (len > UINT16_MAX) too_long_ = true;
  return static_cast<uint16_t>(len);
}

void MessageWriter::Attr(uint16_t type, const void* data, size_t len) {
  nlattr a{};
  a.nla_len = AttrLen(NLA_HDRLEN + len);
  a.nla_type = type;
  size_t at = buf_.size();
  buf_.resize(at + NLA_HDRLEN + NLA_ALIGN(len), 0);
  std::memcpy(buf_.data() + at, &a, sizeof(a));
  if (len > 0) std::memcpy(buf_.data() + at + NLA_HDRLEN, data, len);
}

void MessageWriter::AttrBe16(uint16_t type, uint16_t v) {
  uint16_t be = htobe16(v);
  Attr(type, &be, 2);
}

void MessageWriter::AttrBe32(uint16_t type, uint32_t v) {
  uint32_t be = htobe32(v);
  Attr(type, &be, 4);
}

void MessageWriter::AttrBe64(uint16_t type, uint64_t v) {
  uint64_t be = htobe64(v);
  Attr(type, &be, 8);
}

void MessageWriter::AttrString(uint16_t type, std::string_view s) {
  size_t at = buf_.size();
  size_t len = s.size() + 1;
  nlattr a{};
  a.nla_len = AttrLen(NLA_HDRLEN + len);
  a.nla_type = type;
  buf_.resize(at + NLA_HDRLEN + NLA_ALIGN(len), 0);
  std::memcpy(buf_.data() + at, &a, sizeof(a));
  std::memcpy(buf_.data() + at + NLA_HDRLEN, s.data(), s.size());
}

size_t MessageWriter::BeginNested(uint16_t type, bool flag_nested) {
  size_t at = buf_.size();
  Attr(static_cast<uint16_t>(type | (flag_nested ? NLA_F_NESTED : 0)), nullptr, 0);
  return at;
}

void MessageWriter::EndNested(size_t token) {
  uint16_t len = AttrLen(buf_.size() - token);
  std::memcpy(buf_.data() + token, &len, sizeof(len));
}

uint16_t AttrView::U16() const {
  uint16_t v = 0;
  if (len >= 2) std::memcpy(&v, data, 2);
  return v;
}

uint32_t AttrView::U32() const {
  uint32_t v = 0;
  if (len >= 4) std::memcpy(&v, data, 4);
  return v;
}

uint64_t AttrView::U64() const {
  uint64_t v = 0;
  if (len >= 8) std::memcpy(&v, data, 8);
  return v;
}

uint16_t AttrView::Be16() const { return be16toh(U16()); }
uint32_t AttrView::Be32() const { return be32toh(U32()); }
uint64_t AttrView::Be64() const { return be64toh(U64()); }

std::string_view AttrView::String() const {
  size_t n = len;
  while (n > 0 && data[n - 1] == 0) n--;
  // Stop at an embedded NUL too: the kernel pads some names.
  const void* nul = std::memchr(data, 0, n);
  if (nul != nullptr) n = static_cast<const uint8_t*>(nul) - data;
  return std::string_view(reinterpret_cast<const char*>(data), n);
}

bool AttrIterator::Next(AttrView* out) {
  if (end_ - p_ < static_cast<ptrdiff_t>(NLA_HDRLEN)) return false;
  nlattr a;
  std::memcpy(&a, p_, sizeof(a));
  if (a.nla_len < NLA_HDRLEN || a.nla_len > end_ - p_) return false;
  out->type = a.nla_type & NLA_TYPE_MASK;
  out->data = p_ + NLA_HDRLEN;
  out->len = a.nla_len - NLA_HDRLEN;
  size_t step = NLA_ALIGN(a.nla_len);
  p_ = step >= static_cast<size_t>(end_ - p_) ? end_ : p_ + step;
  return true;
}

bool MessageIterator::Next(MessageView* out) {
  if (end_ - p_ < static_cast<ptrdiff_t>(NLMSG_HDRLEN)) return false;
  nlmsghdr h;
  std::memcpy(&h, p_, sizeof(h));
  if (h.nlmsg_len < NLMSG_HDRLEN || h.nlmsg_len > static_cast<size_t>(end_ - p_)) return false;
  out->header = h;
  out->payload = p_ + NLMSG_HDRLEN;
  out->payload_len = h.nlmsg_len - NLMSG_HDRLEN;
  size_t step = NLMSG_ALIGN(h.nlmsg_len);
  p_ = step >= static_cast<size_t>(end_ - p_) ? end_ : p_ + step;
  return true;
}

}  // namespace netplumb
