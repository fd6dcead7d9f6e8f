#include "common/nofollow.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace netplumb {
namespace {

bool DotComponent(const std::string& c) { return c == "." || c == ".."; }

std::vector<std::string> Components(const std::string& path) {
  std::vector<std::string> out;
  size_t i = 1;
  while (i <= path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string::npos) j = path.size();
    if (j > i) out.push_back(path.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

// Kernels before 5.6 lack openat2: walk the path one component at a time.
UniqueFd WalkNoFollow(const std::vector<std::string>& parts, int* err) {
  UniqueFd dir(::open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir.Valid()) *err = errno;
  for (const std::string& c : parts) {
    if (!dir.Valid()) break;
    int next = ::openat(dir.Get(), c.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    int e = errno;  // before closing the previous one
    dir.Reset(next);
    if (next < 0) *err = e;
  }
  return dir;
}

}  // namespace

UniqueFd OpenDirNoFollow(const std::string& path, int* err) {
  *err = 0;
  if (path.empty() || path[0] != '/') {
    *err = EINVAL;
    return UniqueFd();
  }
  std::vector<std::string> parts = Components(path);
  for (const std::string& c : parts) {
    if (DotComponent(c)) {
      *err = EINVAL;
      return UniqueFd();
    }
  }
  open_how how{};
  how.flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC;
  how.resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  long fd = ::syscall(SYS_openat2, AT_FDCWD, path.c_str(), &how, sizeof(how));
  if (fd >= 0) return UniqueFd(static_cast<int>(fd));
  if (errno != ENOSYS) {
    *err = errno;
    return UniqueFd();
  }
  return WalkNoFollow(parts, err);
}

UniqueFd OpenParentNoFollow(const std::string& path, std::string* name, int* err) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos || slash + 1 >= path.size()) {
    *err = EINVAL;
    return UniqueFd();
  }
  *name = path.substr(slash + 1);
  if (DotComponent(*name)) {
    *err = EINVAL;
    return UniqueFd();
  }
  return OpenDirNoFollow(slash == 0 ? "/" : path.substr(0, slash), err);
}

}  // namespace netplumb
