// Batched file operations for the engine's state directory: one trip to the
// libuv pool runs a whole list (reserve a name, reserve an address, write a
// record...), instead of one trip per open/write/close. Nothing follows
// symlinks; records are replaced atomically (write, then rename).
#pragma once

#include <napi.h>

namespace netplumb {

// fsOps(ops: FsOp[]): Promise<FsResult[]> — see lib/binding.ts for the shapes.
void InitFsOps(Napi::Env env, Napi::Object exports);

}  // namespace netplumb
