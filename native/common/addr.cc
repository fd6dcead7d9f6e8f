#include "common/addr.h"

#include <arpa/inet.h>

#include <cstdio>

namespace netplumb {

std::string IpText(const uint8_t* data, size_t len) {
  char buf[INET6_ADDRSTRLEN] = {0};
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
  if (len == 16) {
    ::inet_ntop(AF_INET6, data, buf, sizeof(buf));
    return buf;
  }
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
