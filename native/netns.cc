#include "netns.h"

#include <fcntl.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <mutex>
#include <set>
#include <thread>

#include "addon.h"
#include "common/errors.h"

namespace netplumb {

Napi::Function NsFd::Init(Napi::Env env) {
  return DefineClass(env, "NsFd",
                     {
                         InstanceAccessor<&NsFd::GetFd>("fd"),
                         InstanceMethod<&NsFd::Close>("close"),
                         InstanceMethod<&NsFd::Identity>("identity"),
                     });
}

Napi::Object NsFd::New(Napi::Env env, UniqueFd fd) {
  Napi::Object obj = AddonData::Get(env)->ns_fd.New({});
  Unwrap(obj)->fd_ = std::move(fd);
  return obj;
}

NsFd* NsFd::Unwrap(Napi::Value v) {
  if (!v.IsObject()) return nullptr;
  Napi::Object o = v.As<Napi::Object>();
  if (!o.InstanceOf(AddonData::Get(v.Env())->ns_fd.Value())) return nullptr;
  return Napi::ObjectWrap<NsFd>::Unwrap(o);
}

NsFd::NsFd(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NsFd>(info) {}

Napi::Value NsFd::GetFd(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), fd_.Get()); }

Napi::Value NsFd::Close(const Napi::CallbackInfo& info) {
  fd_.Reset();
  return info.Env().Undefined();
}

// [dev, ino] of the namespace: equal pairs mean the same namespace.
Napi::Value NsFd::Identity(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  struct stat st {};
  if (!fd_.Valid() || ::fstat(fd_.Get(), &st) != 0) {
    throw MakeSystemError(env, SysError(fd_.Valid() ? errno : EBADF, "fstat"));
  }
  Napi::Array out = Napi::Array::New(env, 2);
  out.Set(0u, Napi::Number::New(env, static_cast<double>(st.st_dev)));
  out.Set(1u, Napi::Number::New(env, static_cast<double>(st.st_ino)));
  return out;
}

void EnsureNetnsDir(const std::string& dir) {
  static std::mutex mu;
  static std::set<std::string> done;
  std::lock_guard<std::mutex> lock(mu);
  if (done.count(dir) != 0) return;
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) ThrowErrno("mkdir", dir);
  // Make it a shared mount point; if it is no mount point yet, bind it onto
  // itself first (the kernel answers EINVAL), exactly like `ip netns add`.
  if (::mount("", dir.c_str(), "none", MS_SHARED | MS_REC, nullptr) != 0) {
    if (errno != EINVAL) ThrowErrno("mount", dir);
    if (::mount(dir.c_str(), dir.c_str(), "none", MS_BIND | MS_REC, nullptr) != 0) {
      ThrowErrno("mount", dir);
    }
    if (::mount("", dir.c_str(), "none", MS_SHARED | MS_REC, nullptr) != 0) {
      ThrowErrno("mount", dir);
    }
  }
  done.insert(dir);
}

void CreateNetnsHere(const std::string& path, int made) {
  std::string dir = path.substr(0, path.rfind('/'));
  EnsureNetnsDir(dir.empty() ? "/" : dir);
  UniqueFd file(::open(path.c_str(), O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0));
  if (!file.Valid()) ThrowErrno("open", path);
  file.Reset();
  if ((made >= 0 ? ::setns(made, CLONE_NEWNET) : ::unshare(CLONE_NEWNET)) != 0) {
    int err = errno;
    ::unlink(path.c_str());
    throw SysError(err, made >= 0 ? "setns" : "unshare");
  }
  if (::mount("/proc/thread-self/ns/net", path.c_str(), "none", MS_BIND, nullptr) != 0) {
    int err = errno;
    ::unlink(path.c_str());
    throw SysError(err, "mount", path);
  }
}

UniqueFd OpenPrivateProc() {
#if defined(SYS_fsopen) && defined(SYS_fsconfig) && defined(SYS_fsmount)
  // Through syscall(): the glibc wrappers are new (2.36), prebuilds run on older.
  UniqueFd fs(static_cast<int>(::syscall(SYS_fsopen, "proc", FSOPEN_CLOEXEC)));
  if (!fs.Valid()) return UniqueFd();
  if (::syscall(SYS_fsconfig, fs.Get(), FSCONFIG_CMD_CREATE, nullptr, nullptr, 0) != 0) return UniqueFd();
  return UniqueFd(static_cast<int>(
      ::syscall(SYS_fsmount, fs.Get(), FSMOUNT_CLOEXEC, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC)));
#else
  errno = ENOSYS;
  return UniqueFd();
#endif
}

namespace {

// Runs `fn` on the libuv pool and resolves with Result(); SysError rejects.
class FsWorker : public Napi::AsyncWorker {
 public:
  FsWorker(Napi::Env env, std::string path)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), path_(std::move(path)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }

 protected:
  virtual void Work() = 0;
  virtual Napi::Value Result() { return Env().Undefined(); }

  void Execute() override {
    try {
      Work();
    } catch (const SysError& e) {
      error_ = e;
      SetError(e.syscall);
    }
  }
  void OnOK() override { deferred_.Resolve(Result()); }
  void OnError(const Napi::Error&) override { deferred_.Reject(MakeSystemError(Env(), error_).Value()); }

  Napi::Promise::Deferred deferred_;
  std::string path_;
  SysError error_{0, ""};
  UniqueFd fd_;
};

// ip netns add: a thread made for the purpose unshares, mounts, and dies in
// the new namespace; the pool thread only waits for it.
class CreateWorker : public FsWorker {
 public:
  using FsWorker::FsWorker;

 protected:
  void Work() override {
    std::exception_ptr failure;
    std::thread t([&] {
      try {
        CreateNetnsHere(path_);
        fd_.Reset(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
        if (!fd_.Valid()) ThrowErrno("open", "/proc/thread-self/ns/net");
      } catch (...) {
        failure = std::current_exception();
      }
    });
    t.join();
    if (failure) std::rethrow_exception(failure);
  }
  Napi::Value Result() override { return NsFd::New(Env(), std::move(fd_)); }
};

class OpenWorker : public FsWorker {
 public:
  using FsWorker::FsWorker;

 protected:
  void Work() override {
    fd_.Reset(::open(path_.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd_.Valid()) ThrowErrno("open", path_);
    // Refuse anything that is not a network namespace (asked of nsfs, so
    // this thread never enters anything).
    if (::ioctl(fd_.Get(), NS_GET_NSTYPE) != CLONE_NEWNET) {
      throw SysError(EINVAL, "open", path_ + " is not a network namespace");
    }
  }
  Napi::Value Result() override { return NsFd::New(Env(), std::move(fd_)); }
};

// ip netns delete: a lazy unmount returns at once; the kernel destroys the
// namespace (and its links, in batches) once its last reference is gone.
class DeleteWorker : public FsWorker {
 public:
  using FsWorker::FsWorker;

 protected:
  void Work() override {
    if (::umount2(path_.c_str(), MNT_DETACH) != 0 && errno != EINVAL && errno != ENOENT) {
      ThrowErrno("umount2", path_);
    }
    if (::unlink(path_.c_str()) != 0) ThrowErrno("unlink", path_);
  }
};

// ip netns attach NAME PID: another name for an existing namespace.
class AttachWorker : public FsWorker {
 public:
  AttachWorker(Napi::Env env, std::string target, std::string path)
      : FsWorker(env, std::move(path)), target_(std::move(target)) {}

 protected:
  void Work() override {
    std::string dir = path_.substr(0, path_.rfind('/'));
    EnsureNetnsDir(dir.empty() ? "/" : dir);
    UniqueFd probe(::open(target_.c_str(), O_RDONLY | O_CLOEXEC));
    if (!probe.Valid()) ThrowErrno("open", target_);
    if (::ioctl(probe.Get(), NS_GET_NSTYPE) != CLONE_NEWNET) {
      throw SysError(EINVAL, "open", target_ + " is not a network namespace");
    }
    UniqueFd file(::open(path_.c_str(), O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0));
    if (!file.Valid()) ThrowErrno("open", path_);
    file.Reset();
    if (::mount(target_.c_str(), path_.c_str(), "none", MS_BIND, nullptr) != 0) {
      int err = errno;
      ::unlink(path_.c_str());
      throw SysError(err, "mount", path_);
    }
    fd_ = std::move(probe);
  }
  Napi::Value Result() override { return NsFd::New(Env(), std::move(fd_)); }

 private:
  std::string target_;
};

Napi::Value Attach(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString() || !info[1].IsString()) ThrowTypeError(env, "target and path must be strings");
  auto* w = new AttachWorker(env, info[0].As<Napi::String>().Utf8Value(), info[1].As<Napi::String>().Utf8Value());
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

template <typename W>
Napi::Value Start(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) ThrowTypeError(env, "path must be a string");
  auto* w = new W(env, info[0].As<Napi::String>().Utf8Value());
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

}  // namespace

void InitNetns(Napi::Env env, Napi::Object exports) {
  exports.Set("netnsCreate", Napi::Function::New(env, Start<CreateWorker>, "netnsCreate"));
  exports.Set("netnsOpen", Napi::Function::New(env, Start<OpenWorker>, "netnsOpen"));
  exports.Set("netnsDelete", Napi::Function::New(env, Start<DeleteWorker>, "netnsDelete"));
  exports.Set("netnsAttach", Napi::Function::New(env, Attach, "netnsAttach"));
}

}  // namespace netplumb
