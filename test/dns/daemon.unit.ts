/** The resolver daemon's reload handshake, decided without files or processes. */
import assert from 'node:assert/strict';

import { acknowledged } from '../../lib/dns/daemon';

describe('resolver daemon (DNS): when a reload request counts as acknowledged', () => {
  it('its own token acknowledges a command', () => {
    assert.equal(acknowledged('t1', 't1', new Set()), true);
  });

  it('so does a token seen in dns.reload after its own write (the daemon read the file later)', () => {
    // Two commands: ours wrote t1, the other t2 over it before the daemon
    // looked; the daemon answers only t2, having read the file after t1.
    assert.equal(acknowledged('t2', 't1', new Set(['t2'])), true);
    assert.equal(acknowledged('t3', 't1', new Set(['t2', 't3'])), true);
  });

  it('an older answer, or none, does not', () => {
    assert.equal(acknowledged(undefined, 't1', new Set()), false);
    assert.equal(acknowledged('', 't1', new Set()), false);
    // t0: an answer to a request made before ours, never seen after our write.
    assert.equal(acknowledged('t0', 't1', new Set(['t2'])), false);
  });
});
