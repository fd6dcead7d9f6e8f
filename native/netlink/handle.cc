#include "netlink/handle.h"

#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <deque>
#include <exception>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "addon.h"
#include "common/errors.h"
#include "common/fd.h"
#include "common/js_spec.h"
#include "fsops.h"
#include "netlink/socket.h"
#include "netlink/thread_pool.h"
#include "netlink/to_js.h"
#include "netns.h"

namespace netplumb {

class Job;
// Runs on the main thread for every finished job.
void CallJs(Napi::Env env, Napi::Function, std::shared_ptr<HandleMain>* ctx, Job* job);
using Tsfn = Napi::TypedThreadSafeFunction<std::shared_ptr<HandleMain>, Job, CallJs>;

// Is a host process using this port? One bind, as the thread's namespace
// sees it: TCP with SO_REUSEADDR (so only a listener, not TIME_WAIT
// leftovers, makes it fail), UDP without (any bound socket makes it fail).
// Cheaper than reading /proc/net/tcp, which walks the whole socket hash.
struct PortProbe {
  bool tcp;
  std::vector<uint8_t> addr;  // 4 or 16 bytes; empty: the IPv4 wildcard
  uint16_t port;
  int result = 0;  // 0 free, else errno (EADDRINUSE: taken)
};

int ProbePort(const PortProbe& p) {
  bool v6 = p.addr.size() == 16;
  UniqueFd fd(::socket(v6 ? AF_INET6 : AF_INET, (p.tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC, 0));
  if (!fd.Valid()) return errno;
  int one = 1;
  if (p.tcp) ::setsockopt(fd.Get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_storage ss{};
  socklen_t len;
  if (v6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(p.port);
    std::memcpy(&a->sin6_addr, p.addr.data(), 16);
    // Only this family: a v4 listener on the port is probed separately.
    ::setsockopt(fd.Get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    len = sizeof(*a);
  } else {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    a->sin_family = AF_INET;
    a->sin_port = htons(p.port);
    if (p.addr.size() == 4) std::memcpy(&a->sin_addr, p.addr.data(), 4);
    len = sizeof(*a);
  }
  return ::bind(fd.Get(), reinterpret_cast<sockaddr*>(&ss), len) == 0 ? 0 : errno;
}

PortProbe ParseProbe(const Spec& p) {
  return PortProbe{p.Str("protocol").value_or("tcp") == "tcp", p.Bytes("addr").value_or(std::vector<uint8_t>{}),
                   static_cast<uint16_t>(p.U32Or("port", 0))};
}

// One step of a sequence: a transaction on the handle's own socket or an
// outer one; a write to a file as this namespace sees it (/proc/sys) or, with
// `outer` (builders), below the outer namespace's /proc/sys/net/ipv6/conf
// (see Worker::outer_ipv6_conf); a state-directory operation; or a port probe.
struct Step {
  int protocol;
  bool outer;
  std::vector<uint8_t> batch;
  std::string write_path;  // non-empty: a file write instead of a transaction
  std::string write_data;
  std::optional<FsOp> fs;  // a state-directory operation (see fsops.h)
  std::optional<PortProbe> probe;
  bool aside = false;  // fs only: may run on a helper thread beside the steps before it (see AsideSteps)
};

// Worker-thread side. Only the thread touches sockets and the namespace.
struct Worker {
  std::map<int, std::unique_ptr<NetlinkSocket>> sockets;
  // Sockets opened in the namespace the thread started in, before it
  // entered its own: a sandbox's thread can then also drive the host side
  // (enslave its veth to the bridge) within one job.
  std::map<int, std::unique_ptr<NetlinkSocket>> outer;
  std::unique_ptr<NetlinkSocket> monitor;
  // Streamed dumps, by the caller's stream id: each on a socket of its own,
  // so requests made while the consumer works neither read nor are answered
  // by its queued parts. Closed when the dump ends or is abandoned.
  std::map<uint32_t, std::unique_ptr<NetlinkSocket>> streams;
  // A builder (jobs entered with `reuse`) goes back to `home` after each
  // sandbox; while idle it unshares the next sandbox's namespace ahead and
  // runs `recipe` in it (lo up, sysctls; maybe nothing), so a job finds it
  // ready.
  UniqueFd home;
  std::optional<std::vector<Step>> recipe;  // set: make a spare before sleeping
  struct Spare {
    UniqueFd ns;
    std::unique_ptr<NetlinkSocket> route;  // opened inside it, for the job to reuse
    UniqueFd ipv6_conf;                    // see Worker::ipv6_conf
    std::vector<Step> recipe;              // what was run in it
  };
  std::optional<Spare> spare;
  // /proc/sys/net/ipv6/conf of the namespace the job is in, opened ahead
  // with the spare: a write below it is then one openat. Looking such a path
  // up from / walks a dentry chain with one entry per network namespace on
  // the machine (proc_sys_compare): ~170 µs with 1,000 sandboxes, ~500 µs
  // with 2,000.
  UniqueFd ipv6_conf;
  // The spares' conf directories are opened through a procfs instance of the
  // builder's own (see OpenPrivateProc), a new one every kSparesPerProc
  // spares, so that walk stays short too. Invalid: through /proc.
  UniqueFd proc;
  unsigned proc_spares = 0;
  // /proc/sys/net/ipv6/conf of the starting namespace, opened there with the
  // outer sockets: a write step with `outer` lands below it wherever the
  // thread is (the sysctl belongs to the namespace it was opened in), so a
  // builder inside a sandbox can set the host end's IPv6 switch.
  UniqueFd outer_ipv6_conf;
  bool entered = false;
  // Other jobs were queued when the running one started: the thread has
  // work waiting, so aside steps run inline (see AsideSteps).
  bool others_waiting = false;
  // A builder's job entered with `hold` (a token, > 0) left the thread in
  // its sandbox's namespace: the `release` naming that token finishes the
  // sandbox there and goes home. Meanwhile the thread runs nothing else (a
  // close aside) and makes no spare. 0: nothing held.
  uint32_t held = 0;
  bool broken = false;  // entering the namespace failed: refuse all work
  bool stop = false;    // closed: the thread ends

  NetlinkSocket& Socket(int protocol) {
    auto it = sockets.find(protocol);
    if (it != sockets.end()) return *it->second;
    auto s = std::make_unique<NetlinkSocket>(protocol);
    NetlinkSocket& ref = *s;
    sockets.emplace(protocol, std::move(s));
    return ref;
  }

  NetlinkSocket& Outer(int protocol) {
    auto it = outer.find(protocol);
    if (it == outer.end()) throw SysError(EINVAL, "transact", "no outer socket for this protocol (enter with outer)");
    return *it->second;
  }
};

constexpr char kIpv6Conf[] = "/proc/sys/net/ipv6/conf/";
// Measured at 1,000 namespaces: the open through an instance renewed every 32
// ~15 µs all in; through /proc ~170 µs; through a new instance each ~100 µs.
constexpr unsigned kSparesPerProc = 32;

// Closes a procfs instance on a pooled thread: its unmount waits for an
// RCU grace period (synchronize_rcu_expedited, ~0.5 ms here), which a
// builder should not wait out between two sandboxes. Inline if no thread
// can be had. A pooled thread this creates starts in the builder's current
// namespace; it only closes the fd there, and the pool puts it back in the
// process's namespace before it serves anything else.
void CloseElsewhere(UniqueFd fd) {
  auto owned = std::make_shared<UniqueFd>(std::move(fd));
  try {
    RunOnPooledThread([owned] { owned->Reset(); });
  } catch (const std::system_error&) {
    owned->Reset();
  }
}

// /proc/sys/net/ipv6/conf of the namespace the thread is in (O_PATH).
UniqueFd OpenIpv6Conf(Worker& w) {
  if (!w.proc.Valid() || w.proc_spares >= kSparesPerProc) {
    if (w.proc.Valid()) CloseElsewhere(std::move(w.proc));
    w.proc = OpenPrivateProc();
    w.proc_spares = 0;
  }
  constexpr int flags = O_PATH | O_DIRECTORY | O_CLOEXEC;
  if (!w.proc.Valid()) return UniqueFd(::open("/proc/sys/net/ipv6/conf", flags));
  w.proc_spares++;
  return UniqueFd(::openat(w.proc.Get(), "sys/net/ipv6/conf", flags));
}

void WriteFileHere(const Worker& w, const std::string& path, const std::string& data, bool outer) {
  constexpr size_t n = sizeof(kIpv6Conf) - 1;
  bool conf = path.compare(0, n, kIpv6Conf) == 0;
  if (outer && (!conf || !w.outer_ipv6_conf.Valid()))
    throw SysError(EINVAL, "write", path + ": outer writes go below " + kIpv6Conf + " of a namespace with IPv6");
  const UniqueFd& dir = outer ? w.outer_ipv6_conf : w.ipv6_conf;
  UniqueFd fd(dir.Valid() && conf ? ::openat(dir.Get(), path.c_str() + n, O_WRONLY | O_CLOEXEC)
                                  : ::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd.Valid()) ThrowErrno("open", path);
  if (::write(fd.Get(), data.data(), data.size()) < 0) ThrowErrno("write", path);
}

int64_t NowNs() {
  timespec t{};
  ::clock_gettime(CLOCK_MONOTONIC, &t);
  return static_cast<int64_t>(t.tv_sec) * 1000000000 + t.tv_nsec;
}

// The steps of a sequence marked `aside`: file operations that need none of
// the steps before them (a sandbox's /etc/netns files and address cursor
// need only its name, reserved in an earlier job). They run, in their order,
// on a pooled thread from the start of the sequence, beside the kernel steps
// before them, so the builder's own path to the next sandbox is shorter.
// The first unmarked file step after them waits for them, as does the end
// of the sequence: a record marked ready comes after its files. With other
// jobs queued for the thread (`in_order`) they run in order like any step:
// the CPUs are busy with those, and a hand-over would only add to them (8
// sandboxes in flight on 2 vCPUs: no faster aside).
class AsideSteps {
 public:
  AsideSteps(std::vector<Step>& steps, bool timing, bool in_order) : steps_(steps) {
    if (in_order) {
      for (Step& st : steps) st.aside = false;
      return;
    }
    for (size_t i = 0; i < steps.size(); i++) {
      if (steps[i].aside) state_->index.push_back(i);
    }
    if (state_->index.empty()) return;
    state_->ns.assign(state_->index.size(), 0);
    done_ = state_->done.get_future();
    std::shared_ptr<State> st = state_;
    std::vector<Step>* all = &steps;  // outlives the helper: Join() runs before steps go
    auto run = [st, all, timing] {
      for (size_t k = 0; k < st->index.size(); k++) {
        const int64_t start = timing ? NowNs() : 0;
        FsOp& op = *(*all)[st->index[k]].fs;
        try {
          RunFsOp(op);
        } catch (const std::exception&) {
          op.err = ENOMEM;  // the only way RunFsOp throws: an allocation
        }
        if (timing) st->ns[k] = NowNs() - start;
        if (!FsOpHeld(op)) {
          st->failed = static_cast<int>(st->index[k]);
          break;
        }
      }
      st->done.set_value();
    };
    try {
      RunOnPooledThread(run);
    } catch (const std::system_error&) {
      run();  // no thread to be had: inline, as unmarked steps run
    }
  }
  AsideSteps(const AsideSteps&) = delete;
  AsideSteps& operator=(const AsideSteps&) = delete;
  ~AsideSteps() { Join(); }

  // Whether step i has to wait for the aside steps: an unmarked file step
  // after one, while they may still run (a valid future: not joined yet).
  bool Waits(size_t i) const { return done_.valid() && i > state_->index.front() && steps_[i].fs && !steps_[i].aside; }

  // Waits for the helper; returns the index of the aside step that failed, or -1.
  int Join() {
    if (done_.valid()) {
      done_.wait();
      done_ = std::future<void>();
    }
    return state_->failed;
  }

  // The helper's time for each aside step, in place of the builder's (timing).
  void FillTimes(std::vector<int64_t>* ns, size_t base) const {
    if (ns == nullptr) return;
    for (size_t k = 0; k < state_->index.size(); k++) {
      size_t at = base + state_->index[k];
      if (at < ns->size()) (*ns)[at] = state_->ns[k];
    }
  }

 private:
  struct State {
    std::vector<size_t> index;
    std::vector<int64_t> ns;
    int failed = -1;
    std::promise<void> done;
  };
  std::vector<Step>& steps_;
  std::shared_ptr<State> state_ = std::make_shared<State>();
  std::future<void> done_;  // valid from the start of the helper until Join()
};

// Runs steps in order, stopping after the first that a request of failed.
// Returns the index of that step, or -1. With `ns`, appends how long each
// step that ran took (EnterOptions.timing). Steps marked `aside` run beside
// the others (see AsideSteps); one that fails fails the sequence at its index
// unless an earlier step failed first. Place them after the steps they may
// run beside: a failure is then reported in order, and whatever came before
// it ran (aside steps after a failed one may have run too).
int RunSteps(Worker& w, std::vector<Step>& steps, std::vector<Transaction>* out, std::vector<int64_t>* ns = nullptr) {
  out->reserve(out->size() + steps.size());
  const size_t out_base = out->size();
  const size_t ns_base = ns != nullptr ? ns->size() : 0;
  AsideSteps aside(steps, ns != nullptr, w.others_waiting);
  // Runs unmarked step i; false when it failed.
  auto run = [&](size_t i) {
    Step& st = steps[i];
    if (!st.write_path.empty()) {
      // A failed write fails the sequence at its index, as a refused request
      // does: what ran before it is then reported, so the caller can take
      // it back (a thrown error would say nothing of it).
      try {
        WriteFileHere(w, st.write_path, st.write_data, st.outer);
      } catch (const SysError& e) {
        Completion c;
        c.done = true;
        c.error = e.err;
        c.extack = e.syscall + " " + (e.detail.empty() ? st.write_path : e.detail);
        out->back().completions.assign(1, c);
        return false;
      }
      return true;
    }
    if (st.fs) {
      // A reservation that finds the name taken ends the sequence too.
      RunFsOp(*st.fs);
      return FsOpHeld(*st.fs);
    }
    if (st.probe) {
      st.probe->result = ProbePort(*st.probe);
      return st.probe->result == 0;
    }
    NetlinkSocket& sock = st.outer ? w.Outer(st.protocol) : w.Socket(st.protocol);
    sock.Transact(st.batch, &out->back());
    for (const Completion& c : out->back().completions) {
      if (c.done && c.error != 0) return false;
    }
    return true;
  };
  int failed = -1;
  for (size_t i = 0; i < steps.size() && failed < 0; i++) {
    out->emplace_back();
    if (steps[i].aside) {
      if (ns != nullptr) ns->push_back(0);  // the helper's time, filled in below
      continue;
    }
    const int64_t start = ns != nullptr ? NowNs() : 0;
    // The wait for the aside steps counts as this step's time.
    if (aside.Waits(i) && aside.Join() >= 0) break;
    if (!run(i)) failed = static_cast<int>(i);
    if (ns != nullptr) ns->push_back(NowNs() - start);
  }
  // The aside steps are done before the sequence is: one that failed before
  // `failed` is the sequence's failure.
  int a = aside.Join();
  aside.FillTimes(ns, ns_base);
  if (a >= 0 && (failed < 0 || a < failed)) failed = a;
  if (failed >= 0) {
    const size_t keep = static_cast<size_t>(failed) + 1;
    if (out->size() > out_base + keep) out->resize(out_base + keep);
    if (ns != nullptr && ns->size() > ns_base + keep) ns->resize(ns_base + keep);
  }
  return failed;
}

Napi::Value StepResults(Napi::Env env, const std::vector<Step>& steps, const std::vector<Transaction>& results,
                        int failed) {
  Napi::Object o = Napi::Object::New(env);
  Napi::Array arr = Napi::Array::New(env, results.size());
  for (size_t i = 0; i < results.size(); i++) {
    if (steps[i].fs) {
      arr.Set(static_cast<uint32_t>(i), FsOpResult(env, *steps[i].fs, true));
    } else if (steps[i].probe) {
      Napi::Object r = Napi::Object::New(env);
      int err = steps[i].probe->result;
      r.Set("probe", err == 0 ? env.Null() : Napi::String::New(env, ErrnoName(err)));
      arr.Set(static_cast<uint32_t>(i), r);
    } else {
      arr.Set(static_cast<uint32_t>(i),
              DecodeTransaction(env, steps[i].write_path.empty() ? steps[i].protocol : 0, results[i]));
    }
  }
  o.Set("results", arr);
  o.Set("failed", failed);
  return o;
}

// Main-thread side: promise bookkeeping and the monitor callback.
struct HandleMain {
  Tsfn tsfn;
  int pending = 0;  // jobs whose promise is not settled yet
  bool monitoring = false;
  bool closed = false;
  Napi::FunctionReference monitor_cb;
  int monitor_protocol = 0;
  // A close job is settled only once the thread has released the
  // thread-safe function (its finalizer runs on this thread: see
  // Finalize), so the main thread never blocks waiting for it; the
  // environment's cleanup hook stops and waits for a handle still open at
  // exit: a thread must never release the function after the environment
  // has torn it down.
  std::shared_ptr<HandleShared> shared;
  // The thread starts with the first job (see Start), not with the handle:
  // waking a sleeping thread costs the caller 10-20 us on a small VM and
  // the handle's first job would wake it again.
  bool started = false;
  bool hooked = false;
  bool tearing_down = false;
  bool finalized = false;
  std::unique_ptr<Job> closing;  // the close job, until Finalize

  static void CleanupHook(void* arg);
  // Starts the handle's thread, once; on the main thread. False when no
  // thread can be had (RLIMIT_NPROC, a cgroup's pids.max).
  bool Start();
  // A handle no thread ever served lets go of the thread-safe function
  // itself, as its thread would have on the way out. Once.
  void ReleaseUnserved();
  bool released_unserved = false;
  static void Finalize(Napi::Env env, void*, std::shared_ptr<HandleMain>* ctx);

  // The thread keeps the process alive only while someone awaits it.
  void UpdateRef(Napi::Env env) {
    if (finalized) return;
    if (pending > 0 || monitoring) {
      tsfn.Ref(env);
    } else {
      tsfn.Unref(env);
    }
  }
};

// Shared by both sides: the queue.
struct HandleShared {
  std::atomic<bool> stop_requested{false};

  // Set by the thread once it no longer touches the thread-safe function.
  std::mutex released_mu;
  std::condition_variable released_cv;
  bool released = false;
  void MarkReleased() {
    std::lock_guard<std::mutex> lock(released_mu);
    released = true;
    released_cv.notify_all();
  }
  void WaitReleased() {
    std::unique_lock<std::mutex> lock(released_mu);
    released_cv.wait(lock, [&] { return released; });
  }

  std::mutex mu;
  std::deque<Job*> queue;
  UniqueFd wake{::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)};

  // Main thread only, like the Reset of `wake` in Finalize. Once the thread
  // has exited nobody reads the queue: a late job is dropped.
  void Push(Job* job);
  // Worker thread: whether the release of held sandbox `token` is queued.
  bool ReleaseQueued(uint32_t token);
};

class Job {
 public:
  virtual ~Job() = default;
  // Worker thread. Throw SysError to fail.
  virtual void Run(Worker& w) = 0;
  // Main thread.
  virtual void Settle(Napi::Env env, HandleMain& main) = 0;
  virtual bool Closes() const { return false; }
  // The token of the held sandbox a release job finishes (see Worker::held); 0 otherwise.
  virtual uint32_t Releases() const { return 0; }

  std::optional<SysError> error;
  // When it was queued (CLOCK_MONOTONIC ns; see HandleShared::Push).
  int64_t queued_at = 0;
};

// Where a job's time went, when asked (EnterOptions.timing): how long it
// waited for the thread (behind other jobs, or the namespace made ahead),
// entering the new namespace, and each step.
struct Timing {
  bool on = false;
  int64_t queued_ns = 0;
  int64_t netns_ns = -1;
  std::vector<int64_t> step_ns;

  std::vector<int64_t>* Steps() { return on ? &step_ns : nullptr; }
  void Started(const Job& job) {
    if (on) queued_ns = NowNs() - job.queued_at;
  }
  void Set(Napi::Env env, Napi::Object result) const {
    if (!on) return;
    Napi::Object t = Napi::Object::New(env);
    t.Set("queuedNs", static_cast<double>(queued_ns));
    if (netns_ns >= 0) t.Set("netnsNs", static_cast<double>(netns_ns));
    Napi::Array a = Napi::Array::New(env, step_ns.size());
    for (size_t i = 0; i < step_ns.size(); i++) a.Set(static_cast<uint32_t>(i), static_cast<double>(step_ns[i]));
    t.Set("stepNs", a);
    result.Set("timing", t);
  }
};

bool HandleShared::ReleaseQueued(uint32_t token) {
  std::lock_guard<std::mutex> lock(mu);
  for (Job* j : queue) {
    if (j != nullptr && j->Releases() == token) return true;
  }
  return false;
}

void HandleShared::Push(Job* job) {
  if (!wake.Valid()) {
    delete job;
    return;
  }
  if (job != nullptr) job->queued_at = NowNs();  // nullptr: only a wakeup (see CleanupHook)
  {
    std::lock_guard<std::mutex> lock(mu);
    queue.push_back(job);
  }
  uint64_t one = 1;
  ssize_t r = ::write(wake.Get(), &one, sizeof(one));
  (void)r;
}

class PromiseJob : public Job {
 public:
  explicit PromiseJob(Napi::Env env) : deferred_(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise Promise() const { return deferred_.Promise(); }

  void Settle(Napi::Env env, HandleMain& main) override {
    main.pending--;
    main.UpdateRef(env);
    if (error) {
      deferred_.Reject(MakeSystemError(env, *error).Value());
      return;
    }
    try {
      deferred_.Resolve(Result(env));
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    }
  }

 protected:
  virtual Napi::Value Result(Napi::Env env) { return env.Undefined(); }

 private:
  Napi::Promise::Deferred deferred_;
};

// ---- jobs ------------------------------------------------------------------

// Runs a namespace's preparation; a step that fails throws, as an errno.
void RunPrepared(Worker& w, std::vector<Step> steps) {  // a copy: Transact stamps sequence numbers
  std::vector<Transaction> results;
  int failed = RunSteps(w, steps, &results);
  if (failed < 0) return;
  for (const Completion& c : results[failed].completions) {
    if (c.done && c.error != 0) throw SysError(c.error, "prepare", c.extack);
  }
  throw SysError(EINVAL, "prepare", "step " + std::to_string(failed + 1) + " failed");
}

bool SameSteps(const std::vector<Step>& a, const std::vector<Step>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); i++) {
    if (a[i].protocol != b[i].protocol || a[i].outer != b[i].outer || a[i].batch != b[i].batch ||
        a[i].write_path != b[i].write_path || a[i].write_data != b[i].write_data || a[i].fs || b[i].fs || a[i].probe ||
        b[i].probe)
      return false;
  }
  return true;
}

// A builder's way back after a sandbox: the sandbox's sockets go with its
// namespace; a thread that cannot go home refuses all work from now on.
void GoHome(Worker& w) {
  w.held = 0;
  w.sockets.clear();
  w.streams.clear();
  w.ipv6_conf.Reset();
  if (::setns(w.home.Get(), CLONE_NEWNET) != 0) {
    w.broken = true;
  } else {
    w.entered = false;
  }
}

// While a builder is idle: unshares the next sandbox's namespace and runs the
// recipe of its last job in it, then goes back home. What fails here is left
// to the next job, which reports it.
void MakeSpare(Worker& w) {
  std::vector<Step> recipe = std::move(*w.recipe);
  w.recipe.reset();
  if (::unshare(CLONE_NEWNET) != 0) return;
  Worker::Spare spare;
  bool ok = true;
  try {
    spare.ns.Reset(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
    ok = spare.ns.Valid();
    // Absent without IPv6: writes there then fail as they would anyway.
    spare.ipv6_conf = OpenIpv6Conf(w);
    if (ok) RunPrepared(w, recipe);
  } catch (const SysError&) {
    ok = false;
  }
  auto route = w.sockets.find(NETLINK_ROUTE);
  if (ok && route != w.sockets.end()) spare.route = std::move(route->second);
  w.sockets.clear();
  if (::setns(w.home.Get(), CLONE_NEWNET) != 0) {
    w.broken = true;
    return;
  }
  spare.recipe = std::move(recipe);
  if (ok) w.spare = std::move(spare);
}

class EnterJob : public PromiseJob {
 public:
  EnterJob(Napi::Env env, UniqueFd target, std::string create, UniqueFd outer_ns, std::vector<int> outer,
           std::vector<Step> before, std::optional<std::vector<Step>> steps, bool close_after, bool reuse,
           uint32_t hold, std::vector<Step> prepare, bool timing)
      : PromiseJob(env),
        target_(std::move(target)),
        create_(std::move(create)),
        outer_ns_(std::move(outer_ns)),
        outer_(std::move(outer)),
        before_(std::move(before)),
        steps_(std::move(steps)),
        close_after_(close_after),
        reuse_(reuse),
        hold_(hold),
        prepare_(std::move(prepare)) {
    timing_.on = timing;
  }

  bool Closes() const override { return close_after_; }

  void Run(Worker& w) override {
    if (w.entered) throw SysError(EALREADY, "enter", "handle already entered a namespace");
    // Whatever happens next, this thread serves only this namespace: if
    // entering fails, the handle refuses all work (see Worker users).
    w.entered = true;
    if (reuse_) {
      RunAndReturn(w);
      return;
    }
    OpenOuter(w);
    // With close_after, the thread ends with this job whatever happens.
    struct StopAfter {
      Worker& w;
      bool on;
      ~StopAfter() {
        if (on) {
          w.sockets.clear();
          w.outer.clear();
          w.stop = true;
        }
      }
    } stop_after{w, close_after_};
    timing_.Started(*this);
    // Steps to run before entering (a record written before any kernel
    // object exists); if one fails, nothing is entered or created.
    if (!before_.empty()) {
      failed_ = RunSteps(w, before_, &results_, timing_.Steps());
      if (failed_ >= 0) return;
    }
    const int64_t entering = NowNs();
    try {
      if (target_.Valid()) {
        if (::setns(target_.Get(), CLONE_NEWNET) != 0) ThrowErrno("setns");
        target_.Reset();
      } else if (!create_.empty()) {
        CreateNetnsHere(create_);
      }
    } catch (const SysError& e) {
      w.broken = true;
      // With steps, the `before` steps that ran are reported too, so the
      // caller can take them back: entering counts as the first step after.
      if (!steps_) throw;
      enter_error_ = e;
      failed_ = static_cast<int>(before_.size());
      return;
    }
    self_.Reset(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
    if (!self_.Valid()) ThrowErrno("open", "/proc/thread-self/ns/net");
    timing_.netns_ns = NowNs() - entering;
    if (steps_) {
      std::vector<Transaction> after;
      int failed = RunSteps(w, *steps_, &after, timing_.Steps());
      if (failed >= 0) failed_ = static_cast<int>(before_.size()) + failed;
      for (Transaction& t : after) results_.push_back(std::move(t));
    }
  }

 protected:
  Napi::Value Result(Napi::Env env) override {
    if (!steps_ && before_.empty()) return NsFd::New(env, std::move(self_));
    std::vector<Step> all;
    for (Step& st : before_) all.push_back(std::move(st));
    if (steps_) {
      for (Step& st : *steps_) all.push_back(std::move(st));
    }
    Napi::Object o = StepResults(env, all, results_, failed_).As<Napi::Object>();
    timing_.Set(env, o);
    if (self_.Valid()) o.Set("ns", NsFd::New(env, std::move(self_)));
    if (enter_error_) o.Set("enterError", MakeSystemError(env, *enter_error_).Value());
    return o;
  }

 private:
  // The outer sockets may belong to another namespace than the process's
  // (an engine whose "host" is a namespace of its own): go there first.
  // Sockets a builder kept from its last job are reused.
  void OpenOuter(Worker& w) {
    if (outer_ns_.Valid() && ::setns(outer_ns_.Get(), CLONE_NEWNET) != 0) {
      w.broken = true;
      ThrowErrno("setns");
    }
    outer_ns_.Reset();
    for (int p : outer_) {
      if (w.outer.count(p) == 0) w.outer.emplace(p, std::make_unique<NetlinkSocket>(p));
    }
    // Builders only (the host end's IPv6 switch). Absent without IPv6:
    // outer writes then fail.
    if (reuse_ && !w.outer_ipv6_conf.Valid()) w.outer_ipv6_conf = OpenIpv6Conf(w);
  }

  // A builder's job: the `before` steps at home, a new namespace (the spare
  // made ahead when it was prepared the same way, else unshared here and
  // prepared now), the steps, and back home, where the next job starts.
  void RunAndReturn(Worker& w) {
    timing_.Started(*this);
    // Home is where the first job found the outer namespace.
    if (w.home.Valid()) outer_ns_.Reset();
    OpenOuter(w);
    if (!w.home.Valid()) {
      w.home.Reset(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
      if (!w.home.Valid()) {
        w.broken = true;
        ThrowErrno("open", "/proc/thread-self/ns/net");
      }
    }
    // Home after the job, unless it went well and holds the namespace for
    // a `release` job to finish.
    struct Return {
      Worker& w;
      const EnterJob& job;
      ~Return() {
        if (job.hold_ != 0 && job.failed_ < 0 && !job.enter_error_ && !std::uncaught_exceptions()) {
          w.held = job.hold_;
        } else {
          GoHome(w);
        }
      }
    } go_home{w, *this};
    w.recipe = prepare_;
    if (!before_.empty()) {
      failed_ = RunSteps(w, before_, &results_, timing_.Steps());
      if (failed_ >= 0) return;
    }
    const int64_t entering = NowNs();
    try {
      std::optional<Worker::Spare> spare = std::move(w.spare);
      w.spare.reset();
      bool ready = spare && SameSteps(spare->recipe, prepare_);
      CreateNetnsHere(create_, ready ? spare->ns.Get() : -1);
      self_.Reset(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
      if (!self_.Valid()) ThrowErrno("open", "/proc/thread-self/ns/net");
      if (ready && spare->route) w.sockets.emplace(NETLINK_ROUTE, std::move(spare->route));
      if (ready) w.ipv6_conf = std::move(spare->ipv6_conf);
      if (!ready) {
        RunPrepared(w, prepare_);
        w.ipv6_conf = OpenIpv6Conf(w);
      }
    } catch (const SysError& e) {
      enter_error_ = e;
      failed_ = static_cast<int>(before_.size());
      return;
    }
    timing_.netns_ns = NowNs() - entering;
    std::vector<Transaction> after;
    int failed = RunSteps(w, *steps_, &after, timing_.Steps());
    if (failed >= 0) failed_ = static_cast<int>(before_.size()) + failed;
    for (Transaction& t : after) results_.push_back(std::move(t));
  }

  UniqueFd target_;
  std::string create_;
  UniqueFd outer_ns_;
  std::vector<int> outer_;
  std::vector<Step> before_;
  std::optional<std::vector<Step>> steps_;
  bool close_after_;
  bool reuse_;
  uint32_t hold_;
  std::vector<Step> prepare_;
  std::vector<Transaction> results_;
  int failed_ = -1;
  std::optional<SysError> enter_error_;
  UniqueFd self_;
  Timing timing_;
};

// The second half of a builder's job entered with `hold`: its steps run in
// the sandbox's namespace, then the thread goes home. When the first half
// did not hold (it failed, or the handle never held), nothing runs.
class ReleaseJob : public PromiseJob {
 public:
  ReleaseJob(Napi::Env env, uint32_t token, std::vector<Step> steps, bool timing)
      : PromiseJob(env), token_(token), steps_(std::move(steps)) {
    timing_.on = timing;
  }
  uint32_t Releases() const override { return token_; }
  void Run(Worker& w) override {
    timing_.Started(*this);
    if (w.held == 0 || w.held != token_) return;
    held_ = true;
    struct Return {
      Worker& w;
      ~Return() { GoHome(w); }
    } go_home{w};
    failed_ = RunSteps(w, steps_, &results_, timing_.Steps());
  }

 protected:
  Napi::Value Result(Napi::Env env) override {
    Napi::Object o = StepResults(env, steps_, results_, failed_).As<Napi::Object>();
    o.Set("held", held_);
    timing_.Set(env, o);
    return o;
  }

 private:
  uint32_t token_;
  std::vector<Step> steps_;
  std::vector<Transaction> results_;
  int failed_ = -1;
  bool held_ = false;
  Timing timing_;
};

class SequenceJob : public PromiseJob {
 public:
  SequenceJob(Napi::Env env, std::vector<Step> steps) : PromiseJob(env), steps_(std::move(steps)) {}
  void Run(Worker& w) override { failed_ = RunSteps(w, steps_, &results_); }

 protected:
  Napi::Value Result(Napi::Env env) override { return StepResults(env, steps_, results_, failed_); }

 private:
  std::vector<Step> steps_;
  std::vector<Transaction> results_;
  int failed_ = -1;
};

class TransactJob : public PromiseJob {
 public:
  TransactJob(Napi::Env env, int protocol, std::vector<uint8_t> batch, int rcvbuf)
      : PromiseJob(env), protocol_(protocol), batch_(std::move(batch)), rcvbuf_(rcvbuf) {}

  void Run(Worker& w) override {
    try {
      w.Socket(protocol_).Transact(batch_, &txn_, rcvbuf_);
    } catch (const SysError&) {
      // Replies may still be queued, or a dump still running, on the socket
      // (a receive queue overrun): the next request gets a fresh one.
      w.sockets.erase(protocol_);
      throw;
    }
  }

 protected:
  Napi::Value Result(Napi::Env env) override { return DecodeTransaction(env, protocol_, txn_); }

 private:
  int protocol_;
  std::vector<uint8_t> batch_;
  int rcvbuf_;
  Transaction txn_;
};

class DumpJob : public PromiseJob {
 public:
  DumpJob(Napi::Env env, uint32_t stream, int protocol, std::optional<std::vector<uint8_t>> request, size_t budget)
      : PromiseJob(env), stream_(stream), protocol_(protocol), request_(std::move(request)), budget_(budget) {}

  void Run(Worker& w) override {
    auto it = w.streams.find(stream_);
    if (request_) {
      if (it != w.streams.end()) w.streams.erase(it);  // a new dump under an old id: the old one is dropped
      it = w.streams.emplace(stream_, std::make_unique<NetlinkSocket>(protocol_)).first;
    } else if (it == w.streams.end() || !it->second->DumpActive()) {
      throw SysError(EINVAL, "dump", "no dump in progress");
    }
    try {
      if (request_) it->second->DumpBegin(*request_);
      done_ = it->second->DumpRead(budget_, &txn_);
    } catch (...) {
      w.streams.erase(stream_);
      throw;
    }
    if (done_) w.streams.erase(stream_);
  }

 protected:
  Napi::Value Result(Napi::Env env) override {
    Napi::Object out = DecodeTransaction(env, protocol_, txn_);
    out.Set("done", Napi::Boolean::New(env, done_));
    return out;
  }

 private:
  uint32_t stream_;
  int protocol_;
  std::optional<std::vector<uint8_t>> request_;
  size_t budget_;
  Transaction txn_;
  bool done_ = false;
};

// A consumer that stopped early: closing the stream's socket ends the
// kernel's side of the dump, with nothing to drain.
class DumpAbortJob : public PromiseJob {
 public:
  DumpAbortJob(Napi::Env env, uint32_t stream) : PromiseJob(env), stream_(stream) {}
  void Run(Worker& w) override { w.streams.erase(stream_); }

 private:
  uint32_t stream_;
};

class WriteFileJob : public PromiseJob {
 public:
  WriteFileJob(Napi::Env env, std::string path, std::string data)
      : PromiseJob(env), path_(std::move(path)), data_(std::move(data)) {}
  void Run(Worker& w) override { WriteFileHere(w, path_, data_, false); }

 private:
  std::string path_, data_;
};

class ReadFileJob : public PromiseJob {
 public:
  ReadFileJob(Napi::Env env, std::string path) : PromiseJob(env), path_(std::move(path)) {}
  void Run(Worker&) override {
    UniqueFd fd(::open(path_.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.Valid()) ThrowErrno("open", path_);
    char buf[4096];
    for (;;) {
      ssize_t n = ::read(fd.Get(), buf, sizeof(buf));
      if (n < 0) ThrowErrno("read", path_);
      if (n == 0) break;
      data_.append(buf, static_cast<size_t>(n));
    }
  }

 protected:
  Napi::Value Result(Napi::Env env) override { return Napi::String::New(env, data_); }

 private:
  std::string path_, data_;
};

// tun/tap devices come from an ioctl on /dev/net/tun (RTM_NEWLINK refuses
// kind "tun"); the device is born in the namespace of the opening thread.
// Is a host process using these ports? One bind each, as the namespace sees
// it: TCP with SO_REUSEADDR (so only a listener, not TIME_WAIT leftovers,
// makes it fail), UDP without (any bound socket makes it fail). Cheaper than
// reading /proc/net/tcp, which walks the whole socket hash table.
class ProbePortsJob : public PromiseJob {
 public:
  ProbePortsJob(Napi::Env env, std::vector<PortProbe> probes) : PromiseJob(env), probes_(std::move(probes)) {}
  void Run(Worker&) override {
    for (PortProbe& p : probes_) p.result = ProbePort(p);
  }

 protected:
  Napi::Value Result(Napi::Env env) override {
    Napi::Array out = Napi::Array::New(env, probes_.size());
    for (size_t i = 0; i < probes_.size(); i++) {
      const PortProbe& p = probes_[i];
      out.Set(static_cast<uint32_t>(i), p.result == 0 ? env.Null() : Napi::String::New(env, ErrnoName(p.result)));
    }
    return out;
  }

 private:
  std::vector<PortProbe> probes_;
};

class TunJob : public PromiseJob {
 public:
  TunJob(Napi::Env env, std::string name, bool tap, bool multi_queue, int64_t owner, int64_t group)
      : PromiseJob(env), name_(std::move(name)), tap_(tap), multi_queue_(multi_queue), owner_(owner), group_(group) {}
  void Run(Worker&) override {
    UniqueFd fd(::open("/dev/net/tun", O_RDWR | O_CLOEXEC));
    if (!fd.Valid()) ThrowErrno("open", "/dev/net/tun");
    ifreq ifr{};
    std::strncpy(ifr.ifr_name, name_.c_str(), IFNAMSIZ - 1);
    ifr.ifr_flags = static_cast<short>((tap_ ? IFF_TAP : IFF_TUN) | IFF_NO_PI | (multi_queue_ ? IFF_MULTI_QUEUE : 0));
    if (::ioctl(fd.Get(), TUNSETIFF, &ifr) != 0) ThrowErrno("ioctl", "TUNSETIFF " + name_);
    if (owner_ >= 0 && ::ioctl(fd.Get(), TUNSETOWNER, static_cast<unsigned long>(owner_)) != 0) {
      ThrowErrno("ioctl", "TUNSETOWNER");
    }
    if (group_ >= 0 && ::ioctl(fd.Get(), TUNSETGROUP, static_cast<unsigned long>(group_)) != 0) {
      ThrowErrno("ioctl", "TUNSETGROUP");
    }
    if (::ioctl(fd.Get(), TUNSETPERSIST, 1UL) != 0) ThrowErrno("ioctl", "TUNSETPERSIST");
  }

 private:
  std::string name_;
  bool tap_, multi_queue_;
  int64_t owner_, group_;
};

class SubscribeJob : public PromiseJob {
 public:
  SubscribeJob(Napi::Env env, int protocol, std::vector<uint32_t> groups, std::vector<uint16_t> types)
      : PromiseJob(env), protocol_(protocol), groups_(std::move(groups)), types_(std::move(types)) {}
  void Run(Worker& w) override {
    auto s = std::make_unique<NetlinkSocket>(protocol_);
    s->KeepTypes(types_);  // before joining: nothing unwanted is ever queued
    for (uint32_t g : groups_) s->Join(g);
    w.monitor = std::move(s);
  }

 private:
  int protocol_;
  std::vector<uint32_t> groups_;
  std::vector<uint16_t> types_;
};

class UnsubscribeJob : public PromiseJob {
 public:
  using PromiseJob::PromiseJob;
  void Run(Worker& w) override { w.monitor.reset(); }
};

// Notifications read by the thread, delivered to the monitor callback.
class EventJob : public Job {
 public:
  void Run(Worker&) override {}
  void Settle(Napi::Env env, HandleMain& main) override {
    if (!main.monitoring || main.monitor_cb.IsEmpty()) return;
    Napi::Value err = env.Null();
    Napi::Value messages = env.Null();
    try {
      if (error) {
        err = MakeSystemError(env, *error).Value();
      } else {
        messages = DecodeTransaction(env, main.monitor_protocol, txn).Get("messages");
      }
      main.monitor_cb.Call({err, messages});
    } catch (const Napi::Error& e) {
      // An exception thrown by the callback must not kill the process from
      // inside a thread-safe call; report it like Node reports it.
      napi_fatal_exception(env, e.Value());
    }
  }
  Transaction txn;
};

class CloseJob : public PromiseJob {
 public:
  using PromiseJob::PromiseJob;
  bool Closes() const override { return true; }
  void Run(Worker& w) override {
    w.monitor.reset();
    w.sockets.clear();
    w.streams.clear();
    w.outer.clear();
    w.stop = true;
  }
};

// Close requested by the garbage collector: nobody awaits it.
class SilentCloseJob : public Job {
 public:
  bool Closes() const override { return true; }
  void Run(Worker& w) override {
    w.monitor.reset();
    w.sockets.clear();
    w.streams.clear();
    w.outer.clear();
    w.stop = true;
  }
  void Settle(Napi::Env, HandleMain&) override {}
};

void HandleMain::Finalize(Napi::Env env, void*, std::shared_ptr<HandleMain>* ctx) {
  std::shared_ptr<HandleMain> main = std::move(*ctx);
  delete ctx;
  main->finalized = true;
  // The thread has let go of everything shared but the memory: give the
  // eventfd back now, not when the JS object is collected.
  main->shared->wake.Reset();
  if (main->hooked) {
    napi_remove_env_cleanup_hook(env, CleanupHook, main.get());
    main->hooked = false;
  }
  // At teardown nobody is left to read the result.
  if (main->closing && !main->tearing_down) {
    std::unique_ptr<Job> job = std::move(main->closing);
    job->Settle(env, *main);
  }
}

// Environment teardown (process exit, worker_thread end) with the handle
// still open: stop the thread and wait for it, before the thread-safe
// function it holds is destroyed.
void HandleMain::CleanupHook(void* arg) {
  auto* main = static_cast<HandleMain*>(arg);
  main->hooked = false;
  main->tearing_down = true;
  if (!main->started) {
    main->ReleaseUnserved();
    return;
  }
  main->shared->stop_requested = true;
  main->shared->Push(nullptr);
  main->shared->WaitReleased();
}

// ---- the thread --------------------------------------------------------------

namespace {

void Post(Tsfn& tsfn, Job* job) {
  if (tsfn.NonBlockingCall(job) != napi_ok) delete job;  // environment is going away
}

// Serves one handle on a pooled thread until it closes.
void ServeHandle(const std::shared_ptr<HandleShared>& shared, Tsfn tsfn) {
  // Destroyed before the function is released below: close() settles once
  // it is, and by then the thread's sockets, the namespace it made ahead
  // and its other fds are closed (a caller may delete the namespace or count
  // its fds next).
  auto worker = std::make_unique<Worker>();
  Worker& w = *worker;
  // The result of an enter that holds its sandbox, when the release was
  // already queued: it is posted with the release's, once the hold ends.
  // Each post wakes the event loop, and on a small VM a cross-CPU wakeup
  // costs the poster ~30 us and the loop ~100 us before it runs (measured
  // with timestamps around Post and CallJs): one wakeup per sandbox, not two.
  // A caller that waits for the enter before releasing gets it at once, as
  // the release is not queued then.
  Job* parked = nullptr;
  while (!w.stop) {
    if (w.recipe && !w.spare && !w.broken && !w.held) {
      bool idle;
      {
        std::lock_guard<std::mutex> lock(shared->mu);
        idle = shared->queue.empty();
      }
      if (idle) MakeSpare(w);
    }
    pollfd fds[2] = {{shared->wake.Get(), POLLIN, 0}, {-1, POLLIN, 0}};
    if (w.monitor) fds[1].fd = w.monitor->Fd();
    if (::poll(fds, w.monitor ? 2 : 1, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[1].fd >= 0 && (fds[1].revents & (POLLIN | POLLERR)) != 0) {
      auto* ev = new EventJob();
      try {
        // Drain what is queued, in chunks of reasonable size.
        while (ev->txn.data.size() < 256 * 1024 && w.monitor->ReadEvents(&ev->txn)) {
        }
      } catch (const SysError& e) {
        ev->error = e;  // ENOBUFS: events were lost; the consumer must know
      }
      if (ev->error || !ev->txn.received.empty()) {
        Post(tsfn, ev);
      } else {
        delete ev;
      }
    }
    if ((fds[0].revents & POLLIN) == 0) continue;
    uint64_t n;
    ssize_t r = ::read(shared->wake.Get(), &n, sizeof(n));
    (void)r;

    for (;;) {
      Job* job = nullptr;
      {
        std::lock_guard<std::mutex> lock(shared->mu);
        auto it = shared->queue.begin();
        // Holding a sandbox, the thread takes its release first; what was
        // queued behind the holding job waits, other sandboxes' releases too
        // (queue order puts a release after its own enter). A close queued
        // before the release ends the hold instead: the handle refuses the
        // release from then on, so the thread goes home and serves the queue
        // in order, the close last.
        if (w.held != 0 && !shared->stop_requested) {
          auto r = it;
          while (r != shared->queue.end() && *r != nullptr && (*r)->Releases() != w.held && !(*r)->Closes()) ++r;
          if (r != shared->queue.end() && *r != nullptr && (*r)->Closes()) {
            GoHome(w);
          } else {
            it = r;
          }
        }
        if (it == shared->queue.end()) break;
        job = *it;
        shared->queue.erase(it);
        w.others_waiting = !shared->queue.empty();
      }
      if (shared->stop_requested) {
        // The environment is going away: nobody will read results.
        delete job;
        w.stop = true;
        continue;
      }
      const uint32_t held_before = w.held;
      if (w.broken && !job->Closes()) {
        job->error = SysError(EBADF, "handle", "the handle failed to enter its namespace");
      } else {
        try {
          job->Run(w);
        } catch (const SysError& e) {
          job->error = e;
        } catch (const std::exception& e) {
          job->error = SysError(EIO, "internal", e.what());
        }
      }
      if (held_before == 0 && w.held != 0 && parked == nullptr && shared->ReleaseQueued(w.held)) {
        parked = job;
        continue;
      }
      if (parked != nullptr && w.held == 0) {
        Post(tsfn, parked);
        parked = nullptr;
      }
      Post(tsfn, job);
    }
  }
  if (parked != nullptr) {
    if (shared->stop_requested) {
      delete parked;
    } else {
      Post(tsfn, parked);
    }
  }
  worker.reset();
  tsfn.Release();
  shared->MarkReleased();
}

std::string StringArg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (!info[i].IsString()) ThrowTypeError(info.Env(), std::string(name) + " must be a string");
  return info[i].As<Napi::String>().Utf8Value();
}

int ProtocolArg(const Napi::CallbackInfo& info) {
  if (!info[0].IsNumber()) ThrowTypeError(info.Env(), "protocol must be a number");
  return info[0].As<Napi::Number>().Int32Value();
}

std::vector<uint8_t> BufferArg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (!info[i].IsBuffer()) ThrowTypeError(info.Env(), std::string(name) + " must be a Buffer");
  auto b = info[i].As<Napi::Buffer<uint8_t>>();
  return std::vector<uint8_t>(b.Data(), b.Data() + b.Length());
}

}  // namespace

void CallJs(Napi::Env env, Napi::Function, std::shared_ptr<HandleMain>* ctx, Job* job) {
  std::unique_ptr<Job> owned(job);
  if (env == nullptr || ctx == nullptr) return;
  if (job->Closes()) {
    // Settled by Finalize, once the thread has let go of the function.
    (*ctx)->closing = std::move(owned);
    return;
  }
  job->Settle(env, **ctx);
}

// ---- JS class ------------------------------------------------------------------

Napi::Function Handle::Init(Napi::Env env) {
  return DefineClass(env, "Handle",
                     {
                         InstanceMethod<&Handle::Enter>("enter"),
                         InstanceMethod<&Handle::Transact>("transact"),
                         InstanceMethod<&Handle::Sequence>("sequence"),
                         InstanceMethod<&Handle::Release>("release"),
                         InstanceMethod<&Handle::Dump>("dump"),
                         InstanceMethod<&Handle::WriteFile>("writeFile"),
                         InstanceMethod<&Handle::ReadFile>("readFile"),
                         InstanceMethod<&Handle::CreateTun>("createTun"),
                         InstanceMethod<&Handle::ProbePorts>("probePorts"),
                         InstanceMethod<&Handle::Subscribe>("subscribe"),
                         InstanceMethod<&Handle::Unsubscribe>("unsubscribe"),
                         InstanceMethod<&Handle::Close>("close"),
                     });
}

Handle::Handle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Handle>(info) {
  Napi::Env env = info.Env();
  shared_ = std::make_shared<HandleShared>();
  if (!shared_->wake.Valid()) throw MakeSystemError(env, SysError(errno, "eventfd"));
  main_ = std::make_shared<HandleMain>();
  auto* ctx = new std::shared_ptr<HandleMain>(main_);
  main_->tsfn = Tsfn::New(env, "netplumb.Handle", 0, 1, ctx, HandleMain::Finalize);
  main_->tsfn.Unref(env);
  main_->shared = shared_;
  if (napi_add_env_cleanup_hook(env, HandleMain::CleanupHook, main_.get()) == napi_ok) main_->hooked = true;
}

bool HandleMain::Start() {
  if (started) return true;
  std::shared_ptr<HandleShared> s = shared;
  Tsfn t = tsfn;
  try {
    RunOnPooledThread([s, t] { ServeHandle(s, t); });
  } catch (const std::system_error&) {
    return false;
  }
  started = true;
  return true;
}

void HandleMain::ReleaseUnserved() {
  if (started || released_unserved) return;
  released_unserved = true;
  tsfn.Release();
  shared->MarkReleased();
}

Handle::~Handle() {
  // Collected without close(): stop the thread; it closes its sockets itself.
  if (!main_->closed) {
    main_->closed = true;
    if (main_->started) {
      shared_->Push(new SilentCloseJob());
    } else {
      main_->ReleaseUnserved();
    }
  }
  main_->monitor_cb.Reset();
}

namespace {

template <typename J>
Napi::Value Submit(Napi::Env env, HandleShared& shared, HandleMain& main, J* job) {
  if (main.closed) {
    Napi::Promise::Deferred d = Napi::Promise::Deferred::New(env);
    d.Reject(MakeSystemError(env, SysError(EBADF, "handle", "the handle is closed")).Value());
    delete job;
    return d.Promise();
  }
  Napi::Promise p = job->Promise();
  main.pending++;
  main.UpdateRef(env);
  shared.Push(job);  // before the thread starts: its first look finds the job
  if (!main.Start()) {
    // No thread to be had: nothing ran, and the job is the only one queued.
    {
      std::lock_guard<std::mutex> lock(shared.mu);
      shared.queue.clear();
    }
    job->error = SysError(EAGAIN, "pthread_create", "no thread to serve the netlink handle");
    job->Settle(env, main);
    delete job;
  }
  return p;
}

}  // namespace

namespace {

std::vector<Step> StepsArg(Napi::Env env, Napi::Value v) {
  if (!v.IsArray()) ThrowTypeError(env, "steps must be an array");
  Napi::Array arr = v.As<Napi::Array>();
  std::vector<Step> steps;
  steps.reserve(arr.Length());
  for (uint32_t i = 0; i < arr.Length(); i++) {
    Napi::Value e = arr.Get(i);
    if (!e.IsObject()) ThrowTypeError(env, "steps[" + std::to_string(i) + "] must be an object");
    Napi::Object o = e.As<Napi::Object>();
    Napi::Value fs = o.Get("fs");
    const bool aside = o.Get("aside").ToBoolean().Value();
    if (aside && fs.IsUndefined())
      ThrowTypeError(env, "steps[" + std::to_string(i) + "].aside: only file operations (fs) run aside");
    if (!fs.IsUndefined()) {
      Step st{0, false, {}, {}, {}, ParseFsOp(env, fs, "steps[" + std::to_string(i) + "].fs"), {}, aside};
      steps.push_back(std::move(st));
      continue;
    }
    Napi::Value pr = o.Get("probe");
    if (!pr.IsUndefined()) {
      Step st{0,    false, {}, {}, {}, {}, ParseProbe(JsSpec(env).Of(pr, "steps[" + std::to_string(i) + "].probe")),
              false};
      steps.push_back(std::move(st));
      continue;
    }
    Napi::Value wp = o.Get("write");
    if (wp.IsString()) {
      Napi::Value wd = o.Get("data");
      if (!wd.IsString()) ThrowTypeError(env, "steps[" + std::to_string(i) + "].data must be a string");
      steps.push_back(Step{0,
                           o.Get("outer").ToBoolean().Value(),
                           {},
                           wp.As<Napi::String>().Utf8Value(),
                           wd.As<Napi::String>().Utf8Value(),
                           {},
                           {},
                           false});
      continue;
    }
    Napi::Value p = o.Get("protocol");
    Napi::Value b = o.Get("batch");
    if (!p.IsNumber() || !b.IsBuffer())
      ThrowTypeError(env, "steps[" + std::to_string(i) + "] needs protocol and batch");
    auto buf = b.As<Napi::Buffer<uint8_t>>();
    steps.push_back(Step{p.As<Napi::Number>().Int32Value(),
                         o.Get("outer").ToBoolean().Value(),
                         std::vector<uint8_t>(buf.Data(), buf.Data() + buf.Length()),
                         {},
                         {},
                         {},
                         {},
                         false});
  }
  return steps;
}

}  // namespace

Napi::Value Handle::Release(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber()) ThrowTypeError(env, "token must be a number");
  uint32_t token = info[0].As<Napi::Number>().Uint32Value();
  return Submit(env, *shared_, *main_, new ReleaseJob(env, token, StepsArg(env, info[1]), info[2].ToBoolean().Value()));
}

Napi::Value Handle::Sequence(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Submit(env, *shared_, *main_, new SequenceJob(env, StepsArg(env, info[0])));
}

Napi::Value Handle::Enter(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  UniqueFd target;
  UniqueFd outer_ns;
  std::string create;
  std::vector<int> outer;
  std::optional<std::vector<Step>> steps;
  bool close_after = false;
  bool reuse = false;
  bool timing = false;
  uint32_t hold = 0;
  std::vector<Step> before;
  std::vector<Step> prepare;
  if (info[0].IsObject()) {
    Napi::Object opts = info[0].As<Napi::Object>();
    Napi::Value ns = opts.Get("netns");
    if (!ns.IsUndefined() && !ns.IsNull()) {
      NsFd* fd = NsFd::Unwrap(ns);
      if (fd == nullptr || fd->Fd() < 0) ThrowTypeError(env, "netns must be an open NsFd");
      target = DupFd(fd->Fd());
      if (!target.Valid()) throw MakeSystemError(env, SysError(errno, "dup"));
    }
    Napi::Value ons = opts.Get("outerNetns");
    if (!ons.IsUndefined() && !ons.IsNull()) {
      NsFd* fd = NsFd::Unwrap(ons);
      if (fd == nullptr || fd->Fd() < 0) ThrowTypeError(env, "outerNetns must be an open NsFd");
      outer_ns = DupFd(fd->Fd());
      if (!outer_ns.Valid()) throw MakeSystemError(env, SysError(errno, "dup"));
    }
    Napi::Value c = opts.Get("create");
    if (c.IsString()) create = c.As<Napi::String>().Utf8Value();
    Napi::Value o = opts.Get("outer");
    if (o.IsArray()) {
      Napi::Array arr = o.As<Napi::Array>();
      for (uint32_t i = 0; i < arr.Length(); i++) outer.push_back(arr.Get(i).As<Napi::Number>().Int32Value());
    }
    Napi::Value st = opts.Get("steps");
    if (!st.IsUndefined() && !st.IsNull()) steps = StepsArg(env, st);
    close_after = opts.Get("close").ToBoolean().Value();
    Napi::Value bf = opts.Get("before");
    if (!bf.IsUndefined() && !bf.IsNull()) before = StepsArg(env, bf);
    reuse = opts.Get("reuse").ToBoolean().Value();
    timing = opts.Get("timing").ToBoolean().Value();
    Napi::Value hv = opts.Get("hold");
    if (!hv.IsUndefined()) {
      if (!hv.IsNumber() || hv.As<Napi::Number>().DoubleValue() < 1 || hv.As<Napi::Number>().DoubleValue() > 0xffffffff)
        ThrowTypeError(env, "hold must be a token from 1 to 2^32-1");
      hold = hv.As<Napi::Number>().Uint32Value();
    }
    Napi::Value pr = opts.Get("prepare");
    if (!pr.IsUndefined() && !pr.IsNull()) prepare = StepsArg(env, pr);
  }
  if (reuse && (create.empty() || !steps || close_after || target.Valid()))
    ThrowTypeError(env, "reuse needs create and steps, and neither netns nor close");
  if (hold != 0 && !reuse) ThrowTypeError(env, "hold needs reuse");
  Napi::Value p =
      Submit(env, *shared_, *main_,
             new EnterJob(env, std::move(target), std::move(create), std::move(outer_ns), std::move(outer),
                          std::move(before), std::move(steps), close_after, reuse, hold, std::move(prepare), timing));
  // The handle takes no more work after a job that closes it.
  if (close_after) main_->closed = true;
  return p;
}

Napi::Value Handle::Transact(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int protocol = ProtocolArg(info);
  std::vector<uint8_t> batch = BufferArg(info, 1, "batch");
  int rcvbuf = 0;  // options.rcvbuf: a fixed receive buffer for this batch (tests)
  if (info[2].IsObject()) {
    Napi::Value v = info[2].As<Napi::Object>().Get("rcvbuf");
    if (!v.IsUndefined()) {
      const double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;
      if (!(d >= 1 && d <= INT32_MAX / 2)) ThrowTypeError(env, "rcvbuf must be a byte count from 1 to 2^30-1");
      rcvbuf = static_cast<int>(d);
    }
  }
  return Submit(env, *shared_, *main_, new TransactJob(env, protocol, std::move(batch), rcvbuf));
}

Napi::Value Handle::Dump(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int protocol = ProtocolArg(info);
  if (!info[4].IsNumber()) ThrowTypeError(env, "stream must be a number");
  const uint32_t stream = info[4].As<Napi::Number>().Uint32Value();
  std::optional<std::vector<uint8_t>> request;
  if (!info[1].IsNull() && !info[1].IsUndefined()) request = BufferArg(info, 1, "request");
  size_t budget = info[2].IsNumber() ? info[2].As<Napi::Number>().Uint32Value() : 256 * 1024;
  if (info[3].IsBoolean() && info[3].As<Napi::Boolean>().Value()) {
    return Submit(env, *shared_, *main_, new DumpAbortJob(env, stream));
  }
  return Submit(env, *shared_, *main_, new DumpJob(env, stream, protocol, std::move(request), budget));
}

Napi::Value Handle::WriteFile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = StringArg(info, 0, "path");
  std::string data = StringArg(info, 1, "data");
  return Submit(env, *shared_, *main_, new WriteFileJob(env, std::move(path), std::move(data)));
}

Napi::Value Handle::ReadFile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Submit(env, *shared_, *main_, new ReadFileJob(env, StringArg(info, 0, "path")));
}

Napi::Value Handle::ProbePorts(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsArray()) ThrowTypeError(env, "probes must be an array");
  Napi::Array arr = info[0].As<Napi::Array>();
  std::vector<PortProbe> probes;
  for (uint32_t i = 0; i < arr.Length(); i++) {
    probes.push_back(ParseProbe(JsSpec(env).Of(arr.Get(i), "probes[" + std::to_string(i) + "]")));
  }
  return Submit(env, *shared_, *main_, new ProbePortsJob(env, std::move(probes)));
}

Napi::Value Handle::CreateTun(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject()) ThrowTypeError(env, "tun spec must be an object");
  Napi::Object o = info[0].As<Napi::Object>();
  Napi::Value name = o.Get("name");
  if (!name.IsString()) ThrowTypeError(env, "name must be a string");
  auto num = [&](const char* key) -> int64_t {
    Napi::Value v = o.Get(key);
    return v.IsNumber() ? v.As<Napi::Number>().Int64Value() : -1;
  };
  bool tap = o.Get("tap").ToBoolean();
  bool mq = o.Get("multiQueue").ToBoolean();
  return Submit(env, *shared_, *main_,
                new TunJob(env, name.As<Napi::String>().Utf8Value(), tap, mq, num("owner"), num("group")));
}

Napi::Value Handle::Subscribe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int protocol = ProtocolArg(info);
  if (!info[1].IsArray()) ThrowTypeError(env, "groups must be an array of numbers");
  if (!info[2].IsFunction()) ThrowTypeError(env, "callback must be a function");
  if (main_->monitoring) ThrowTypeError(env, "this handle already has a subscription");
  Napi::Array arr = info[1].As<Napi::Array>();
  std::vector<uint32_t> groups;
  for (uint32_t i = 0; i < arr.Length(); i++) groups.push_back(arr.Get(i).As<Napi::Number>().Uint32Value());
  // Optional: the nlmsg_types to keep (the kernel drops the rest).
  std::vector<uint16_t> types;
  if (info.Length() > 3 && !info[3].IsUndefined()) {
    if (!info[3].IsArray()) ThrowTypeError(env, "types must be an array of message types");
    Napi::Array t = info[3].As<Napi::Array>();
    if (t.Length() > 64) ThrowTypeError(env, "types: at most 64 message types");
    for (uint32_t i = 0; i < t.Length(); i++) {
      uint32_t v = t.Get(i).As<Napi::Number>().Uint32Value();
      if (v > 0xffff) ThrowTypeError(env, "types: a message type is 16 bits");
      types.push_back(static_cast<uint16_t>(v));
    }
  }
  Napi::Value p = Submit(env, *shared_, *main_, new SubscribeJob(env, protocol, std::move(groups), std::move(types)));
  if (!main_->closed) {
    main_->monitoring = true;
    main_->monitor_protocol = protocol;
    main_->monitor_cb = Napi::Persistent(info[2].As<Napi::Function>());
    main_->UpdateRef(env);
  }
  return p;
}

Napi::Value Handle::Unsubscribe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  main_->monitoring = false;
  main_->monitor_cb.Reset();
  main_->UpdateRef(env);
  return Submit(env, *shared_, *main_, new UnsubscribeJob(env));
}

Napi::Value Handle::Close(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (main_->closed) {
    Napi::Promise::Deferred d = Napi::Promise::Deferred::New(env);
    d.Resolve(env.Undefined());
    return d.Promise();
  }
  main_->monitoring = false;
  main_->monitor_cb.Reset();
  if (!main_->started) {
    // Never served: no thread to stop, no socket to close.
    main_->closed = true;
    main_->UpdateRef(env);
    main_->ReleaseUnserved();
    Napi::Promise::Deferred d = Napi::Promise::Deferred::New(env);
    d.Resolve(env.Undefined());
    return d.Promise();
  }
  auto* job = new CloseJob(env);
  Napi::Value p = Submit(env, *shared_, *main_, job);
  main_->closed = true;
  return p;
}

}  // namespace netplumb
