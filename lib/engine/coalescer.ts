/**
 * Runs submitted work in batches: the first submission starts a batch at
 * once (no waiting for company); those arriving while it runs form the
 * next. Concurrent removals thus share one nf_tables transaction instead of
 * queueing for one each. A lone item goes through `runOne`; a batch that
 * fails is retried item by item, so a bad item fails only its own caller.
 */
export class Coalescer<T> {
  private queue: { item: T; resolve: () => void; reject: (err: unknown) => void }[] = [];
  private running = false;

  constructor(
    private readonly runBatch: (items: T[]) => Promise<void>,
    private readonly runOne: (item: T) => Promise<void> = (item) => runBatch([item]),
  ) {}

  submit(item: T): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (!this.running) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.running = true;
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0);
      try {
        if (batch.length === 1) await this.runOne(batch[0]!.item);
        else await this.runBatch(batch.map((b) => b.item));
        for (const b of batch) b.resolve();
      } catch (err) {
        if (batch.length === 1) {
          batch[0]!.reject(err);
          continue;
        }
        for (const b of batch) {
          try {
            await this.runOne(b.item);
            b.resolve();
          } catch (e) {
            b.reject(e);
          }
        }
      }
    }
    this.running = false;
  }
}
