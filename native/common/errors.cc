#include "common/errors.h"

#include <cerrno>
#include <cstring>

namespace netplumb {

void ThrowErrno(const char* syscall, std::string detail) { throw SysError(errno, syscall, std::move(detail)); }

const char* ErrnoName(int err) {
  // strerrorname_np is glibc >= 2.32; Debian 12 has 2.36.
  const char* name = ::strerrorname_np(err);
  return name != nullptr ? name : "EUNKNOWN";
}

Napi::Error MakeSystemError(Napi::Env env, const SysError& e) {
  std::string message = e.syscall + " failed: " + ::strerror(e.err);
  if (!e.detail.empty()) message += " (" + e.detail + ")";
  Napi::Error error = Napi::Error::New(env, message);
  Napi::Object obj = error.Value();
  obj.Set("code", ErrnoName(e.err));
  obj.Set("errno", Napi::Number::New(env, e.err));
  obj.Set("syscall", e.syscall);
  if (!e.detail.empty()) obj.Set("path", e.detail);
  return error;
}

void ThrowTypeError(Napi::Env env, const std::string& message) { throw Napi::TypeError::New(env, message); }

}  // namespace netplumb
