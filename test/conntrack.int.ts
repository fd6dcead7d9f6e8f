import assert from 'node:assert/strict';
import dgram from 'node:dgram';

import { Conntrack, ValidationError } from '../lib';
import { Cleanup, requireSandbox, run } from './helpers';

/** `conntrack -L ARGS` lines (the oracle); conntrack exits 0 with none. */
async function ctLines(args: string[]): Promise<string[]> {
  const { stdout } = await run('conntrack', ['-L', ...args]);
  return stdout.split('\n').filter((l) => l.trim() !== '');
}

function sendUdp(dst: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket('udp4');
    s.send('x', port, dst, (err) => {
      s.close();
      if (err) reject(err);
      else resolve();
    });
  });
}

describe('conntrack', () => {
  before(requireSandbox);
  const cleanup = new Cleanup();
  let ct: Conntrack;
  beforeEach(async () => {
    ct = await Conntrack.open();
    cleanup.add('close conntrack', () => ct.close());
    // Connection tracking runs only where a rule needs it.
    await run('nft', ['add', 'table', 'inet', 'cttest']);
    cleanup.add('del table cttest', () => run('nft', ['delete', 'table', 'inet', 'cttest']));
    await run('nft', [
      'add chain inet cttest zone { type filter hook output priority -300; } ;',
      'add rule inet cttest zone ip daddr 10.251.0.2 ct zone set 5 ;',
      'add chain inet cttest out { type filter hook output priority 0; } ;',
      'add rule inet cttest out ct state new counter',
    ]);
    await run('ip', ['addr', 'add', '10.251.0.1/32', 'dev', 'lo']);
    cleanup.add('del 10.251.0.1', () => run('ip', ['addr', 'del', '10.251.0.1/32', 'dev', 'lo']));
    await run('ip', ['addr', 'add', '10.251.0.2/32', 'dev', 'lo']);
    cleanup.add('del 10.251.0.2', () => run('ip', ['addr', 'del', '10.251.0.2/32', 'dev', 'lo']));
    await run('ip', ['-6', 'addr', 'add', 'fd51::1/128', 'dev', 'lo', 'nodad']);
    cleanup.add('del fd51::1', () => run('ip', ['-6', 'addr', 'del', 'fd51::1/128', 'dev', 'lo']));
  });
  afterEach(() => cleanup.run());

  it('ICMP and ICMPv6 entries are listed with type, code and id like conntrack -L, and flushed', async () => {
    await run('ping', ['-c1', '-W1', '10.251.0.1']);
    await run('ping', ['-6', '-c1', '-W1', 'fd51::1']);
    const v4 = await ctLines(['-p', 'icmp', '-d', '10.251.0.1']);
    const v6 = await ctLines(['-f', 'ipv6', '-p', 'icmpv6', '-d', 'fd51::1']);
    assert.equal(v4.length, 1, v4.join('\n'));
    assert.equal(v6.length, 1, v6.join('\n'));
    const entries = (await ct.list()).filter(
      (e) => e.orig.dst === '10.251.0.1' || e.orig.dst === 'fd51::1',
    );
    for (const [line, e] of [
      [v4[0]!, entries.find((x) => x.family === 4)],
      [v6[0]!, entries.find((x) => x.family === 6)],
    ] as const) {
      const m = /type=(\d+) code=(\d+) id=(\d+)/.exec(line)!;
      assert.ok(e, line);
      assert.deepEqual(
        [e.orig.icmpType, e.orig.icmpCode, e.orig.icmpId],
        [Number(m[1]), Number(m[2]), Number(m[3])],
        line,
      );
    }
    assert.equal(await ct.flush({ protocol: 'icmp', orig: { dst: '10.251.0.1' } }), 1);
    // An address matches however it is spelled, as conntrack -d takes it.
    assert.equal(await ct.flush({ protocol: 'icmpv6', orig: { dst: 'FD51:0::0:1' } }), 1);
    assert.deepEqual(await ctLines(['-p', 'icmp', '-d', '10.251.0.1']), []);
    assert.deepEqual(await ctLines(['-f', 'ipv6', '-p', 'icmpv6', '-d', 'fd51::1']), []);
  });

  it('a filter address that is no address is refused naming the field, before the kernel', async () => {
    await assert.rejects(
      ct.flush({ orig: { dst: '10.251.0.300' } }),
      (e: unknown) => e instanceof ValidationError && e.field === 'orig.dst',
    );
    await assert.rejects(
      ct.flush({ reply: { src: 'fd51::g' } }),
      (e: unknown) => e instanceof ValidationError && e.field === 'reply.src',
    );
  });

  it('flush deletes entries in a non-zero conntrack zone', async () => {
    await sendUdp('10.251.0.2', 5353);
    const before = await ctLines(['-p', 'udp', '-d', '10.251.0.2']);
    assert.equal(before.length, 1, before.join('\n'));
    assert.match(before[0]!, /zone=5/);
    const [e] = (await ct.list(4)).filter((x) => x.orig.dst === '10.251.0.2');
    assert.equal(e?.zone, 5);
    assert.equal(await ct.flush({ protocol: 'udp', orig: { dst: '10.251.0.2' } }), 1);
    assert.deepEqual(await ctLines(['-p', 'udp', '-d', '10.251.0.2']), []);
  });
});
