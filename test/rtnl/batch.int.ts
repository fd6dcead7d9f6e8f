/** Rtnl.batch(): several changes in one sendmsg, applied in order (`ip -batch`). */
import assert from 'node:assert/strict';
import path from 'node:path';

import { NetlinkError, NetNS, Rtnl } from '../../lib';
import { Cleanup, inNs, ipJson, requireSandbox, ROOT, run } from '../helpers';

interface IpAddr {
  ifname: string;
  flags: string[];
  addr_info: { family: string; local: string; prefixlen: number }[];
}

describe('rtnl batch', () => {
  before(requireSandbox);
  const cleanup = new Cleanup();
  afterEach(() => cleanup.run());

  /** A new namespace and an Rtnl handle inside it, removed after the test. */
  async function namespace(name: string): Promise<{ ns: NetNS; inside: Rtnl }> {
    const ns = await NetNS.create(name);
    cleanup.add(`netns del ${name}`, () => ns.delete());
    const inside = await Rtnl.open(ns);
    cleanup.add(`close ${name} handle`, () => inside.close());
    return { ns, inside };
  }

  it('the walk-through inside a namespace as one batch, applied in order: ip shows it and a ping crosses', async () => {
    const { ns, inside } = await namespace('bt1');
    const host = await Rtnl.open();
    cleanup.add('close host handle', () => host.close());
    const br = await host.links.add({ kind: 'bridge', name: 'btbr0', up: true });
    cleanup.add('del btbr0', () => host.links.del('btbr0'));
    await host.addrs.add(br.index, '10.232.0.1/24');
    await host.links.add({
      kind: 'veth',
      name: 'btv0',
      master: br.index,
      up: true,
      peer: { name: 'eth0', netns: ns },
    });
    const eth0 = (await inside.links.get('eth0')).index;
    const b = inside
      .batch()
      .linkSet(1, { up: true })
      .addrAdd(eth0, '10.232.0.2/24')
      .linkSet(eth0, { up: true })
      // Only valid once the address above is in place: the order holds.
      .routeAdd({ dst: 'default', gateway: '10.232.0.1' });
    assert.equal(b.size, 4);
    await b.send();
    assert.equal(b.size, 0, 'sending empties the queue');

    const addrs = await ipJson<IpAddr[]>(['addr', 'show'], 'bt1');
    const lo = addrs.find((a) => a.ifname === 'lo')!;
    const e = addrs.find((a) => a.ifname === 'eth0')!;
    assert.ok(lo.flags.includes('UP'));
    assert.ok(e.flags.includes('UP'));
    assert.deepEqual(
      e.addr_info.filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`),
      ['10.232.0.2/24'],
    );
    const routes = await ipJson<{ dst: string; gateway?: string; dev: string }[]>(
      ['route', 'show'],
      'bt1',
    );
    assert.ok(routes.some((r) => r.dst === 'default' && r.gateway === '10.232.0.1'));
    await inNs('bt1', 'ping', ['-c', '1', '-W', '2', '10.232.0.1']);
  });

  it('bad input is refused before anything is sent; a change the kernel refuses is named, and the others are not undone', async () => {
    const { inside } = await namespace('bt2');
    const loUp = async (): Promise<boolean> =>
      (await ipJson<IpAddr[]>(['addr', 'show', 'dev', 'lo'], 'bt2'))[0]!.flags.includes('UP');

    const bad = inside.batch().linkSet(1, { up: true }).addrAdd(1, '10.0.0.300/8');
    await assert.rejects(bad.send(), { name: 'ValidationError', field: 'address' });
    assert.equal(await loUp(), false, 'nothing was sent');

    // lo up gives it 127.0.0.1/8: adding it again is refused (EEXIST).
    const refused = inside
      .batch()
      .linkSet(1, { up: true })
      .addrAdd(1, '127.0.0.1/8')
      .addrAdd(1, '10.9.9.9/32');
    await assert.rejects(
      refused.send(),
      (err: unknown) =>
        err instanceof NetlinkError && err.code === 'EEXIST' && err.op.includes('127.0.0.1/8'),
    );
    assert.equal(await loUp(), true, 'the change before the refused one took effect');
    const lo = (await ipJson<IpAddr[]>(['addr', 'show', 'dev', 'lo'], 'bt2'))[0]!;
    assert.ok(
      lo.addr_info.some((a) => a.local === '10.9.9.9'),
      'the kernel went on with the one after it',
    );
  });

  it('a batch with more ACKs than the receive queue can hold (a user namespace: no SO_RCVBUFFORCE) goes in windows; all of it lands, a refusal in a later window is named', async () => {
    // In a user namespace the queue is capped at net.core.rmem_max (4 MiB
    // here: ~4,000 ACKs); 20,000 routes overran it (ENOBUFS, replies lost)
    // although the kernel applied them.
    const script = `
      const { Rtnl } = require(${JSON.stringify(path.join(ROOT, 'dist', 'lib'))});
      (async () => {
        const rt = await Rtnl.open();
        await rt.links.add({ kind: 'bridge', name: 'wb0', up: true });
        const b = rt.batch();
        for (let i = 0; i < 20000; i++)
          b.routeAdd({ dst: '172.' + (16 + (i >> 16)) + '.' + ((i >> 8) & 255) + '.' + (i & 255) + '/32', dev: 'wb0' });
        await b.send();
        // A refusal far into the batch: named, and the ones after it still land.
        const c = rt.batch();
        for (let i = 0; i < 15000; i++)
          c.routeAdd({ dst: '172.' + (48 + (i >> 16)) + '.' + ((i >> 8) & 255) + '.' + (i & 255) + '/32', dev: 'wb0' });
        c.routeAdd({ dst: '172.16.0.7/32', dev: 'wb0' });
        c.routeAdd({ dst: '172.99.0.1/32', dev: 'wb0' });
        const refused = await c.send().then(() => 'none', (e) => e.code + ' ' + e.op);
        const routes = (await rt.routes.list({ family: 4 })).filter((r) => r.dst.startsWith('172.')).length;
        console.log(JSON.stringify({ refused, routes }));
        await rt.close();
      })().catch((e) => { console.error(e); process.exit(1); });`;
    const { stdout } = await run('unshare', [
      '--user',
      '--map-root-user',
      '--net',
      process.execPath,
      '-e',
      script,
    ]);
    const r = JSON.parse(stdout) as { refused: string; routes: number };
    assert.match(r.refused, /^EEXIST .*172\.16\.0\.7/);
    assert.equal(r.routes, 20000 + 15000 + 1);
  });
});
