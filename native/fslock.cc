#include "fslock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "addon.h"
#include "common/errors.h"
#include "common/fd.h"
#include "common/nofollow.h"

namespace netplumb {
namespace {

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
    // No symlink is followed, in the lock's name or in any directory above
    // it: one planted in the state directory is refused with ELOOP.
    std::string name;
    int err = 0;
    UniqueFd dir = OpenParentNoFollow(path_, &name, &err);
    if (dir.Valid()) {
      fd_.Reset(::openat(dir.Get(), name.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
      if (!fd_.Valid()) err = errno;
    }
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

Napi::Value TryLock(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) ThrowTypeError(env, "path must be a string");
  auto* w = new TryLockWorker(env, info[0].As<Napi::String>().Utf8Value(), info[1].ToBoolean().Value());
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

}  // namespace

void InitFsLock(Napi::Env env, Napi::Object exports) {
  Napi::Function cls = FileLock::Init(env);
  AddonData::Get(env)->file_lock = Napi::Persistent(cls);
  exports.Set("FileLock", cls);
  exports.Set("tryLock", Napi::Function::New(env, TryLock, "tryLock"));
}

}  // namespace netplumb
