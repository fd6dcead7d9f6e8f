// Network namespaces: an owned namespace fd for JS (NsFd), and the file
// operations `ip netns` performs (create, open, delete), run off the event
// loop. A namespace is only ever entered by a thread that is made for it.
#pragma once

#include <napi.h>

#include <string>

#include "common/fd.h"

namespace netplumb {

// JS class NsFd: an open /proc/.../ns/net or /run/netns/NAME file.
class NsFd : public Napi::ObjectWrap<NsFd> {
 public:
  static Napi::Function Init(Napi::Env env);
  static Napi::Object New(Napi::Env env, UniqueFd fd);
  static NsFd* Unwrap(Napi::Value v);  // nullptr when not an NsFd

  explicit NsFd(const Napi::CallbackInfo& info);
  int Fd() const { return fd_.Get(); }

 private:
  Napi::Value GetFd(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value Identity(const Napi::CallbackInfo& info);

  UniqueFd fd_;
};

// Makes `dir` (e.g. /run/netns) exist and be a shared mount point, as
// `ip netns add` does, so namespace mounts propagate to other mount
// namespaces. Safe to call from any thread; done once per directory.
void EnsureNetnsDir(const std::string& dir);

// On the calling thread (which must be one made for this): unshare into a new
// network namespace and bind-mount it at `path` (the file is created; it must
// not exist). The thread stays in the new namespace. Throws SysError.
// With `made` (an fd of a namespace unshared earlier and never mounted), that
// namespace is entered and mounted instead of a new one.
void CreateNetnsHere(const std::string& path, int made = -1);

// A procfs instance of this process's own, mounted nowhere (fsopen +
// fsmount): /proc/sys paths opened relative to it (`sys/net/...`) resolve
// in the calling thread's network namespace like /proc/sys does, but their
// dentries are this instance's. Why: the dentry of /proc/sys/net exists once
// per network namespace, all in one hash chain under /proc/sys, so a lookup
// through /proc walks one entry per namespace on the machine (~170 µs at
// 1,000 namespaces, ~500 µs at 2,000); through an instance it walks those
// looked up through that instance only. Invalid (errno set) where the
// kernel or the caller's privileges do not allow it: use /proc then.
UniqueFd OpenPrivateProc();

// Registers netnsCreate(path), netnsOpen(path), netnsDelete(path) on exports.
void InitNetns(Napi::Env env, Napi::Object exports);

}  // namespace netplumb
