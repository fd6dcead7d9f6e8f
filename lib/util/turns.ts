/**
 * Takes turns on the event loop. Operations in flight together each do a
 * stretch of synchronous JavaScript (validating, planning, encoding) before
 * they wait for the kernel; when their waits end together, those stretches
 * would run back to back in one turn of the loop and delay every timer and
 * socket of the process by their sum. An operation given to `run()` while
 * another is already running starts in a turn of its own: one operation's
 * stretch per turn, with timers and I/O in between. Alone, it starts at once.
 */
export class Turns {
  private running = 0;
  private readonly waiting: (() => void)[] = [];
  private scheduled = false;

  /** Runs `fn`: at once when nothing else runs, else in a turn of its own after those waiting. */
  async run<T>(fn: () => Promise<T>): Promise<T> {
    this.running++;
    try {
      if (this.running > 1 || this.waiting.length > 0)
        await new Promise<void>((resolve) => {
          this.waiting.push(resolve);
          this.schedule();
        });
      return await fn();
    } finally {
      this.running--;
    }
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    // Each start in its own turn: an immediate scheduled from an immediate
    // runs in the next turn, after timers and I/O.
    setImmediate(() => {
      this.scheduled = false;
      this.waiting.shift()?.();
      if (this.waiting.length > 0) this.schedule();
    });
  }
}
