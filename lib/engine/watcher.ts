/**
 * Waits for host-side links to disappear. A sandbox is torn down by
 * unmounting its namespace: the kernel then destroys the namespace and its
 * veths in batches (about 2 ms), far cheaper than one synchronous
 * RTM_DELLINK (which waits ~16-38 ms for an RCU grace period). This watches
 * link deletions so a removal can report when the kernel is really done.
 * Only deletions reach it (a socket filter in the kernel): the links that
 * sandboxes being created make and change cost it nothing.
 */
import type { Monitor, Rtnl } from '../rtnl';

export class LinkWatcher {
  private monitor: Promise<Monitor> | null = null;
  private readonly waiters = new Map<string, (() => void)[]>();

  constructor(private readonly rt: Rtnl) {}

  private start(): Promise<Monitor> {
    if (!this.monitor) {
      this.monitor = this.rt.monitor(['link'], { actions: ['del'] }).then((mon) => {
        void (async () => {
          try {
            for await (const ev of mon) {
              if (ev.kind !== 'link' || ev.action !== 'del') continue;
              const list = this.waiters.get(ev.object.name);
              if (!list) continue;
              this.waiters.delete(ev.object.name);
              for (const w of list) w();
            }
          } catch {
            // Lost events (ENOBUFS): wake everyone; callers re-check the kernel.
            for (const list of this.waiters.values()) for (const w of list) w();
            this.waiters.clear();
            this.monitor = null;
          }
        })();
        return mon;
      });
    }
    return this.monitor;
  }

  /**
   * Resolves true once every link in `names` is gone, false if some are
   * still there after `timeoutMs`.
   */
  async waitGone(names: string[], timeoutMs: number): Promise<boolean> {
    if (names.length === 0) return true;
    await this.start();
    const pending = new Set(names);
    const done = new Promise<void>((resolve) => {
      for (const n of names) {
        const list = this.waiters.get(n) ?? [];
        list.push(() => {
          pending.delete(n);
          if (pending.size === 0) resolve();
        });
        this.waiters.set(n, list);
      }
    });
    // Some may be gone already (before we listened).
    for (const n of names) {
      if (!(await this.rt.links.find(n))) {
        pending.delete(n);
        const list = this.waiters.get(n);
        if (list) {
          this.waiters.delete(n);
          for (const w of list) w();
        }
      }
    }
    if (pending.size === 0) return true;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<false>((resolve) => {
      timer = setTimeout(() => {
        resolve(false);
      }, timeoutMs);
    });
    const result = await Promise.race([done.then(() => true as const), timeout]);
    clearTimeout(timer);
    if (!result) {
      for (const n of pending) this.waiters.delete(n);
    }
    return result;
  }

  async close(): Promise<void> {
    const m = this.monitor;
    this.monitor = null;
    if (m) await (await m).close();
  }
}
