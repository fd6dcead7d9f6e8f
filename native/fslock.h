// Advisory file locks (flock) for the engine's state directory. The kernel
// drops them when the holder dies, so a crashed process never leaves a
// stale lock behind. Taken with LOCK_NB (or F_OFD_SETLK), so neither the
// event loop nor a pool thread ever sleeps on a lock.
#pragma once

#include <napi.h>

namespace netplumb {

// tryLock(path, exclusive): Promise<FileLock | null> (null: held elsewhere)
// FileLock.release(): drops the lock (closes the file); idempotent.
// openLockFile(path): Promise<LockFile>, opened on the pool; its locks are
// then tried on the calling thread, never waiting (LOCK_NB, F_OFD_SETLK):
//   tryLock(exclusive): boolean        flock LOCK_SH / LOCK_EX
//   unlock()                           flock LOCK_UN
//   tryLockRange(offset, exclusive)    an OFD lock on one byte: boolean
//   unlockRange(offset)
//   close()                            closes the file (its locks go); idempotent
void InitFsLock(Napi::Env env, Napi::Object exports);

}  // namespace netplumb
