// Handle: one dedicated thread living in one network namespace, owning the
// netlink sockets opened there (one per protocol, created on first use) and
// serving requests from JS in order. Results return to the event loop through
// a ThreadSafeFunction; the event loop itself never waits on the kernel.
//
// The thread enters its namespace once (setns, or unshare for a new one) and
// never serves another namespace; it is never a libuv pool thread.
#pragma once

#include <napi.h>

#include <memory>

namespace netplumb {

struct HandleShared;
struct HandleMain;

class Handle : public Napi::ObjectWrap<Handle> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit Handle(const Napi::CallbackInfo& info);
  ~Handle() override;

 private:
  // enter({ netns?: NsFd, create?: string, outerNetns?: NsFd, outer?: number[], steps? }):
  // Promise<NsFd> (or { ns, results, failed } with steps); must come first.
  // `outer` opens sockets in the starting namespace (or in `outerNetns`, which
  // the thread enters first) before entering; `steps` run right after. A
  // builder's job (`reuse`) with `hold` stays in the new namespace after
  // steps that went well, for `release` to finish.
  Napi::Value Enter(const Napi::CallbackInfo& info);
  // sequence(steps: { protocol, outer?, batch }[]): Promise<{ results, failed }>
  // Runs each step's batch in order in one job, stopping after a failure.
  Napi::Value Sequence(const Napi::CallbackInfo& info);
  // release(steps): Promise<{ results, failed, held }> — after an enter with
  // `hold`: runs the steps in the held namespace and goes home; `held` false
  // (nothing ran) when the enter failed or did not hold.
  Napi::Value Release(const Napi::CallbackInfo& info);
  // transact(protocol, batch: Buffer): Promise<Transaction>
  Napi::Value Transact(const Napi::CallbackInfo& info);
  // dump(protocol, request: Buffer | null, budget): Promise<DumpChunk>
  Napi::Value Dump(const Napi::CallbackInfo& info);
  // writeFile(path, data) / readFile(path): /proc/sys as this namespace sees it.
  Napi::Value WriteFile(const Napi::CallbackInfo& info);
  Napi::Value ReadFile(const Napi::CallbackInfo& info);
  // probePorts([{ protocol, addr?: Buffer, port }]): Promise<(null | errno name)[]>
  Napi::Value ProbePorts(const Napi::CallbackInfo& info);
  // createTun({ name, tap, owner?, group?, multiQueue? }): Promise<void>
  Napi::Value CreateTun(const Napi::CallbackInfo& info);
  // subscribe(protocol, groups: number[], cb(err, messages)): Promise<void>
  Napi::Value Subscribe(const Napi::CallbackInfo& info);
  Napi::Value Unsubscribe(const Napi::CallbackInfo& info);
  // close(): Promise<void>; idempotent.
  Napi::Value Close(const Napi::CallbackInfo& info);

  std::shared_ptr<HandleShared> shared_;
  std::shared_ptr<HandleMain> main_;
};

}  // namespace netplumb
