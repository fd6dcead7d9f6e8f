import assert from 'node:assert/strict';

import { Turns } from '../../lib/util/turns';

describe('Turns: operations in flight together start in loop turns of their own', () => {
  it('alone, an operation starts at once; queued ones start one per turn, in order', async () => {
    const turns = new Turns();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let firstStarted = false;
    const first = turns.run(async () => {
      firstStarted = true;
      await gate;
    });
    assert.equal(firstStarted, true, 'nothing running: no wait');
    let loopTurn = 0;
    const tick = (): void => {
      loopTurn++;
      if (loopTurn < 20) setImmediate(tick);
    };
    setImmediate(tick);
    const started: [string, number][] = [];
    const queued = ['b', 'c', 'd'].map((name) =>
      turns.run(() => Promise.resolve(void started.push([name, loopTurn]))),
    );
    await Promise.all(queued);
    assert.deepEqual(
      started.map(([n]) => n),
      ['b', 'c', 'd'],
    );
    const at = started.map(([, t]) => t);
    assert.ok(at[0]! < at[1]! && at[1]! < at[2]!, `each in a later turn: ${at.join(', ')}`);
    release();
    await first;
    let again = false;
    const last = turns.run(() => Promise.resolve(void (again = true)));
    assert.equal(again, true, 'all done: the next starts at once again');
    await last;
  });
});
