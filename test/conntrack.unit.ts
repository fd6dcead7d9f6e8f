import assert from 'node:assert/strict';

import { Conntrack, ConntrackFlushError, NetlinkError, type CtEntry } from '../lib';
import type { HandleNative, NativeTransaction } from '../lib/binding';
import { tupleText } from '../lib/conntrack';

describe('conntrack (unit)', () => {
  it('names a tuple as conntrack -L does, with no port for port-less protocols', () => {
    assert.equal(
      tupleText({ src: '10.0.0.1', dst: '10.0.0.2', sport: 5000, dport: 53 }),
      '10.0.0.1:5000 -> 10.0.0.2:53',
    );
    assert.equal(
      tupleText({ src: 'fd00::1', dst: 'fd00::2', sport: 5000, dport: 53 }),
      '[fd00::1]:5000 -> [fd00::2]:53',
    );
    assert.equal(
      tupleText({ src: '10.0.0.1', dst: '10.0.0.2', icmpType: 8, icmpCode: 0, icmpId: 7 }),
      '10.0.0.1 -> 10.0.0.2 type=8 code=0 id=7',
    );
    assert.equal(tupleText({ src: '10.0.0.1', dst: '10.0.0.2' }), '10.0.0.1 -> 10.0.0.2');
  });

  it('a partial flush failure is a NetlinkError carrying the count deleted and each refused entry', () => {
    const error = new NetlinkError({ code: 'EINVAL', errno: 22, op: 'IPCTNL_MSG_CT_DELETE x' });
    const entry = { family: 4, protocol: 1, orig: {}, reply: {} } as const;
    const e = new ConntrackFlushError(3, [{ entry, error }]);
    assert.ok(e instanceof NetlinkError);
    assert.equal(e.name, 'ConntrackFlushError');
    assert.equal(e.code, 'EINVAL');
    assert.equal(e.deleted, 3);
    assert.deepEqual(e.failures, [{ entry, error }]);
    assert.match(e.message, /1 entry not deleted .*IPCTNL_MSG_CT_DELETE x.*; 3 deleted/);
  });
});

describe('conntrack flush (unit, a fake handle)', () => {
  it('tries every entry: one refused, one gone meanwhile, one deleted gives ConntrackFlushError(deleted 1, the refused one)', async () => {
    const entry = (dport: number): CtEntry => ({
      family: 4,
      protocol: 17,
      orig: { src: '10.0.0.1', dst: '10.0.0.2', sport: 5000, dport },
      reply: { src: '10.0.0.2', dst: '10.0.0.1', sport: dport, dport: 5000 },
    });
    const listed = [entry(53), entry(54), entry(55)];
    const batches: number[] = [];
    const handle = {
      transact: (_protocol: number, batch: Buffer): Promise<NativeTransaction> => {
        batches.push(batch.length);
        const txn = (completions: NativeTransaction['completions'], objects: unknown[] = []) =>
          Promise.resolve({
            completions,
            messages: objects.map((object) => ({ index: 0, type: 0, flags: 0, object })),
            interrupted: false,
            overrun: false,
          });
        // The first call lists (one dump), the second deletes the three.
        if (batches.length === 1) return txn([{ done: true, error: 0 }], listed);
        return txn([
          { done: true, error: 22, code: 'EINVAL' },
          { done: true, error: 2, code: 'ENOENT' },
          { done: true, error: 0 },
        ]);
      },
    } as unknown as HandleNative;
    const ct = new (Conntrack as unknown as new (h: HandleNative) => Conntrack)(handle);
    const err = await ct.flush({ family: 4, protocol: 'udp' }).then(
      () => assert.fail('one entry was refused'),
      (e: unknown) => e,
    );
    assert.equal(batches.length, 2, 'one list, one batch of deletions');
    assert.ok(err instanceof ConntrackFlushError, String(err));
    assert.equal(err.deleted, 1);
    assert.equal(err.code, 'EINVAL');
    assert.deepEqual(
      err.failures.map((f) => f.entry),
      [listed[0]],
    );
    assert.match(err.failures[0]!.error.message, /10\.0\.0\.1:5000 -> 10\.0\.0\.2:53/);
  });
});
