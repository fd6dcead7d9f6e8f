// Netlink wire format: a writer that appends messages and attributes to one
// buffer (so several requests can be sent in one sendmsg), and bounds-checked
// readers for replies. Layouts come from <linux/netlink.h>.
#pragma once

#include <linux/netlink.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

namespace netplumb {

class MessageWriter {
 public:
  // Starts a message; seq and portid are filled in by the socket at send time.
  void Begin(uint16_t type, uint16_t flags);
  // Appends a fixed header (ifinfomsg, nfgenmsg, ...) padded to NLMSG_ALIGNTO.
  template <typename T>
  void Header(const T& header) {
    Append(&header, sizeof(T));
  }
  void Attr(uint16_t type, const void* data, size_t len);
  void AttrU8(uint16_t type, uint8_t v) { Attr(type, &v, 1); }
  void AttrU16(uint16_t type, uint16_t v) { Attr(type, &v, 2); }
  void AttrU32(uint16_t type, uint32_t v) { Attr(type, &v, 4); }
  void AttrU64(uint16_t type, uint64_t v) { Attr(type, &v, 8); }
  void AttrBe16(uint16_t type, uint16_t v);
  void AttrBe32(uint16_t type, uint32_t v);
  void AttrBe64(uint16_t type, uint64_t v);
  void AttrFlag(uint16_t type) { Attr(type, nullptr, 0); }
  // NUL-terminated string, as the kernel's NLA_NUL_STRING / NLA_STRING expect.
  void AttrString(uint16_t type, std::string_view s);
  // Returns a token for EndNested; NLA_F_NESTED is set when `flag_nested`.
  size_t BeginNested(uint16_t type, bool flag_nested = false);
  void EndNested(size_t token);
  // Finishes the current message (patches nlmsg_len).
  void End();

  std::vector<uint8_t>& Bytes() { return buf_; }
  size_t MessageCount() const { return count_; }
  // Whether an attribute outgrew nla_len's 16 bits: the bytes are then not
  // to be sent (its length would wrap and its tail read as attributes).
  bool TooLong() const { return too_long_; }
  // Appends what `other` wrote (whole attributes), and whether it was too long.
  void Splice(const MessageWriter& other) {
    buf_.insert(buf_.end(), other.buf_.begin(), other.buf_.end());
    too_long_ = too_long_ || other.too_long_;
  }

 private:
  void Append(const void* data, size_t len);
  uint16_t AttrLen(size_t len);

  std::vector<uint8_t> buf_;
  size_t msg_start_ = 0;
  size_t count_ = 0;
  bool too_long_ = false;
};

// A view of one attribute.
struct AttrView {
  uint16_t type;  // without NLA_F_NESTED / NLA_F_NET_BYTEORDER
  const uint8_t* data;
  size_t len;

  uint8_t U8() const { return len >= 1 ? data[0] : 0; }
  uint16_t U16() const;
  uint32_t U32() const;
  uint64_t U64() const;
  uint16_t Be16() const;
  uint32_t Be32() const;
  uint64_t Be64() const;
  // Strips the trailing NUL(s) the kernel includes.
  std::string_view String() const;
};

// Iterates the attributes of a byte range; stops at the first malformed one.
class AttrIterator {
 public:
  AttrIterator(const uint8_t* data, size_t len) : p_(data), end_(data + len) {}
  explicit AttrIterator(const AttrView& nested) : AttrIterator(nested.data, nested.len) {}
  bool Next(AttrView* out);

 private:
  const uint8_t* p_;
  const uint8_t* end_;
};

// A view of one netlink message inside a receive buffer.
struct MessageView {
  nlmsghdr header;         // copied: the buffer may be unaligned (fuzzers)
  const uint8_t* payload;  // after the nlmsghdr
  size_t payload_len;

  // Copies the fixed family header; false if the payload is too short.
  template <typename T>
  bool Fixed(T* out) const {
    if (payload_len < sizeof(T)) return false;
    std::memcpy(out, payload, sizeof(T));
    return true;
  }
  // Attributes after a fixed header of `fixed_len` bytes.
  AttrIterator Attrs(size_t fixed_len) const {
    size_t skip = NLMSG_ALIGN(fixed_len);
    if (skip > payload_len) skip = payload_len;
    return AttrIterator(payload + skip, payload_len - skip);
  }
};

// Iterates the messages of a receive buffer; stops at the first malformed one.
class MessageIterator {
 public:
  MessageIterator(const uint8_t* data, size_t len) : p_(data), end_(data + len) {}
  bool Next(MessageView* out);

 private:
  const uint8_t* p_;
  const uint8_t* end_;
};

}  // namespace netplumb
