import assert from 'node:assert/strict';

import { Coalescer } from '../../lib/engine/coalescer';

describe('Coalescer', () => {
  it('starts the first item at once and batches what arrives while it runs', async () => {
    const batches: number[][] = [];
    let release: (() => void) | undefined;
    const c = new Coalescer<number>(async (items) => {
      batches.push(items);
      if (batches.length === 1) await new Promise<void>((r) => (release = r));
    });
    const first = c.submit(1);
    await Promise.resolve();
    const rest = [2, 3, 4].map((i) => c.submit(i));
    assert.ok(release, 'the first batch started without waiting');
    release();
    await Promise.all([first, ...rest]);
    assert.deepEqual(batches, [[1], [2, 3, 4]]);
  });

  it('a failed batch is retried item by item: only the bad item fails', async () => {
    const seen: string[] = [];
    const c = new Coalescer<number>(
      async (items) => {
        seen.push(`batch ${items.join(',')}`);
        if (items.includes(3)) throw new Error('bad batch');
        await Promise.resolve();
      },
      async (item) => {
        seen.push(`one ${item}`);
        if (item === 3) throw new Error('bad 3');
        await Promise.resolve();
      },
    );
    const first = c.submit(0);
    const results = await Promise.allSettled([first, ...[1, 2, 3].map((i) => c.submit(i))]);
    assert.deepEqual(
      results.map((r) => r.status),
      ['fulfilled', 'fulfilled', 'fulfilled', 'rejected'],
    );
    assert.equal(((results[3] as PromiseRejectedResult).reason as Error).message, 'bad 3');
    assert.deepEqual(seen, ['one 0', 'batch 1,2,3', 'one 1', 'one 2', 'one 3']);
  });
});
