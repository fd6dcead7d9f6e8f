import assert from 'node:assert/strict';

import { randomHex } from '../../lib/util/random';

describe('randomHex: ids from a pool of random bytes', () => {
  it('gives lowercase hex of twice the length asked, none twice, across many refills', () => {
    const seen = new Set<string>();
    // 7-byte draws do not divide the 4 KiB pool: draws cross its end and refill it.
    for (let i = 0; i < 5000; i++) {
      const id = randomHex(i % 2 === 0 ? 16 : 7);
      assert.match(id, i % 2 === 0 ? /^[0-9a-f]{32}$/ : /^[0-9a-f]{14}$/);
      assert.ok(!seen.has(id), `id ${id} given twice`);
      seen.add(id);
    }
  });

  it('spreads its bytes: every hex digit shows up about as often in the first place', () => {
    const counts = new Map<string, number>();
    for (let i = 0; i < 16000; i++) {
      const d = randomHex(16)[0]!;
      counts.set(d, (counts.get(d) ?? 0) + 1);
    }
    assert.equal(counts.size, 16);
    // ~1000 each; a fixed or biased digit would be far off (6 sigma is ~190).
    for (const [d, n] of counts) assert.ok(n > 700 && n < 1300, `digit ${d}: ${n} of 16000`);
  });
});
