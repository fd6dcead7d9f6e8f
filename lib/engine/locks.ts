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
 *   locks/sandboxes  one byte per sandbox name (an OFD lock at a hash of the
 *                    name): one operation at a time on a sandbox, whatever
 *                    process runs it. Within an engine, operations waiting
 *                    for the same byte queue, and it is handed on in turn.
 *
 * An operation is let in (locks/ops) before it takes its sandbox's byte, so
 * the holder of a byte never waits for a prune: nothing can deadlock.
 * An operation's locks are tried without waiting, on the event loop's
 * thread (a try is one syscall on a file opened beforehand, on the pool);
 * prune's open their file on the pool each time. A conflict is waited out
 * with short timers.
 */
import type { LockFileNative } from '../binding';
import { ConflictError } from '../errors';
import { lockRetryMs, type StateStore } from './state';

const TIMEOUT_MS = 60_000;

/** The byte of locks/sandboxes standing for a sandbox name: a 53-bit hash (cyrb53). */
export function slotOf(name: string): number {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 2654435761);
    h2 = Math.imul(h2 ^ c, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  // Two names on one byte only take turns: no operation holds two bytes.
  return 4294967296 * (2097151 & h2) + (h1 >>> 0);
}

interface Files {
  ops: LockFileNative;
  gate: LockFileNative;
  waiting: LockFileNative;
  sandboxes: LockFileNative;
}

/** A lock another process has held for TIMEOUT_MS (hung, or stopped). */
function busy(lock: string, holder: string): ConflictError {
  return new ConflictError(
    'stateDir',
    `timed out after ${TIMEOUT_MS / 1000} s waiting for ${holder} to finish (lock ${lock})`,
  );
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

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
  /**
   * Bytes of locks/sandboxes an operation of this engine holds, each with
   * the operations of this engine waiting for it: told whether they are
   * handed the byte locked, or must lock it themselves.
   */
  private readonly slots = new Map<number, ((locked: boolean) => void)[]>();

  constructor(private readonly state: StateStore) {}

  /** Opens the lock files (on the pool); after StateStore.init. */
  async open(): Promise<void> {
    const opened: LockFileNative[] = [];
    try {
      for (const name of ['ops', 'ops.gate', 'ops.waiting', 'sandboxes'])
        opened.push(await this.state.openLockFile(name));
    } catch (err) {
      for (const f of opened) f.close();
      throw err;
    }
    const [ops, gate, waiting, sandboxes] = opened as [
      LockFileNative,
      LockFileNative,
      LockFileNative,
      LockFileNative,
    ];
    this.files = { ops, gate, waiting, sandboxes };
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
    f?.sandboxes.close();
  }

  private opened(): Files {
    if (!this.files) throw new Error('the engine is closed');
    return this.files;
  }

  /**
   * Starts an operation on sandbox `name` when nothing is in its way (no
   * prune, no other operation on it): what ends it. Undefined otherwise:
   * then wait with enter().
   */
  tryEnter(name: string): (() => void) | undefined {
    if (this.queue.length > 0 || !this.tryAdmit()) return undefined;
    const slot = slotOf(name);
    let mine = false;
    try {
      mine = !this.slots.has(slot) && this.opened().sandboxes.tryLockRange(slot, true);
    } finally {
      if (!mine) this.leaveOps();
    }
    if (!mine) return undefined;
    this.slots.set(slot, []);
    return this.leaver(slot);
  }

  /** Starts an operation on sandbox `name`, once no prune runs and no other operation has it. */
  async enter(name: string): Promise<() => void> {
    await this.admit();
    try {
      const slot = slotOf(name);
      await this.takeSlot(slot);
      return this.leaver(slot);
    } catch (err) {
      this.leaveOps();
      throw err;
    }
  }

  /**
   * Takes sandbox `name`'s byte for an operation already let in (holding
   * another sandbox's): what releases it. The removal of a shared
   * namespace's owner takes its members' this way before it rewrites their
   * records. No operation holding a member's byte waits for its owner's,
   * so this cannot deadlock.
   */
  async lockSandbox(name: string): Promise<() => void> {
    const slot = slotOf(name);
    await this.takeSlot(slot);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.passSlot(slot, true);
    };
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
      if (Date.now() > end) throw busy('ops.gate', 'another prune, or operations waiting,');
      await sleep(lockRetryMs(attempt));
    }
  }

  private leaver(slot: number): () => void {
    let left = false;
    return () => {
      if (left) return;
      left = true;
      try {
        this.passSlot(slot, true);
      } finally {
        this.leaveOps();
      }
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
    const ms = lockRetryMs(this.attempt++);
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
        this.queue.shift()!.reject(busy('ops', 'a prune'));
      this.signalWaiting();
      if (this.queue.length > 0) this.poll();
      else this.attempt = 0;
    }, ms);
  }

  // ---- locks/sandboxes ----

  /** Takes a sandbox's byte: from the operation of this engine holding it, or from the file. */
  private async takeSlot(slot: number): Promise<void> {
    const waiting = this.slots.get(slot);
    let locked = false;
    if (waiting) locked = await new Promise<boolean>((resolve) => waiting.push(resolve));
    else this.slots.set(slot, []);
    if (locked) return;
    try {
      const end = Date.now() + TIMEOUT_MS;
      for (let attempt = 0; !this.opened().sandboxes.tryLockRange(slot, true); attempt++) {
        if (Date.now() > end) throw busy('sandboxes', 'another operation on this sandbox');
        await sleep(lockRetryMs(attempt));
      }
    } catch (err) {
      this.passSlot(slot, false);
      throw err;
    }
  }

  /** Hands a byte on to the next operation of this engine waiting for it, else lets it go. */
  private passSlot(slot: number, locked: boolean): void {
    const next = this.slots.get(slot)?.shift();
    if (next) {
      next(locked);
      return;
    }
    this.slots.delete(slot);
    if (locked) this.files?.sandboxes.unlockRange(slot);
  }
}
