// IP and MAC addresses as text, for decoded objects.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace netplumb {

// "10.0.0.1" / "fd00::1" for 4 / 16 bytes; hex otherwise.
std::string IpText(const uint8_t* data, size_t len);
// "02:42:ac:11:00:02"
std::string MacText(const uint8_t* data, size_t len);

}  // namespace netplumb
