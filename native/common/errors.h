// Errors that cross threads as plain data and become JS errors shaped like
// Node's SystemError (code, errno, syscall) plus the kernel's extended ACK.
#pragma once

#include <napi.h>

#include <cstdint>
#include <stdexcept>
#include <string>

namespace netplumb {

// Thrown on worker threads; carries everything needed to build the JS error
// later on the main thread.
struct SysError : std::exception {
  SysError(int err, std::string syscall, std::string detail = {})
      : err(err), syscall(std::move(syscall)), detail(std::move(detail)) {}
  const char* what() const noexcept override { return syscall.c_str(); }

  int err;              // positive errno
  std::string syscall;  // "sendmsg", "setns", ...
  std::string detail;   // path or extra context, may be empty
};

// Captures errno at the call site.
[[noreturn]] void ThrowErrno(const char* syscall, std::string detail = {});

// "ENODEV" for 19, "E123" if unknown.
const char* ErrnoName(int err);

// A JS Error with code/errno/syscall (and path when detail is set).
Napi::Error MakeSystemError(Napi::Env env, const SysError& e);

// Bad arguments from JS: TypeError naming the field.
[[noreturn]] void ThrowTypeError(Napi::Env env, const std::string& message);

}  // namespace netplumb
