// Threads for handles, reused: a thread starts in the process's network
// namespace, serves one handle (entering that handle's namespace), and when
// the handle closes it is put back into the process's namespace with setns
// before it may serve anyone else. A thread that cannot be put back exits.
// Creating a thread costs ~100 us on a small VM; a sandbox should not pay it.
#pragma once

#include <functional>

namespace netplumb {

// Runs `fn` on an idle pooled thread, or on a new one.
void RunOnPooledThread(std::function<void()> fn);

}  // namespace netplumb
