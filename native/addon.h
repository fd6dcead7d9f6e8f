// Per-environment data of the addon (constructors of its classes), so the
// addon also works when loaded in several worker_threads.
#pragma once

#include <napi.h>

namespace netplumb {

struct AddonData {
  Napi::FunctionReference ns_fd;
  Napi::FunctionReference handle;
  Napi::FunctionReference file_lock;
  Napi::FunctionReference lock_file;

  static AddonData* Get(Napi::Env env) { return env.GetInstanceData<AddonData>(); }
};

}  // namespace netplumb
