import assert from 'node:assert/strict';
import { rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { Rtnl, ValidationError } from '../../lib';
import { Cleanup, ipJson, requireSandbox, run } from '../helpers';

interface IpAddr {
  ifname: string;
  addr_info: {
    family: string;
    local: string;
    prefixlen: number;
    broadcast?: string;
    label?: string;
  }[];
}
interface IpRoute {
  dst: string;
  gateway?: string;
  dev?: string;
  metric?: number;
  scope?: string;
  prefsrc?: string;
  protocol?: string;
  flags?: string[];
  table?: string;
  type?: string;
  via?: { family: string; host: string };
  nexthops?: { gateway?: string; dev: string; weight: number }[];
  expires?: number;
}

describe('addresses and routes', () => {
  before(requireSandbox);
  const cleanup = new Cleanup();
  let rt: Rtnl;
  beforeEach(async () => {
    rt = await Rtnl.open();
    cleanup.add('close handle', () => rt.close());
    await rt.links.add({ kind: 'bridge', name: 'abr0', up: true });
    cleanup.add('del abr0', () => rt.links.del('abr0'));
  });
  afterEach(() => cleanup.run());

  it('IPv4 and IPv6 addresses: add with broadcast, list, delete', async () => {
    await rt.addrs.add('abr0', '10.20.0.1/24');
    await rt.addrs.add('abr0', '10.20.1.1/24', { broadcast: false, label: 'abr0:x' });
    await rt.addrs.add('abr0', 'fd20::1/64', { noDad: true });
    const [ip] = await ipJson<IpAddr[]>(['addr', 'show', 'dev', 'abr0']);
    const v4 = ip!.addr_info.filter((a) => a.family === 'inet');
    assert.deepEqual(
      v4.map((a) => [a.local, a.prefixlen, a.broadcast ?? null, a.label]),
      [
        ['10.20.0.1', 24, '10.20.0.255', 'abr0'],
        ['10.20.1.1', 24, null, 'abr0:x'],
      ],
    );
    assert.ok(
      ip!.addr_info.some(
        (a) => a.family === 'inet6' && a.local === 'fd20::1' && a.prefixlen === 64,
      ),
    );

    const ours = await rt.addrs.list({ link: 'abr0' });
    assert.deepEqual(
      ours.filter((a) => a.family === 4).map((a) => [a.cidr, a.broadcast ?? null, a.label]),
      [
        ['10.20.0.1/24', '10.20.0.255', 'abr0'],
        ['10.20.1.1/24', null, 'abr0:x'],
      ],
    );
    assert.ok(ours.some((a) => a.family === 6 && a.cidr === 'fd20::1/64'));
    assert.ok((await rt.addrs.list({ family: 6 })).every((a) => a.family === 6));

    await assert.rejects(rt.addrs.add('abr0', '10.20.0.1/24'), { code: 'EEXIST' });
    await rt.addrs.add('abr0', '10.20.0.1/24', { replace: true });
    await rt.addrs.del('abr0', '10.20.1.1/24');
    await rt.addrs.del('abr0', 'fd20::1/64');
    const after = (await rt.addrs.list({ link: 'abr0' })).map((a) => a.cidr);
    assert.ok(after.includes('10.20.0.1/24'));
    assert.ok(!after.includes('10.20.1.1/24'));
    assert.ok(!after.includes('fd20::1/64'));
    await assert.rejects(rt.addrs.del('abr0', '10.20.9.9/24'), {
      name: 'NetlinkError',
      code: 'EADDRNOTAVAIL',
    });
  });

  it('routes: default, gateway+metric+table, scope link with src, onlink, replace, IPv6, delete', async () => {
    await rt.addrs.add('abr0', '10.30.0.1/24');
    await rt.addrs.add('abr0', 'fd30::1/64', { noDad: true });
    await rt.routes.add({ dst: 'default', gateway: '10.30.0.254' });
    await rt.routes.add({
      dst: '10.31.0.0/16',
      gateway: '10.30.0.2',
      dev: 'abr0',
      metric: 100,
      table: 100,
    });
    await rt.routes.add({
      dst: '10.32.0.0/16',
      dev: 'abr0',
      scope: 'link',
      src: '10.30.0.1',
      protocol: 'static',
    });
    await rt.routes.add({ dst: '10.33.0.0/16', gateway: '10.99.9.9', dev: 'abr0', onlink: true });
    await rt.routes.add({ dst: '10.34.0.5', dev: 'abr0', mtu: 1300 });
    await rt.routes.add({ dst: 'fd31::/64', gateway: 'fd30::ff', dev: 'abr0' });
    await rt.routes.add({ dst: '10.35.0.0/16', type: 'blackhole' });

    const main = await ipJson<IpRoute[]>(['route', 'show']);
    const find = (dst: string): IpRoute | undefined => main.find((r) => r.dst === dst);
    assert.equal(find('default')?.gateway, '10.30.0.254');
    assert.equal(find('10.32.0.0/16')?.scope, 'link');
    assert.equal(find('10.32.0.0/16')?.prefsrc, '10.30.0.1');
    assert.equal(find('10.32.0.0/16')?.protocol, 'static');
    assert.ok(find('10.33.0.0/16')?.flags?.includes('onlink'));
    assert.equal(find('10.35.0.0/16')?.type, 'blackhole');
    const t100 = await ipJson<IpRoute[]>(['route', 'show', 'table', '100']);
    assert.deepEqual(
      t100.map((r) => [r.dst, r.gateway, r.metric]),
      [['10.31.0.0/16', '10.30.0.2', 100]],
    );
    const v6 = await ipJson<IpRoute[]>(['-6', 'route', 'show']);
    assert.equal(v6.find((r) => r.dst === 'fd31::/64')?.gateway, 'fd30::ff');

    const ours = await rt.routes.list({ family: 4 });
    const byDst = new Map(ours.map((r) => [r.dst, r]));
    assert.equal(byDst.get('default')?.gateway, '10.30.0.254');
    assert.equal(byDst.get('10.34.0.5/32')?.metrics?.mtu, 1300);
    assert.equal(byDst.has('10.31.0.0/16'), false, 'table 100 is not main');
    const ours100 = await rt.routes.list({ table: 100 });
    assert.deepEqual(
      ours100.map((r) => [r.dst, r.gateway, r.priority, r.table]),
      [['10.31.0.0/16', '10.30.0.2', 100, 100]],
    );
    const brIndex = (await rt.links.get('abr0')).index;
    assert.ok((await rt.routes.list({ dev: 'abr0', family: 4 })).every((r) => r.oif === brIndex));

    await rt.routes.replace({ dst: '10.32.0.0/16', dev: 'abr0', metric: 5 });
    await assert.rejects(rt.routes.add({ dst: 'default', gateway: '10.30.0.254' }), {
      code: 'EEXIST',
    });
    await rt.routes.del({ dst: '10.31.0.0/16', table: 100 });
    assert.deepEqual(await ipJson(['route', 'show', 'table', '100']), []);
    await rt.routes.del({ dst: 'default', gateway: '10.30.0.254' });
    assert.equal(
      (await ipJson<IpRoute[]>(['route', 'show'])).find((r) => r.dst === 'default'),
      undefined,
    );
    await assert.rejects(rt.routes.del({ dst: '10.250.0.0/16' }), {
      name: 'NetlinkError',
      code: 'ESRCH',
    });
  });

  it('broadcast, anycast, multicast and local routes without scope get the scope ip route add gives them', async () => {
    await rt.addrs.add('abr0', '10.36.0.1/24');
    const cases = [
      ['broadcast', '10.36.0.255/32'],
      ['anycast', '10.36.0.128/32'],
      ['multicast', '224.36.0.0/16'],
      ['local', '10.36.0.7/32'],
    ] as const;
    for (const [type, dst] of cases) {
      await rt.routes.add({ dst, type, dev: 'abr0', table: 101 });
      await run('ip', ['route', 'add', type, dst, 'dev', 'abr0', 'table', '102']);
    }
    const scopes = async (table: string): Promise<string[][]> =>
      (await ipJson<IpRoute[]>(['route', 'show', 'table', table]))
        .map((r) => [r.type ?? 'unicast', r.dst, r.scope ?? 'global'])
        .sort();
    const ours = await scopes('101');
    assert.deepEqual(ours, await scopes('102'));
    assert.deepEqual(
      ours.map(([type, , scope]) => [type, scope]),
      [
        ['anycast', 'link'],
        ['broadcast', 'link'],
        ['local', 'host'],
        ['multicast', 'link'],
      ],
    );
  });

  it('multipath, via inet6, metrics and expires are decoded as ip shows them, and added back the same', async () => {
    await rt.addrs.add('abr0', '10.30.0.1/24');
    await rt.addrs.add('abr0', 'fd30::1/64', { noDad: true });
    const ip = (args: string): Promise<unknown> => run('ip', args.split(' '));
    await ip(
      'route add 10.38.0.0/16 table 110 nexthop via 10.30.0.2 dev abr0 weight 2 nexthop via 10.30.0.3 dev abr0',
    );
    await ip('route add 10.39.0.0/16 via inet6 fd30::2 dev abr0 table 110');
    await ip(
      'route add 10.40.0.0/16 via 10.30.0.2 mtu lock 1400 window 1000 rtt 80ms rttvar 40ms ' +
        'ssthresh 10 cwnd 20 initcwnd 10 initrwnd 20 quickack 1 features ecn congctl reno ' +
        'advmss 1300 hoplimit 60 reordering 5 rto_min 200ms fastopen_no_cookie 1 table 110',
    );
    await ip('-6 route add fd39::/64 dev abr0 expires 300 table 110');
    const index = (await rt.links.get('abr0')).index;

    const theirs = await ipJson<IpRoute[]>(['route', 'show', 'table', '110']);
    const ours = new Map((await rt.routes.list({ table: 110 })).map((r) => [r.dst, r]));
    const mp = ours.get('10.38.0.0/16');
    assert.deepEqual(
      mp?.nexthops?.map((h) => [h.gateway, h.oif, h.weight]),
      theirs
        .find((r) => r.dst === '10.38.0.0/16')
        ?.nexthops?.map((h) => [h.gateway, h.dev === 'abr0' ? index : -1, h.weight]),
    );
    assert.deepEqual(
      mp?.nexthops?.map((h) => h.weight),
      [2, 1],
    );
    const via = theirs.find((r) => r.dst === '10.39.0.0/16')?.via;
    assert.equal(via?.family, 'inet6');
    assert.equal(ours.get('10.39.0.0/16')?.gateway, via.host);
    assert.equal(ours.get('10.39.0.0/16')?.gatewayFamily, 6);
    assert.deepEqual(ours.get('10.40.0.0/16')?.metrics, {
      lock: (1 << 2) | (1 << 13), // RTAX_MTU (`mtu lock`), RTAX_RTO_MIN (ip locks it itself)
      mtu: 1400,
      window: 1000,
      rtt: 80 * 8,
      rttvar: 40 * 4,
      ssthresh: 10,
      cwnd: 20,
      advmss: 1300,
      reordering: 5,
      hoplimit: 60,
      initcwnd: 10,
      features: 1, // RTAX_FEATURE_ECN
      rtoMin: 200,
      initrwnd: 20,
      quickack: 1,
      congctl: 'reno',
      fastopenNoCookie: 1,
    });
    const [v6] = (await rt.routes.list({ table: 110, family: 6 })).filter(
      (r) => r.dst === 'fd39::/64',
    );
    const ipExpires = (await ipJson<IpRoute[]>(['-6', 'route', 'show', 'table', '110'])).find(
      (r) => r.dst === 'fd39::/64',
    )?.expires;
    assert.ok(ipExpires !== undefined && ipExpires > 290);
    assert.ok(v6?.expires !== undefined && Math.abs(v6.expires - ipExpires) <= 2, `${v6?.expires}`);

    // What was listed, added back through netplumb, reads the same in ip.
    for (const r of ours.values()) {
      if (r.family !== 4) continue;
      await rt.routes.add({
        dst: r.dst,
        table: 111,
        ...(r.gateway !== undefined ? { gateway: r.gateway } : {}),
        ...(r.oif !== undefined ? { dev: r.oif } : {}),
        ...(r.nexthops
          ? {
              nexthops: r.nexthops.map((h) => ({
                gateway: h.gateway!,
                dev: h.oif,
                weight: h.weight,
              })),
            }
          : {}),
        ...(r.metrics ? { metrics: r.metrics } : {}),
      });
    }
    const text = async (table: string): Promise<string> =>
      (await run('ip', ['route', 'show', 'table', table])).stdout;
    assert.equal(await text('111'), await text('110'));
  });

  it('route streaming yields what list returns, in bounded chunks', async () => {
    await rt.addrs.add('abr0', '10.40.0.1/24');
    for (let i = 0; i < 50; i++)
      await rt.routes.add({ dst: `10.41.${i}.0/24`, gateway: '10.40.0.2', table: 200 });
    const streamed: string[] = [];
    for await (const r of rt.routes.stream({ table: 200 })) streamed.push(r.dst);
    const listed = (await rt.routes.list({ table: 200 })).map((r) => r.dst);
    assert.equal(streamed.length, 50);
    assert.deepEqual(streamed, listed);
    // Breaking out early leaves the socket usable.
    for await (const r of rt.routes.stream({ table: 200 })) {
      assert.ok(r.dst);
      break;
    }
    assert.equal((await rt.routes.list({ table: 200 })).length, 50);
  });

  it('a long stream, requests made while it is consumed, and a second stream inside it: nothing lost, nothing stalls', async function () {
    this.timeout(60_000);
    await rt.addrs.add('abr0', '10.42.0.1/24');
    // Many 32 KiB parts, most still queued in the kernel while the consumer works.
    const lines: string[] = [];
    for (let i = 0; i < 20_000; i++)
      lines.push(
        `route add 172.${16 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}/32 dev abr0 table 201`,
      );
    const file = path.join(os.tmpdir(), `np-routes-${process.pid}.batch`);
    await writeFile(file, `${lines.join('\n')}\n`);
    cleanup.add('rm batch file', () => rm(file, { force: true }));
    await run('ip', ['-batch', file]);
    cleanup.add('flush table 201', () => run('ip', ['route', 'flush', 'table', '201']));
    let outer = 0;
    let inner = 0;
    for await (const r of rt.routes.stream({ table: 201 })) {
      assert.equal(r.table, 201);
      outer++;
      if (outer === 1) {
        await rt.addrs.add('abr0', '10.42.1.1/24'); // an ACKed request
        for await (const _ of rt.routes.stream({ table: 201 })) inner++; // a stream in a stream
      }
      if (outer % 500 === 0) assert.equal((await rt.links.get('abr0')).name, 'abr0');
      if (outer === 10_000) assert.ok((await rt.links.list()).length >= 2);
    }
    assert.equal(outer, 20_000, 'the outer stream saw every route');
    assert.equal(inner, 20_000, 'the inner stream saw every route');
    const ip = await ipJson<unknown[]>(['route', 'show', 'table', '201']);
    assert.equal(ip.length, 20_000);
  });

  it('bad addresses and routes are refused before the kernel, naming the field', async () => {
    const cases: [Promise<unknown>, string][] = [
      [rt.addrs.add('abr0', '10.1.2.3'), 'address'],
      [rt.addrs.add('abr0', '10.1.2.300/24'), 'address'],
      [rt.addrs.add('abr0', '10.1.2.3/33'), 'address'],
      [rt.addrs.add('abr0', 'fd00::1/129'), 'address'],
      [rt.routes.add({ dst: '10.0.0.1/8', gateway: '10.0.0.1' }), 'dst'],
      [rt.routes.add({ dst: 'fd00::/8', gateway: '10.0.0.1' }), 'gateway'],
      [rt.routes.add({ dst: '10.0.0.0/8', nexthops: [] }), 'nexthops'],
      [
        rt.routes.add({ dst: '10.0.0.0/8', nexthops: [{ gateway: '10.0.0.1', weight: 0 }] }),
        'nexthops[0].weight',
      ],
      [
        rt.routes.add({ dst: '10.0.0.0/8', dev: 'abr0', metrics: { congctl: '' } }),
        'metrics.congctl',
      ],
      [rt.routes.add({ dst: 'default' }), 'family'],
      [rt.routes.add({ dst: '10.0.0.0/8' }), 'gateway'],
      [rt.routes.add({ dst: '10.0.0.0/8', dev: 'abr0', scope: 'galaxy' as 'link' }), 'scope'],
    ];
    for (const [p, field] of cases) {
      await assert.rejects(p, (e: unknown) => e instanceof ValidationError && e.field === field);
    }
    const addrs = await rt.addrs.list({ link: 'abr0', family: 4 });
    assert.deepEqual(addrs, []);
  });
});
