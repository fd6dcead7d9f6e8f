// Batched file operations for the engine's state directory: one trip to the
// libuv pool runs a whole list (reserve a name, reserve an address, write a
// record...), instead of one trip per open/write/close. Nothing follows
// symlinks; records are replaced atomically (write, then rename).
#pragma once

#include <napi.h>
#include <sys/types.h>

#include <string>
#include <vector>

namespace netplumb {

enum class FsOpKind {
  kCreate,
  kReplace,
  kRead,
  kUnlink,
  kMkdir,
  kRmdir,
  kReadDir,
  kReserveFirst,
  kAbsent,     // flag: `path` does not exist
  kOnlyEntry,  // flag: directory `path` holds no entry but those in `data` ('/'-separated; dot files aside)
};

struct FsOp {
  FsOpKind op;
  std::string path;
  std::string data;
  std::vector<std::string> names;  // kReserveFirst: candidates inside `path`
  mode_t mode = 0600;              // create/replace/mkdir
  // results
  int err = 0;                       // positive errno of an unexpected failure
  bool flag = false;                 // create: made it; read: found; unlink/rmdir: removed
  int index = -1;                    // reserveFirst: which candidate
  std::string text;                  // read
  std::vector<std::string> entries;  // readdir
};

// Runs one operation on the calling thread, filling in its results.
void RunFsOp(FsOp& o);

// Whether an op that ran without error found what it needed: a create that
// created, a reservation that reserved, a path absent, a directory alone.
bool FsOpHeld(const FsOp& o);

// Parses a JS op object ({ op, path, data?, names?, mode? }); throws a TypeError.
FsOp ParseFsOp(Napi::Env env, Napi::Value v, const std::string& where);

// The JS result object of a finished op.
Napi::Object FsOpResult(Napi::Env env, const FsOp& o, bool ran);

// fsOps(ops: FsOp[]): Promise<FsResult[]> — see lib/binding.ts for the shapes.
void InitFsOps(Napi::Env env, Napi::Object exports);

}  // namespace netplumb
