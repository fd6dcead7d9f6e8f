// Advisory file locks (flock) for the engine's state directory. The kernel
// drops them when the holder dies, so a crashed process never leaves a
// stale lock behind. Taken on the libuv pool with LOCK_NB, so neither the
// event loop nor a pool thread ever sleeps on a lock.
#pragma once

#include <napi.h>

namespace netplumb {

// tryLock(path, exclusive): Promise<FileLock | null> (null: held elsewhere)
// FileLock.release(): drops the lock (closes the file); idempotent.
void InitFsLock(Napi::Env env, Napi::Object exports);

}  // namespace netplumb
