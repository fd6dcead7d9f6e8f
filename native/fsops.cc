#include "fsops.h"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <string>
#include <vector>

#include "common/errors.h"
#include "common/fd.h"
#include "common/nofollow.h"

namespace netplumb {
namespace {

using Op = FsOpKind;

std::atomic<uint64_t> g_tmp{0};
std::atomic<pid_t> g_pid{0};  // getpid(), asked once; forgotten in a forked child

pid_t Pid() {
  static const bool hooked = ::pthread_atfork(nullptr, nullptr, [] { g_pid = 0; }) == 0;
  (void)hooked;
  pid_t p = g_pid.load(std::memory_order_relaxed);
  if (p == 0) {
    p = ::getpid();
    g_pid.store(p, std::memory_order_relaxed);
  }
  return p;
}

bool WriteAll(int fd, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    off += static_cast<size_t>(n);
  }
  return true;
}

// Gives a file just made `mode` when the umask narrowed it (world-readable
// /etc files): fstat first, as a chmod is an inode change that every
// inotify watch on the directory hears (the DNS view's, for records).
bool KeepMode(int fd, mode_t mode) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return false;
  return (st.st_mode & 07777) == mode || ::fchmod(fd, mode) == 0;
}

// Writes a new file under a temporary name in directory `dir`.
bool WriteTemp(int dir, const std::string& data, mode_t mode, std::string* tmp, int* err) {
  *tmp = ".tmp." + std::to_string(Pid()) + "." + std::to_string(++g_tmp);
  UniqueFd fd(::openat(dir, tmp->c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode));
  if (!fd.Valid()) {
    *err = errno;
    return false;
  }
  if (!KeepMode(fd.Get(), mode) || !WriteAll(fd.Get(), data)) {
    *err = errno;
    ::unlinkat(dir, tmp->c_str(), 0);
    return false;
  }
  return true;
}

// Exclusive create that is also atomic: the content is written to a file
// without a name (O_TMPFILE) that linkat(2) then names `name`, which fails if
// `name` exists (a symlink included: it is never followed). Nothing
// half-written is ever visible, and a process killed midway leaves nothing.
// Where O_TMPFILE is missing (old kernels, some file systems) the file is
// written under a temporary name and linked: a crash may leave a .tmp.*
// file, swept by prune. Returns false with err 0 when the file exists.
bool CreateExclusive(int dir, const std::string& name, const std::string& data, int* err, mode_t mode = 0600) {
  UniqueFd unnamed(::openat(dir, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, mode));
  if (unnamed.Valid()) {
    if (!KeepMode(unnamed.Get(), mode) || !WriteAll(unnamed.Get(), data)) {
      *err = errno;
      return false;
    }
    if (::linkat(unnamed.Get(), "", dir, name.c_str(), AT_EMPTY_PATH) == 0) return true;
    // AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH; /proc/self/fd does not.
    if (errno == EPERM || errno == ENOENT) {
      std::string self = "/proc/self/fd/" + std::to_string(unnamed.Get());
      if (::linkat(AT_FDCWD, self.c_str(), dir, name.c_str(), AT_SYMLINK_FOLLOW) == 0) return true;
    }
    if (errno != EEXIST) *err = errno;
    return false;
  }
  if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL) {
    *err = errno;
    return false;
  }
  std::string tmp;
  if (!WriteTemp(dir, data, mode, &tmp, err)) return false;
  bool made = ::linkat(dir, tmp.c_str(), dir, name.c_str(), 0) == 0;
  if (!made && errno != EEXIST) *err = errno;
  ::unlinkat(dir, tmp.c_str(), 0);
  return made;
}

// Reads a directory's names (not "." and "..") from an open fd it takes.
bool ReadNames(UniqueFd fd, std::vector<std::string>* out, int* err) {
  DIR* d = ::fdopendir(fd.Get());
  if (d == nullptr) {
    *err = errno;
    return false;
  }
  fd.Release();  // the DIR owns it now
  while (dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") out->push_back(std::move(n));
  }
  ::closedir(d);
  return true;
}

// The directory `path` itself, no symlink anywhere in it. ENOENT is not an
// error for the ops that use this (a missing directory is an empty one).
UniqueFd OpenDir(const FsOp& o, int* err) {
  UniqueFd d = OpenDirNoFollow(o.path, err);
  if (*err == ENOENT) *err = 0;
  return d;
}

}  // namespace

void RunFsOp(FsOp& o) {
  // Every op works inside the directory holding its path, opened with no
  // symlink in any component; the last component is never followed either.
  std::string name;
  int perr = 0;
  UniqueFd dir;
  bool on_dir = o.op == Op::kReserveFirst || o.op == Op::kReadDir || o.op == Op::kOnlyEntry;
  if (!on_dir) {
    dir = OpenParentNoFollow(o.path, &name, &perr);
    if (!dir.Valid()) {
      // A missing parent is a missing file for the ops that look, and an
      // error for the ones that make something. For removals a parent that
      // is not a plain directory (a symlink planted there) holds nothing of
      // ours either: there is nothing to remove, and it is not followed.
      bool looks = o.op == Op::kRead || o.op == Op::kUnlink || o.op == Op::kRmdir || o.op == Op::kAbsent;
      bool removes = o.op == Op::kUnlink || o.op == Op::kRmdir;
      if ((perr == ENOENT && looks) || ((perr == ELOOP || perr == ENOTDIR) && removes)) {
        o.flag = o.op == Op::kAbsent;
      } else {
        o.err = perr;
      }
      return;
    }
  }
  switch (o.op) {
    case Op::kCreate:
      o.flag = CreateExclusive(dir.Get(), name, o.data, &o.err, o.mode);
      break;
    case Op::kReplace: {
      // rename(2) replaces a symlink at `name`, it does not write through it.
      std::string tmp;
      if (!WriteTemp(dir.Get(), o.data, o.mode, &tmp, &o.err)) break;
      if (::renameat(dir.Get(), tmp.c_str(), dir.Get(), name.c_str()) != 0) {
        o.err = errno;
        ::unlinkat(dir.Get(), tmp.c_str(), 0);
      }
      break;
    }
    case Op::kRead: {
      UniqueFd fd(::openat(dir.Get(), name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
      if (!fd.Valid()) {
        if (errno != ENOENT) o.err = errno;
        break;
      }
      char buf[8192];
      for (;;) {
        ssize_t n = ::read(fd.Get(), buf, sizeof(buf));
        if (n < 0) {
          if (errno == EINTR) continue;
          o.err = errno;
          break;
        }
        if (n == 0) break;
        o.text.append(buf, static_cast<size_t>(n));
      }
      o.flag = o.err == 0;
      break;
    }
    case Op::kUnlink:
      if (::unlinkat(dir.Get(), name.c_str(), 0) == 0) {
        o.flag = true;
      } else if (errno != ENOENT) {
        o.err = errno;
      }
      break;
    case Op::kMkdir:
      if (::mkdirat(dir.Get(), name.c_str(), o.mode == 0600 ? 0700 : o.mode) == 0) {
        o.flag = true;
      } else if (errno == EEXIST) {
        // Already there: it must be a directory, not a symlink to one.
        struct stat st {};
        if (::fstatat(dir.Get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISDIR(st.st_mode)) {
          o.err = S_ISLNK(st.st_mode) ? ELOOP : ENOTDIR;
        }
      } else {
        o.err = errno;
      }
      break;
    case Op::kRmdir:
      // ENOTDIR: a file or symlink in place of the directory is not ours.
      if (::unlinkat(dir.Get(), name.c_str(), AT_REMOVEDIR) == 0) {
        o.flag = true;
      } else if (errno != ENOENT && errno != ENOTEMPTY && errno != EEXIST && errno != ENOTDIR) {
        o.err = errno;
      }
      break;
    case Op::kReadDir: {
      UniqueFd d = OpenDir(o, &o.err);
      if (d.Valid()) o.flag = ReadNames(std::move(d), &o.entries, &o.err);
      break;
    }
    case Op::kReserveFirst: {
      UniqueFd d = OpenDirNoFollow(o.path, &o.err);
      if (!d.Valid()) break;
      for (size_t i = 0; i < o.names.size(); i++) {
        if (CreateExclusive(d.Get(), o.names[i], o.data, &o.err)) {
          o.index = static_cast<int>(i);
          break;
        }
        if (o.err != 0) break;
      }
      break;
    }
    case Op::kAbsent: {
      struct stat st {};
      if (::fstatat(dir.Get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
        o.flag = false;
      } else if (errno == ENOENT) {
        o.flag = true;
      } else {
        o.err = errno;
      }
      break;
    }
    case Op::kOnlyEntry: {
      UniqueFd d = OpenDir(o, &o.err);
      std::vector<std::string> names;
      if (!d.Valid() || !ReadNames(std::move(d), &names, &o.err)) {
        o.flag = o.err == 0;  // a missing directory holds nothing else
        break;
      }
      o.flag = true;
      // `data`: the names allowed, '/'-separated (no name holds a '/').
      const std::string allowed = "/" + o.data + "/";
      for (const std::string& n : names) {
        if (n[0] == '.') continue;
        if (allowed.find("/" + n + "/") == std::string::npos) {
          o.flag = false;
          o.entries.push_back(n);
        }
      }
      break;
    }
  }
}

bool FsOpHeld(const FsOp& o) {
  if (o.err != 0) return false;
  switch (o.op) {
    case Op::kCreate:
    case Op::kAbsent:
    case Op::kOnlyEntry:
      return o.flag;
    case Op::kReserveFirst:
      return o.index >= 0;
    default:
      return true;
  }
}

FsOp ParseFsOp(Napi::Env env, Napi::Value v, const std::string& where) {
  if (!v.IsObject()) ThrowTypeError(env, where + " must be an object");
  Napi::Object o = v.As<Napi::Object>();
  std::string op = o.Get("op").ToString().Utf8Value();
  FsOp f{};
  if (op == "create") {
    f.op = Op::kCreate;
  } else if (op == "replace") {
    f.op = Op::kReplace;
  } else if (op == "read") {
    f.op = Op::kRead;
  } else if (op == "unlink") {
    f.op = Op::kUnlink;
  } else if (op == "mkdir") {
    f.op = Op::kMkdir;
  } else if (op == "rmdir") {
    f.op = Op::kRmdir;
  } else if (op == "readdir") {
    f.op = Op::kReadDir;
  } else if (op == "absent") {
    f.op = Op::kAbsent;
  } else if (op == "onlyEntry") {
    f.op = Op::kOnlyEntry;
  } else if (op == "reserveFirst") {
    f.op = Op::kReserveFirst;
    Napi::Value names = o.Get("names");
    if (!names.IsArray()) ThrowTypeError(env, where + ": reserveFirst needs names");
    Napi::Array n = names.As<Napi::Array>();
    for (uint32_t j = 0; j < n.Length(); j++) f.names.push_back(n.Get(j).ToString().Utf8Value());
  } else {
    ThrowTypeError(env, where + ": unknown fs op " + op);
  }
  Napi::Value p = o.Get("path");
  if (!p.IsString()) ThrowTypeError(env, where + ".path must be a string");
  f.path = p.As<Napi::String>().Utf8Value();
  Napi::Value d = o.Get("data");
  if (d.IsString()) f.data = d.As<Napi::String>().Utf8Value();
  Napi::Value m = o.Get("mode");
  if (m.IsNumber()) f.mode = static_cast<mode_t>(m.As<Napi::Number>().Uint32Value() & 07777);
  return f;
}

Napi::Object FsOpResult(Napi::Env env, const FsOp& o, bool ran) {
  Napi::Object r = Napi::Object::New(env);
  r.Set("ran", ran);
  r.Set("ok", o.flag);
  if (o.err != 0) r.Set("error", MakeSystemError(env, SysError(o.err, "fs", o.path)).Value());
  if (o.op == Op::kRead && o.flag) r.Set("text", o.text);
  if (o.op == Op::kReserveFirst) r.Set("index", o.index);
  if ((o.op == Op::kReadDir && o.flag) || (o.op == Op::kOnlyEntry && !o.entries.empty())) {
    Napi::Array e = Napi::Array::New(env, o.entries.size());
    for (size_t j = 0; j < o.entries.size(); j++) e.Set(static_cast<uint32_t>(j), o.entries[j]);
    r.Set("entries", e);
  }
  return r;
}

namespace {

class FsOpsWorker : public Napi::AsyncWorker {
 public:
  FsOpsWorker(Napi::Env env, std::vector<FsOp> ops)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), ops_(std::move(ops)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }

 protected:
  // Stops at the first unexpected failure; later ops are not run.
  void Execute() override {
    for (FsOp& o : ops_) {
      RunFsOp(o);
      ran_++;
      if (o.err != 0) break;
    }
  }
  void OnOK() override {
    Napi::Env env = Env();
    Napi::Array out = Napi::Array::New(env, ops_.size());
    for (size_t i = 0; i < ops_.size(); i++) out.Set(static_cast<uint32_t>(i), FsOpResult(env, ops_[i], i < ran_));
    deferred_.Resolve(out);
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::vector<FsOp> ops_;
  size_t ran_ = 0;
};

Napi::Value FsOps(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsArray()) ThrowTypeError(env, "ops must be an array");
  Napi::Array arr = info[0].As<Napi::Array>();
  std::vector<FsOp> ops;
  ops.reserve(arr.Length());
  for (uint32_t i = 0; i < arr.Length(); i++)
    ops.push_back(ParseFsOp(env, arr.Get(i), "ops[" + std::to_string(i) + "]"));
  auto* w = new FsOpsWorker(env, std::move(ops));
  Napi::Promise promise = w->Promise();
  w->Queue();
  return promise;
}

}  // namespace

void InitFsOps(Napi::Env env, Napi::Object exports) { exports.Set("fsOps", Napi::Function::New(env, FsOps, "fsOps")); }

}  // namespace netplumb
