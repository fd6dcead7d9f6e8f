// Opening files of the state directory and /etc/netns without following a
// symbolic link in any component of their path: a link planted there (in
// place of a record, a directory of addresses, a lock) makes the operation
// fail with ELOOP instead of reaching whatever it points to.
#pragma once

#include <string>

#include "common/fd.h"

namespace netplumb {

// Opens the directory `path` (absolute; no "." or ".." components) with no
// symlink in any component. Returns an invalid fd and sets *err (ELOOP for a
// link, ENOENT, ENOTDIR, EINVAL for a relative path or a dot component).
UniqueFd OpenDirNoFollow(const std::string& path, int* err);

// Splits `path` into its directory, opened as OpenDirNoFollow does, and its
// last component (returned in *name).
UniqueFd OpenParentNoFollow(const std::string& path, std::string* name, int* err);

}  // namespace netplumb
