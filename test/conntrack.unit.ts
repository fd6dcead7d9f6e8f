import assert from 'node:assert/strict';

import { ConntrackFlushError, NetlinkError } from '../lib';
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
