#include "netlink/thread_pool.h"

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "common/fd.h"

namespace netplumb {
namespace {

constexpr size_t kMaxIdle = 16;

struct Slot {
  std::mutex mu;
  std::condition_variable cv;
  std::function<void()> work;
};

class ThreadPool {
 public:
  // Leaked on purpose: idle threads may still wait on it while the process exits.
  static ThreadPool& Get() {
    static ThreadPool* pool = new ThreadPool();
    return *pool;
  }

  void Run(std::function<void()> fn) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!idle_.empty()) {
        Slot* s = idle_.back();
        idle_.pop_back();
        std::lock_guard<std::mutex> slock(s->mu);
        s->work = std::move(fn);
        s->cv.notify_one();
        return;
      }
    }
    std::thread(&ThreadPool::Loop, this, std::move(fn)).detach();
  }

 private:
  // The namespace every pooled thread starts in: the process's, as seen by
  // the thread that first used the pool (the JS main thread).
  ThreadPool() : base_(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC)) {}

  void Loop(std::function<void()> fn) {
    Slot slot;
    for (;;) {
      fn();
      fn = nullptr;
      // Back to the process's namespace, or never serve again.
      if (!base_.Valid() || ::setns(base_.Get(), CLONE_NEWNET) != 0) return;
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (idle_.size() >= kMaxIdle) return;
        idle_.push_back(&slot);
      }
      std::unique_lock<std::mutex> slock(slot.mu);
      slot.cv.wait(slock, [&] { return static_cast<bool>(slot.work); });
      fn = std::move(slot.work);
      slot.work = nullptr;
    }
  }

  std::mutex mu_;
  std::vector<Slot*> idle_;
  UniqueFd base_;
};

}  // namespace

void RunOnPooledThread(std::function<void()> fn) { ThreadPool::Get().Run(std::move(fn)); }

}  // namespace netplumb
