/**
 * What keeps the operations of every engine sharing a state directory, in
 * this process or in others, out of each other's way:
 *
 *   locks/ops        flock. An engine holds it shared while any of its
 *                    operations on sandboxes is in flight (createSandbox,
 *                    connect, disconnect, removeSandbox); prune holds it
 *                    exclusive, so it never sees half an operation. One
 *                    open file per engine, locked when its count of
 *                    operations in flight goes from 0 to 1 and unlocked
 *                    when it goes back to 0.
 *   locks/ops.gate   flock. A prune holds it exclusive from before it asks
 *                    for locks/ops until it is done. An engine lets no new
 *                    operation start while it is held (it tries it shared
 *                    at each start), so operations that keep overlapping
 *                    cannot starve a prune.
 *   locks/ops.waiting
 *                    flock. An engine holds it shared while operations of
 *                    its own wait for a prune to end; a prune takes the
 *                    gate only when it can take this one exclusive, so
 *                    prunes run back to back cannot starve operations.
 *
 * Every lock is tried without waiting, on the event loop's thread (a try is
 * one syscall on a file opened beforehand, on the pool); a conflict is
 * waited out with short timers.
 */
import type { LockFileNative } from '../binding';
import type { StateStore } from './state';

const RETRY_MS = [1, 2, 5, 10, 20, 50];
const TIMEOUT_MS = 60_000;

interface Files {
  ops: LockFileNative;
  gate: LockFileNative;
  waiting: LockFileNative;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const backoff = (attempt: number): number => RETRY_MS[Math.min(attempt, RETRY_MS.length - 1)]!;

interface Waiter {
  resolve: () => void;
  reject: (err: Error) => void;
  since: number;
}

/** An engine's side of the locks above. */
export class OperationLocks {
  private files: Files | undefined;
  /** operations of this engine let in (holding locks/ops shared while > 0) */
  private admitted = 0;
  /** operations waiting to be let in while a prune runs, in order */
  private readonly queue: Waiter[] = [];
  private timer: NodeJS.Timeout | undefined;
  private attempt = 0;
  /** whether this engine holds locks/ops.waiting (shared) */
  private waitingHeld = false;
  constructor(private readonly state: StateStore) {}

  /** Opens the lock files (on the pool); after StateStore.init. */
  async open(): Promise<void> {
    const opened: LockFileNative[] = [];
    try {
      for (const name of ['ops', 'ops.gate', 'ops.waiting'])
        opened.push(await this.state.openLockFile(name));
    } catch (err) {
      for (const f of opened) f.close();
      throw err;
    }
    const [ops, gate, waiting] = opened as [LockFileNative, LockFileNative, LockFileNative];
    this.files = { ops, gate, waiting };
  }

  /** Closes the lock files (dropping what they hold); operations waiting to start fail. */
  close(): void {
    const f = this.files;
    this.files = undefined;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    for (const w of this.queue.splice(0)) w.reject(new Error('the engine was closed'));
    this.waitingHeld = false;
    f?.ops.close();
    f?.gate.close();
    f?.waiting.close();
  }

  private opened(): Files {
    if (!this.files) throw new Error('the engine is closed');
    return this.files;
  }

  /** Starts an operation at once when no prune is in its way: what ends it; else undefined (wait with enter()). */
  tryEnter(): (() => void) | undefined {
    if (this.queue.length > 0 || !this.tryAdmit()) return undefined;
    return this.leaver();
  }

  /** Starts an operation once no prune runs: what ends it. */
  async enter(): Promise<() => void> {
    await this.admit();
    return this.leaver();
  }

  /**
   * For prune: waits until no operation of any engine on this state
   * directory is in flight, and keeps new ones from starting until the
   * returned function is called.
   */
  async exclusive(): Promise<() => void> {
    const end = Date.now() + TIMEOUT_MS;
    for (let attempt = 0; ; attempt++) {
      // Operations left waiting by an earlier prune start first.
      const waiting = await this.state.tryLock('ops.waiting', true);
      let gate: (() => void) | undefined;
      if (waiting) {
        try {
          gate = await this.state.tryLock('ops.gate', true);
        } finally {
          waiting();
        }
      }
      if (gate) {
        try {
          const ops = await this.state.lock('ops', true, TIMEOUT_MS);
          return () => {
            ops();
            gate();
          };
        } catch (err) {
          gate();
          throw err;
        }
      }
      if (Date.now() > end) throw new Error('timed out waiting for lock ops.gate');
      await sleep(backoff(attempt));
    }
  }

  private leaver(): () => void {
    let left = false;
    return () => {
      if (left) return;
      left = true;
      this.leaveOps();
    };
  }

  // ---- locks/ops ----

  /** Lets an operation in at once if no prune holds the gate. */
  private tryAdmit(): boolean {
    const f = this.opened();
    if (!f.gate.tryLock(false)) return false;
    let ok = true;
    try {
      if (this.admitted === 0) ok = f.ops.tryLock(false);
    } finally {
      f.gate.unlock();
    }
    if (ok) this.admitted++;
    return ok;
  }

  private leaveOps(): void {
    this.admitted--;
    if (this.admitted === 0) this.files?.ops.unlock();
  }

  private admit(): Promise<void> {
    if (this.queue.length === 0 && this.tryAdmit()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.queue.push({ resolve, reject, since: Date.now() });
      this.signalWaiting();
      this.poll();
    });
  }

  /**
   * Holds locks/ops.waiting while operations wait, and only then. Only a
   * sign for prunes to come: when it cannot be given, they go first.
   */
  private signalWaiting(): void {
    const f = this.files;
    if (!f) return;
    try {
      if (this.queue.length > 0 && !this.waitingHeld) this.waitingHeld = f.waiting.tryLock(false);
      else if (this.queue.length === 0 && this.waitingHeld) {
        this.waitingHeld = false;
        f.waiting.unlock();
      }
    } catch {
      // As when another holder has it.
    }
  }

  /** Tries again, after a short wait, to let in the operations waiting. */
  private poll(): void {
    if (this.timer) return;
    const ms = backoff(this.attempt++);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      try {
        while (this.queue.length > 0 && this.tryAdmit()) {
          this.attempt = 0;
          this.queue.shift()!.resolve();
        }
      } catch (err) {
        for (const w of this.queue.splice(0)) w.reject(err as Error);
      }
      const now = Date.now();
      while (this.queue.length > 0 && now - this.queue[0]!.since > TIMEOUT_MS)
        this.queue.shift()!.reject(new Error('timed out waiting for a prune to finish (lock ops)'));
      this.signalWaiting();
      if (this.queue.length > 0) this.poll();
      else this.attempt = 0;
    }, ms);
  }
}
