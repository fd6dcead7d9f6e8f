#include "common/addr.h"

#include <cstdio>

namespace netplumb {

namespace {

// RFC 5952 text, hex groups only: the longest run of two or more zero groups
// (the first of equal ones) becomes "::". lib/util/ip.ts formatIp writes the
// same, so an address reads back as the text it was given. (inet_ntop would
// write ::/96 and ::ffff:0:0/96 addresses with a dotted quad, ::0.1.0.0.)
std::string Ip6Text(const uint8_t* d) {
  uint16_t g[8];
  for (int i = 0; i < 8; i++) g[i] = static_cast<uint16_t>(d[2 * i] << 8 | d[2 * i + 1]);
  int best = -1, best_len = 1;
  for (int i = 0; i < 8;) {
    if (g[i] != 0) {
      i++;
      continue;
    }
    int j = i;
    while (j < 8 && g[j] == 0) j++;
    if (j - i > best_len) {
      best = i;
      best_len = j - i;
    }
    i = j;
  }
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(39);
  for (int i = 0; i < 8; i++) {
    if (i == best) {
      out += "::";
      i += best_len - 1;
      continue;
    }
    if (!out.empty() && out.back() != ':') out.push_back(':');
    // No leading zeros (and no sprintf: see the IPv4 case).
    bool started = false;
    for (int shift = 12; shift >= 0; shift -= 4) {
      unsigned nibble = (g[i] >> shift) & 0xf;
      if (nibble != 0 || started || shift == 0) {
        out.push_back(kHex[nibble]);
        started = true;
      }
    }
  }
  return out;
}

}  // namespace

std::string IpText(const uint8_t* data, size_t len) {
  if (len == 4) {
    // By hand: glibc's inet_ntop formats IPv4 with sprintf, which showed in
    // profiles of large route dumps.
    std::string out;
    out.reserve(15);
    for (size_t i = 0; i < 4; i++) {
      if (i > 0) out.push_back('.');
      unsigned v = data[i];
      if (v >= 100) out.push_back(static_cast<char>('0' + v / 100));
      if (v >= 10) out.push_back(static_cast<char>('0' + v / 10 % 10));
      out.push_back(static_cast<char>('0' + v % 10));
    }
    return out;
  }
  if (len == 16) return Ip6Text(data);
  return MacText(data, len);
}

std::string MacText(const uint8_t* data, size_t len) {
  std::string out;
  out.reserve(len * 3);
  char part[4];
  for (size_t i = 0; i < len; i++) {
    std::snprintf(part, sizeof(part), i == 0 ? "%02x" : ":%02x", data[i]);
    out += part;
  }
  return out;
}

}  // namespace netplumb
