import assert from 'node:assert/strict';

import { NetNS, Rtnl, constants as K, sysctl, type RtnlEvent } from '../../lib';
import { Cleanup, requireSandbox, run } from '../helpers';

describe('neighbours, FDB entries, monitor, sysctl', () => {
  before(requireSandbox);
  const cleanup = new Cleanup();
  let rt: Rtnl;
  beforeEach(async () => {
    rt = await Rtnl.open();
    cleanup.add('close handle', () => rt.close());
  });
  afterEach(() => cleanup.run());

  it('ARP entries: add, list (like ip neigh), delete', async () => {
    await rt.links.add({ kind: 'bridge', name: 'nbr0', up: true });
    cleanup.add('del', () => rt.links.del('nbr0'));
    await rt.addrs.add('nbr0', '10.50.0.1/24');
    await rt.neigh.add({ dst: '10.50.0.5', lladdr: '02:00:00:00:00:05', dev: 'nbr0' });
    // Only permanent entries: the kernel adds its own multicast (NOARP) ones.
    const ip = JSON.parse(
      (await run('ip', ['-j', 'neigh', 'show', 'dev', 'nbr0', 'nud', 'permanent'])).stdout,
    ) as { dst: string; lladdr: string; state: string[] }[];
    assert.deepEqual(
      ip.map((n) => [n.dst, n.lladdr, n.state]),
      [['10.50.0.5', '02:00:00:00:00:05', ['PERMANENT']]],
    );
    const permanent = async (): Promise<string[][]> =>
      (await rt.neigh.list({ dev: 'nbr0', family: 4 }))
        .filter((n) => n.state === K.NUD_PERMANENT)
        .map((n) => [n.dst!, n.lladdr!]);
    assert.deepEqual(await permanent(), [['10.50.0.5', '02:00:00:00:00:05']]);
    await assert.rejects(
      rt.neigh.add({ dst: '10.50.0.5', lladdr: '02:00:00:00:00:06', dev: 'nbr0' }),
      { code: 'EEXIST' },
    );
    await rt.neigh.add({
      dst: '10.50.0.5',
      lladdr: '02:00:00:00:00:06',
      dev: 'nbr0',
      replace: true,
    });
    assert.deepEqual(await permanent(), [['10.50.0.5', '02:00:00:00:00:06']]);
    await rt.neigh.del({ dst: '10.50.0.5', dev: 'nbr0' });
    assert.deepEqual(await permanent(), []);
  });

  it('VXLAN FDB entries (self, dst), as an overlay needs them', async () => {
    await rt.links.add({ kind: 'vxlan', name: 'nvx0', vni: 7, port: 4789, learning: false });
    cleanup.add('del', () => rt.links.del('nvx0'));
    await rt.neigh.add({
      family: 'bridge',
      lladdr: '00:00:00:00:00:00',
      dev: 'nvx0',
      dst: '192.0.2.10',
      self: true,
      append: true,
    });
    await rt.neigh.add({
      family: 'bridge',
      lladdr: '00:00:00:00:00:00',
      dev: 'nvx0',
      dst: '192.0.2.11',
      self: true,
      append: true,
    });
    await rt.neigh.add({
      family: 'bridge',
      lladdr: '0a:00:00:00:00:01',
      dev: 'nvx0',
      dst: '192.0.2.12',
      self: true,
    });
    const fdb = (await run('bridge', ['-j', 'fdb', 'show', 'dev', 'nvx0'])).stdout;
    const entries = JSON.parse(fdb) as {
      mac: string;
      dst?: string;
      flags: string[];
      state?: string;
    }[];
    const withDst = entries
      .filter((e) => e.dst)
      .map((e) => `${e.mac} ${e.dst}`)
      .sort();
    assert.deepEqual(withDst, [
      '00:00:00:00:00:00 192.0.2.10',
      '00:00:00:00:00:00 192.0.2.11',
      '0a:00:00:00:00:01 192.0.2.12',
    ]);
    const ours = (await rt.neigh.list({ family: 'bridge', dev: 'nvx0' })).filter((n) => n.dst);
    assert.deepEqual(ours.map((n) => `${n.lladdr} ${n.dst}`).sort(), withDst);
    await rt.neigh.del({
      family: 'bridge',
      lladdr: '00:00:00:00:00:00',
      dev: 'nvx0',
      dst: '192.0.2.10',
      self: true,
    });
    const left = (await rt.neigh.list({ family: 'bridge', dev: 'nvx0' }))
      .filter((n) => n.dst)
      .map((n) => n.dst)
      .sort();
    assert.deepEqual(left, ['192.0.2.11', '192.0.2.12']);
  });

  it('monitor reports link, address and route changes, and ends when the loop breaks', async () => {
    const mon = await rt.monitor();
    cleanup.add('close monitor', () => mon.close());
    const seen: RtnlEvent[] = [];
    const reader = (async () => {
      for await (const ev of mon) {
        seen.push(ev);
        if (ev.kind === 'link' && ev.action === 'del' && ev.object.name === 'mbr0') break;
      }
    })();
    await rt.links.add({ kind: 'bridge', name: 'mbr0', up: true });
    await rt.addrs.add('mbr0', '10.60.0.1/24');
    await rt.routes.add({ dst: '10.61.0.0/16', gateway: '10.60.0.9' });
    await rt.links.del('mbr0');
    await reader;
    const kinds = seen.map((e) => `${e.kind}:${e.action}`);
    assert.ok(kinds.includes('link:new'));
    assert.ok(
      seen.some((e) => e.kind === 'addr' && e.action === 'new' && e.object.cidr === '10.60.0.1/24'),
    );
    assert.ok(
      seen.some((e) => e.kind === 'route' && e.action === 'new' && e.object.dst === '10.61.0.0/16'),
    );
    assert.ok(
      seen.some((e) => e.kind === 'link' && e.action === 'del' && e.object.name === 'mbr0'),
    );
    // The iterator is finished: next() says done.
    assert.deepEqual(await mon.next(), { value: undefined, done: true });
  });

  it('monitor with actions: the kernel passes only the chosen actions', async () => {
    const dels = await rt.monitor(['link', 'addr'], { actions: ['del'] });
    cleanup.add('close monitor', () => dels.close());
    const news = await rt.monitor(['link'], { actions: ['new'] });
    cleanup.add('close monitor', () => news.close());
    const seenDel: RtnlEvent[] = [];
    const seenNew: RtnlEvent[] = [];
    const readDels = (async () => {
      for await (const ev of dels) {
        seenDel.push(ev);
        if (ev.kind === 'link' && ev.object.name === 'mfl1') break;
      }
    })();
    const readNews = (async () => {
      for await (const ev of news) {
        seenNew.push(ev);
        if (ev.kind === 'link' && ev.object.name === 'mfl1') break;
      }
    })();
    // Links made, changed, addressed and removed: a del monitor sees only removals.
    await rt.links.add({ kind: 'bridge', name: 'mfl0', up: true });
    await rt.addrs.add('mfl0', '10.62.0.1/24');
    await rt.links.set('mfl0', { mtu: 1400 });
    await rt.links.del('mfl0');
    await rt.links.add({ kind: 'bridge', name: 'mfl1' });
    await readNews;
    await rt.links.del('mfl1');
    await readDels;
    assert.ok(seenDel.length >= 3, `removals seen: ${seenDel.length}`);
    assert.deepEqual(
      [...new Set(seenDel.map((e) => e.action))],
      ['del'],
      'only removals reach the del monitor',
    );
    assert.ok(seenDel.some((e) => e.kind === 'addr' && e.object.cidr === '10.62.0.1/24'));
    assert.ok(seenDel.some((e) => e.kind === 'link' && e.object.name === 'mfl0'));
    assert.deepEqual(
      [...new Set(seenNew.map((e) => e.action))],
      ['new'],
      'only additions and changes reach the new monitor',
    );
    assert.ok(
      seenNew.some((e) => e.kind === 'link' && e.object.name === 'mfl0' && e.object.mtu === 1400),
    );
    await assert.rejects(rt.monitor(['link'], { actions: [] }), /actions/);
    await assert.rejects(
      rt.monitor(['link'], { actions: ['gone' as 'del'] }),
      (e: Error & { field?: string }) => e.field === 'actions',
    );
  });

  it('sysctl reads and writes the namespace it is given, not the host', async () => {
    const ns = await NetNS.create('sysns');
    cleanup.add('netns del', () => ns.delete());
    const hostBefore = await sysctl.get('net.ipv4.ip_forward');
    await sysctl.set('net.ipv4.ip_forward', 1, { netns: ns });
    assert.equal(await sysctl.get('net.ipv4.ip_forward', { netns: ns }), '1');
    assert.equal(
      (
        await run('ip', ['netns', 'exec', 'sysns', 'cat', '/proc/sys/net/ipv4/ip_forward'])
      ).stdout.trim(),
      '1',
    );
    assert.equal(await sysctl.get('net.ipv4.ip_forward'), hostBefore);
    await assert.rejects(sysctl.set('net/../../etc/passwd', 1), {
      name: 'ValidationError',
      field: 'key',
    });
    await assert.rejects(sysctl.get('net.ipv4.no_such_key'), { code: 'ENOENT' });
  });
});
