#include "fslock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <string>

#include "addon.h"
#include "common/errors.h"
#include "common/fd.h"
#include "common/nofollow.h"

namespace netplumb {
namespace {

// Opens (creating) a lock file with no symlink in its name or in any
// directory above it: one planted in the state directory is refused with
// ELOOP. Returns an invalid fd and sets *err on failure.
UniqueFd OpenLockFile(const std::string& path, int* err) {
  std::string name;
  UniqueFd dir = OpenParentNoFollow(path, &name, err);
  if (!dir.Valid()) return UniqueFd();
  UniqueFd fd(::openat(dir.Get(), name.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd.Valid()) *err = errno;
  return fd;
}

class FileLock : public Napi::ObjectWrap<FileLock> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "FileLock", {InstanceMethod<&FileLock::Release>("release")});
  }
  explicit FileLock(const Napi::CallbackInfo& info) : Napi::ObjectWrap<FileLock>(info) {}
  void Adopt(UniqueFd fd) { fd_ = std::move(fd); }

 private:
  Napi::Value Release(const Napi::CallbackInfo& info) {
    fd_.Reset();
    return info.Env().Undefined();
  }
  UniqueFd fd_;
};

// An open lock file whose locks are taken and dropped on the calling thread,
// never waiting: flock and OFD byte-range locks with LOCK_NB / F_OFD_SETLK
// return at once when another holder conflicts, so the event loop can try
// them. Opening the file (which may touch the disk) is done on the pool.
class LockFile : public Napi::ObjectWrap<LockFile> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(
        env, "LockFile",
        {InstanceMethod<&LockFile::TryLock>("tryLock"), InstanceMethod<&LockFile::Unlock>("unlock"),
         InstanceMethod<&LockFile::TryLockRange>("tryLockRange"), InstanceMethod<&LockFile::UnlockRange>("unlockRange"),
         InstanceMethod<&LockFile::Close>("close")});
  }
  explicit LockFile(const Napi::CallbackInfo& info) : Napi::ObjectWrap<LockFile>(info) {}
  void Adopt(UniqueFd fd, std::string path) {
    fd_ = std::move(fd);
    path_ = std::move(path);
  }

 private:
  [[noreturn]] void Throw(Napi::Env env, int err, const char* syscall) {
    throw MakeSystemError(env, SysError(err, syscall, path_));
  }

  // tryLock(exclusive): true when held (LOCK_SH / LOCK_EX, converting one
  // this file already holds), false when another open file holds a
  // conflicting one.
  Napi::Value TryLock(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const int op = info[0].ToBoolean().Value() ? LOCK_EX : LOCK_SH;
    if (::flock(fd_.Get(), op | LOCK_NB) == 0) return Napi::Boolean::New(env, true);
    if (errno == EWOULDBLOCK) return Napi::Boolean::New(env, false);
    Throw(env, errno, "flock");
  }

  Napi::Value Unlock(const Napi::CallbackInfo& info) {
    if (::flock(fd_.Get(), LOCK_UN) != 0) Throw(info.Env(), errno, "flock");
    return info.Env().Undefined();
  }

  static off_t OffsetOf(const Napi::CallbackInfo& info) {
    const double v = info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : -1;
    if (!(v >= 0 && v <= 9007199254740991.0) || std::floor(v) != v)
      ThrowTypeError(info.Env(), "offset must be an integer from 0 to 2^53-1");
    return static_cast<off_t>(v);
  }

  // One byte at `offset`, locked for this open file (F_OFD_SETLK): another
  // open file of the same lock file conflicts, in this process or another.
  bool SetRange(off_t offset, short type) {
    struct flock fl = {};
    fl.l_type = type;
    fl.l_whence = SEEK_SET;
    fl.l_start = offset;
    fl.l_len = 1;
    return ::fcntl(fd_.Get(), F_OFD_SETLK, &fl) == 0;
  }

  // tryLockRange(offset, exclusive): true when held, false when another
  // open file holds a conflicting lock on that byte.
  Napi::Value TryLockRange(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const off_t offset = OffsetOf(info);
    if (SetRange(offset, info[1].ToBoolean().Value() ? F_WRLCK : F_RDLCK)) return Napi::Boolean::New(env, true);
    if (errno == EAGAIN || errno == EACCES) return Napi::Boolean::New(env, false);
    Throw(env, errno, "fcntl");
  }

  Napi::Value UnlockRange(const Napi::CallbackInfo& info) {
    const off_t offset = OffsetOf(info);
    if (!SetRange(offset, F_UNLCK)) Throw(info.Env(), errno, "fcntl");
    return info.Env().Undefined();
  }

  // Closes the file: the kernel drops every lock it held. Idempotent.
  Napi::Value Close(const Napi::CallbackInfo& info) {
    fd_.Reset();
    return info.Env().Undefined();
  }

  UniqueFd fd_;
  std::string path_;
};

class TryLockWorker : public Napi::AsyncWorker {
 public:
  TryLockWorker(Napi::Env env, std::string path, bool exclusive)
      : Napi::AsyncWorker(env),
        deferred_(Napi::Promise::Deferred::New(env)),
        path_(std::move(path)),
        exclusive_(exclusive) {}
  Napi::Promise Promise() { return deferred_.Promise(); }

 protected:
  void Execute() override {
    int err = 0;
    fd_ = OpenLockFile(path_, &err);
    if (!fd_.Valid()) {
      error_ = SysError(err, "open", path_);
      SetError("open");
      return;
    }
    if (::flock(fd_.Get(), (exclusive_ ? LOCK_EX : LOCK_SH) | LOCK_NB) != 0) {
      if (errno == EWOULDBLOCK) {
        fd_.Reset();  // busy: resolve with null
        return;
      }
      error_ = SysError(errno, "flock", path_);
      SetError("flock");
    }
  }
  void OnOK() override {
    if (!fd_.Valid()) {
      deferred_.Resolve(Env().Null());
      return;
    }
    Napi::Object obj = AddonData::Get(Env())->file_lock.New({});
    FileLock::Unwrap(obj)->Adopt(std::move(fd_));
    deferred_.Resolve(obj);
  }
  void OnError(const Napi::Error&) override { deferred_.Reject(MakeSystemError(Env(), error_).Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  std::string path_;
  bool exclusive_;
  UniqueFd fd_;
  SysError error_{0, ""};
};

class OpenLockFileWorker : public Napi::AsyncWorker {
 public:
  OpenLockFileWorker(Napi::Env env, std::string path)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), path_(std::move(path)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }

 protected:
  void Execute() override {
    int err = 0;
    fd_ = OpenLockFile(path_, &err);
    if (!fd_.Valid()) {
      error_ = SysError(err, "open", path_);
      SetError("open");
    }
  }
  void OnOK() override {
    Napi::Object obj = AddonData::Get(Env())->lock_file.New({});
    LockFile::Unwrap(obj)->Adopt(std::move(fd_), std::move(path_));
    deferred_.Resolve(obj);
  }
  void OnError(const Napi::Error&) override { deferred_.Reject(MakeSystemError(Env(), error_).Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  std::string path_;
  UniqueFd fd_;
  SysError error_{0, ""};
};

Napi::Value TryLock(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) ThrowTypeError(env, "path must be a string");
  auto* w = new TryLockWorker(env, info[0].As<Napi::String>().Utf8Value(), info[1].ToBoolean().Value());
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

Napi::Value OpenLock(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) ThrowTypeError(env, "path must be a string");
  auto* w = new OpenLockFileWorker(env, info[0].As<Napi::String>().Utf8Value());
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

}  // namespace

void InitFsLock(Napi::Env env, Napi::Object exports) {
  Napi::Function cls = FileLock::Init(env);
  AddonData::Get(env)->file_lock = Napi::Persistent(cls);
  exports.Set("FileLock", cls);
  Napi::Function lock_file = LockFile::Init(env);
  AddonData::Get(env)->lock_file = Napi::Persistent(lock_file);
  exports.Set("LockFile", lock_file);
  exports.Set("tryLock", Napi::Function::New(env, TryLock, "tryLock"));
  exports.Set("openLockFile", Napi::Function::New(env, OpenLock, "openLockFile"));
}

}  // namespace netplumb
