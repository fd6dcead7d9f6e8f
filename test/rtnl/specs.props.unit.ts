/**
 * Properties of the link, address and route specs (lib/rtnl): a valid spec
 * goes through validation and the native encoder, and the native decoder
 * reads the request back as the same object; a spec with one bad field is
 * a ValidationError naming that field before anything is sent. No kernel:
 * the context refuses any use of a socket.
 */
import assert from 'node:assert/strict';
import { isIP } from 'node:net';

import fc from 'fast-check';

import { K, native } from '../../lib/binding';
import type { Channel } from '../../lib/channel';
import { ValidationError } from '../../lib/errors';
import { Addrs, type Address } from '../../lib/rtnl/addrs';
import type { RtnlContext } from '../../lib/rtnl/common';
import { Links, type Link, type LinkSpec } from '../../lib/rtnl/links';
import { Routes, routeFromRow, type RouteSpec } from '../../lib/rtnl/routes';
import { formatIp, formatMac, networkOf, parseIp } from '../../lib/util/ip';
import { nasty, refused, refusedAsync, runs } from '../props';

const offline = new Proxy(
  {},
  {
    get(): never {
      throw new Error('nothing may reach the kernel');
    },
  },
);
const ctx: RtnlContext = {
  channel: offline as unknown as Channel,
  handle: offline as RtnlContext['handle'],
  netns: undefined,
  // Names would be asked of the kernel: the generators use ifindexes.
  index: (ref) =>
    typeof ref === 'number' ? Promise.resolve(ref) : Promise.reject(new Error('no kernel here')),
  inNetns: () => Promise.reject(new Error('no kernel here')),
};
const links = new Links(ctx);
const addrs = new Addrs(ctx);
const routes = new Routes(ctx);

function decodeOne(buf: Buffer): unknown {
  const msgs = native.decode(K.NETLINK_ROUTE, buf);
  assert.equal(msgs.length, 1);
  return msgs[0]!.object;
}

const ifname = fc.stringMatching(/^[a-z][a-z0-9_.-]{0,14}$/);
const mtu = fc.integer({ min: 68, max: 65535 });
// An interface's own address: unicast (bit 0 of the first byte clear), not all zero.
const mac = fc
  .uint8Array({ minLength: 6, maxLength: 6 })
  .map((a) => {
    a[0] = a[0]! & 0xfe;
    return a;
  })
  .filter((a) => a.some((b) => b !== 0))
  .map((a) => formatMac(Buffer.from(a)));
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const ifindex = fc.integer({ min: 1, max: 0x7fffffff });

const common = {
  mtu,
  mac,
  txqlen: u32,
  devGroup: u32,
  up: fc.boolean(),
  master: ifindex,
};
const linkSpec: fc.Arbitrary<LinkSpec> = fc.oneof(
  fc.record(
    {
      kind: fc.constant('bridge' as const),
      name: ifname,
      ...common,
      stp: fc.boolean(),
      forwardDelay: u32,
      ageingTime: u32,
      vlanFiltering: fc.boolean(),
      mcastSnooping: fc.boolean(),
      nfCallIptables: fc.boolean(),
      nfCallIp6tables: fc.boolean(),
    },
    { requiredKeys: ['kind', 'name'] },
  ),
  fc.record(
    { kind: fc.constantFrom('dummy' as const, 'ifb' as const), name: ifname, ...common },
    { requiredKeys: ['kind', 'name'] },
  ),
  fc
    .record(
      {
        kind: fc.constant('veth' as const),
        name: ifname,
        ...common,
        peer: fc.record({ name: ifname, mtu, mac }, { requiredKeys: ['name'] }),
      },
      { requiredKeys: ['kind', 'name', 'peer'] },
    )
    .filter((s) => s.peer.name !== s.name),
  fc.record(
    {
      kind: fc.constant('vxlan' as const),
      name: ifname,
      ...common,
      vni: fc.integer({ min: 0, max: 0xffffff }),
      local: fc.ipV4(),
      group: fc.ipV4(),
      port: fc.integer({ min: 1, max: 65535 }),
      learning: fc.boolean(),
      ttl: fc.integer({ min: 0, max: 255 }),
      dev: ifindex,
    },
    { requiredKeys: ['kind', 'name', 'vni'] },
  ),
  fc.record(
    {
      kind: fc.constantFrom('macvlan' as const, 'macvtap' as const),
      name: ifname,
      ...common,
      link: ifindex,
      mode: fc.constantFrom(
        'private' as const,
        'vepa' as const,
        'bridge' as const,
        'passthru' as const,
      ),
    },
    { requiredKeys: ['kind', 'name', 'link'] },
  ),
);

/** Values a field of the given kind must refuse. */
const notUint = fc.oneof(
  fc.constantFrom(-1, 1.5, NaN, Infinity, -Infinity, 2 ** 32, '1', null, true, {}, [], 2 ** 53),
  fc.double().filter((d) => !Number.isInteger(d)),
);
const badMtu = fc.oneof(
  notUint,
  fc.integer({ min: -1000, max: 67 }),
  fc.integer({ min: 65536, max: 2 ** 31 }),
);
const badMac = fc.oneof(
  nasty,
  fc.constantFrom(
    '02:42:ac:11:00',
    '02:42:ac:11:00:02:03',
    'zz:42:ac:11:00:02',
    42,
    '01:00:5e:00:00:01', // multicast
    'ff:ff:ff:ff:ff:ff',
    '00:00:00:00:00:00',
  ),
);
const badName = fc.oneof(
  fc.constantFrom(
    '',
    '.',
    '..',
    'a/b',
    'a:b',
    'a b',
    'x'.repeat(16),
    'é'.repeat(8),
    'tab\there',
    7,
    null,
  ),
  fc.string({ minLength: 16, maxLength: 30 }),
);

const MUTATIONS: [string, string, fc.Arbitrary<unknown>][] = [
  ['name', 'name', badName],
  ['mtu', 'link.mtu', notUint],
  ['mac', 'link.mac', badMac],
  ['txqlen', 'link.txqlen', notUint],
  ['devGroup', 'link.devGroup', notUint],
  ['up', 'link.up', fc.constantFrom(1, 0, 'yes', null)],
  ['alias', 'link.alias', fc.constantFrom(7, 'a'.repeat(256), 'é'.repeat(128), {})],
  ['kind', 'kind', fc.oneof(nasty, fc.constantFrom('Bridge', 'veth0', 'ipip', 7, null))],
  ['master', 'master', fc.constantFrom(0, -1, 1.5, 2 ** 31, '', 'a/b', 'x'.repeat(16), null, true)],
];

describe('properties: link, address and route specs (lib/rtnl)', () => {
  it('links: a valid spec is encoded and read back by the native decoder as given', async () => {
    await fc.assert(
      fc.asyncProperty(linkSpec, async (spec) => {
        const wire = await links.addWire(spec);
        const link = decodeOne(native.encode('newlink', wire)) as Link;
        assert.equal(link.name, spec.name);
        assert.equal(link.kind, spec.kind);
        assert.equal(link.mtu, spec.mtu);
        assert.equal(link.mac, spec.mac);
        assert.equal(link.txqlen, spec.txqlen);
        assert.equal(link.group, spec.devGroup);
        assert.equal(link.master, spec.master);
        assert.equal(link.up, spec.up === true);
        if (spec.kind === 'bridge') {
          const b = link.bridge ?? {};
          assert.equal(b.stpState, spec.stp === undefined ? undefined : spec.stp ? 1 : 0);
          assert.equal(b.forwardDelay, spec.forwardDelay);
          assert.equal(b.ageingTime, spec.ageingTime);
          assert.equal(b.vlanFiltering, spec.vlanFiltering);
          assert.equal(b.mcastSnooping, spec.mcastSnooping);
          assert.equal(b.nfCallIptables, spec.nfCallIptables);
          assert.equal(b.nfCallIp6tables, spec.nfCallIp6tables);
        }
        if (spec.kind === 'vxlan') {
          assert.deepEqual(link.vxlan, {
            id: spec.vni,
            port: spec.port ?? 4789,
            ...(spec.local !== undefined ? { local: spec.local } : {}),
            ...(spec.group !== undefined ? { group: spec.group } : {}),
            ...(spec.learning !== undefined ? { learning: spec.learning } : {}),
            ...(spec.ttl !== undefined ? { ttl: spec.ttl } : {}),
            ...(spec.dev !== undefined ? { link: spec.dev } : {}),
          });
        }
        if (spec.kind === 'macvlan' || spec.kind === 'macvtap') {
          assert.equal(link.link, spec.link);
          assert.equal(link.macvlan?.mode, spec.mode);
        }
      }),
      runs(300),
    );
  });

  it('links: one bad field is refused, naming it, before anything is sent', async () => {
    const mutated = fc
      .tuple(linkSpec, fc.constantFrom(...MUTATIONS))
      .chain(([spec, [key, field, bad]]) =>
        bad.map((v) => ({ spec: { ...spec, [key]: v }, field })),
      );
    await fc.assert(
      fc.asyncProperty(mutated, async ({ spec, field }) => {
        await refusedAsync(() => links.addWire(spec), field);
      }),
      runs(500),
    );
  });

  it("MTU: links and veth peers take any u32 (the kernel checks each device's bounds), routes 68 to 65535", async () => {
    const anyMtu = fc.oneof(
      mtu,
      badMtu,
      fc.integer({ min: -(2 ** 31), max: 2 ** 31 }),
      fc.constantFrom(0, 65536, 2 ** 32 - 1, 2 ** 32),
    );
    await fc.assert(
      fc.asyncProperty(anyMtu, async (v) => {
        const u32 = typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffffffff;
        const ok = u32 && v >= 68 && v <= 65535;
        const link = (): Promise<unknown> =>
          links.addWire({ kind: 'dummy', name: 'd0', mtu: v as number });
        const peer = (): Promise<unknown> =>
          links.addWire({ kind: 'veth', name: 'v0', peer: { name: 'v1', mtu: v as number } });
        const set = (): Promise<unknown> => links.setWire(3, { mtu: v as number });
        const route = (): Promise<unknown> =>
          routes.request({ dst: '10.0.0.0/8', dev: 3, mtu: v as number }, 'add');
        if (u32) {
          await link();
          await peer();
          await set();
        } else {
          await refusedAsync(link, 'link.mtu');
          await refusedAsync(peer, 'peer.mtu');
          await refusedAsync(set, 'changes.mtu');
        }
        if (ok) await route();
        else await refusedAsync(route, 'mtu');
      }),
      runs(500),
    );
  });

  const cidr = fc.oneof(
    fc.tuple(fc.ipV4(), fc.integer({ min: 0, max: 32 })),
    fc.tuple(fc.ipV6(), fc.integer({ min: 0, max: 128 })),
  );

  it('addresses: encoded and read back as given (address, prefix, label, peer, broadcast)', () => {
    const spec = fc.record(
      {
        cidr,
        label: fc.stringMatching(/^[a-z][a-z0-9:]{0,14}$/),
        scope: fc.integer({ min: 0, max: 255 }),
        index: ifindex,
        peer: fc.boolean(),
      },
      { requiredKeys: ['cidr', 'index'] },
    );
    fc.assert(
      fc.property(spec, fc.ipV4(), fc.ipV6(), (s, peer4, peer6) => {
        const [addr, len] = s.cidr;
        const v6 = isIP(addr) === 6;
        const peer = s.peer === true ? (v6 ? peer6 : peer4) : undefined;
        const wire = addrs.wire(s.index, `${addr}/${len}`, {
          ...(s.label !== undefined ? { label: s.label } : {}),
          ...(s.scope !== undefined ? { scope: s.scope } : {}),
          ...(peer !== undefined ? { peer } : {}),
        });
        const a = decodeOne(native.encode('newaddr', wire)) as Address;
        const text = parseIp(addr, 'x').text;
        assert.equal(a.family, v6 ? 6 : 4);
        assert.equal(a.address, text);
        assert.equal(a.prefixlen, len);
        assert.equal(a.cidr, `${text}/${len}`);
        assert.equal(a.index, s.index);
        assert.equal(a.label, s.label);
        assert.equal(a.scope, s.scope ?? 0);
        const peerText = peer === undefined ? undefined : parseIp(peer, 'x').text;
        assert.equal(a.peer, peerText === text ? undefined : peerText);
        // IPv4 gets the subnet's broadcast (brd +) unless /31, /32 or a peer.
        const brd =
          !v6 && len < 31 && peer === undefined
            ? [...parseIp(addr, 'x').bytes]
                .map((b, i) => b | (0xff >> Math.min(8, Math.max(0, len - i * 8))))
                .join('.')
            : undefined;
        assert.equal(a.broadcast, brd);
      }),
      runs(300),
    );
  });

  it('IPv6 text is the same on both sides of the addon (RFC 5952, hex groups only)', () => {
    const group = fc.oneof(
      fc.constant(0),
      fc.constant(0),
      fc.constant(0xffff),
      u32.map((n) => n & 0xffff),
    );
    fc.assert(
      fc.property(fc.array(group, { minLength: 8, maxLength: 8 }), (gs) => {
        const b = Buffer.alloc(16);
        gs.forEach((g, i) => b.writeUInt16BE(g, i * 2));
        const text = formatIp(b);
        const a = decodeOne(native.encode('newaddr', addrs.wire(1, `${text}/128`))) as Address;
        assert.equal(a.address, text);
      }),
      runs(300),
    );
  });

  it('addresses: bad input is refused, naming the field', () => {
    const bad = fc.oneof(
      fc.tuple(fc.constant('address'), nasty).map(([f, v]) => ({ f, cidr: v, opts: {} })),
      fc.constant({ f: 'address', cidr: '10.0.0.1', opts: {} }),
      fc.constant({ f: 'peer', cidr: '10.0.0.1/24', opts: { peer: 'fd00::1' } }),
      fc.constant({ f: 'broadcast', cidr: '10.0.0.1/24', opts: { broadcast: 'fd00::1' } }),
      fc
        .constantFrom('x'.repeat(16), 'é'.repeat(8), 7)
        .map((label) => ({ f: 'label', cidr: '10.0.0.1/24', opts: { label } })),
      notUint.map((scope) => ({ f: 'scope', cidr: '10.0.0.1/24', opts: { scope } })),
      notUint.map((validLft) => ({ f: 'validLft', cidr: '10.0.0.1/24', opts: { validLft } })),
      fc
        .constantFrom(1, 'yes', null)
        .map((noDad) => ({ f: 'noDad', cidr: 'fd00::1/64', opts: { noDad } })),
    );
    fc.assert(
      fc.property(bad, ({ f, cidr: c, opts }) => {
        if (f === 'address' && typeof c === 'string' && /^[\d.:a-f]+\/\d{1,3}$/i.test(c)) return;
        refused(() => addrs.wire(2, c, opts as never), f);
      }),
      runs(300),
    );
  });

  it('routes: encoded and read back as given (dst, gateway, table, metric, mtu, source)', async () => {
    const spec = fc
      .tuple(
        cidr,
        fc.record(
          {
            table: fc.oneof(
              fc.integer({ min: 1, max: 0xffffffff }),
              fc.constantFrom('main', 'local'),
            ),
            metric: u32,
            mtu,
            dev: ifindex,
            gw: fc.boolean(),
          },
          { requiredKeys: ['dev'] },
        ),
        fc.ipV4(),
        fc.ipV6(),
      )
      .map(([[addr, len], o, gw4, gw6]) => {
        const v6 = isIP(addr) === 6;
        const net = networkOf(parseIp(addr, 'x').bytes, len);
        const dst = len === 0 ? 'default' : `${formatNet(net)}/${len}`;
        const r: RouteSpec = { dst, dev: o.dev, family: v6 ? 6 : 4 };
        if (o.table !== undefined) r.table = o.table;
        if (o.metric !== undefined) r.metric = o.metric;
        if (o.mtu !== undefined) r.mtu = o.mtu;
        if (o.gw === true) r.gateway = v6 ? gw6 : gw4;
        return r;
      });
    await fc.assert(
      fc.asyncProperty(spec, async (s) => {
        const req = await routes.request(s, 'add');
        const r = routeFromRow(decodeOne(req.buf));
        assert.equal(r.family, s.family);
        assert.equal(r.dst, s.dst);
        assert.equal(r.oif, s.dev);
        const table =
          s.table === undefined || s.table === 'main' ? 254 : s.table === 'local' ? 255 : s.table;
        assert.equal(r.table, table);
        assert.equal(r.priority, s.metric);
        assert.equal(r.metrics?.mtu, s.mtu);
        assert.equal(r.gateway, s.gateway === undefined ? undefined : parseIp(s.gateway, 'x').text);
      }),
      runs(300),
    );
  });

  it('routes: metrics, next hops, an IPv6 gateway and raw attributes come back from encode as they went', async () => {
    const metrics = {
      lock: 4,
      mtu: 1400,
      window: 1000,
      rtt: 640,
      rttvar: 160,
      ssthresh: 10,
      cwnd: 20,
      advmss: 1300,
      reordering: 5,
      hoplimit: 60,
      initcwnd: 10,
      features: 1,
      rtoMin: 200,
      initrwnd: 20,
      quickack: 1,
      fastopenNoCookie: 1,
      congctl: 'reno',
      unknown: [{ type: 200, data: Buffer.from([7, 0, 0, 0]) }],
    };
    const unknown = [{ type: 250, data: Buffer.from('abcd') }];
    const r = routeFromRow(
      decodeOne(
        (
          await routes.request(
            {
              dst: '10.1.0.0/16',
              nexthops: [
                { gateway: '10.0.0.2', dev: 2, weight: 3, onlink: true },
                { gateway: 'fd00::2', dev: 3 },
              ],
              metrics,
              unknown,
            },
            'add',
          )
        ).buf,
      ),
    );
    assert.deepEqual(r.metrics, metrics);
    assert.deepEqual(r.unknown, unknown);
    assert.deepEqual(r.nexthops, [
      { oif: 2, weight: 3, flags: K.RTNH_F_ONLINK, gateway: '10.0.0.2' },
      { oif: 3, weight: 1, flags: 0, gateway: 'fd00::2', gatewayFamily: 6 },
    ]);
    const via = routeFromRow(
      decodeOne(
        (await routes.request({ dst: '10.2.0.0/16', gateway: 'fd00::1', dev: 2 }, 'add')).buf,
      ),
    );
    assert.deepEqual([via.gateway, via.gatewayFamily, via.oif], ['fd00::1', 6, 2]);
  });

  it('routes: a dst with host bits set is refused, suggesting the network in its own notation', async () => {
    for (const [dst, net] of [
      ['10.1.2.3/8', '10.0.0.0/8'],
      ['fd00:1:2::5/48', 'fd00:1:2::/48'],
      ['2001:db8::ff/120', '2001:db8::/120'],
    ]) {
      await assert.rejects(routes.request({ dst: dst!, dev: 2 }, 'add'), (e: unknown) => {
        assert.ok(e instanceof ValidationError);
        assert.equal(e.field, 'dst');
        assert.ok(e.message.endsWith(`(did you mean ${net}?)`), e.message);
        return true;
      });
    }
  });

  it('routes: bad input is refused, naming the field', async () => {
    const bad = fc.oneof(
      nasty.map((dst) => ({ f: 'dst', spec: { dst, dev: 2 } })),
      fc.constant({ f: 'dst', spec: { dst: '10.0.0.1/8', dev: 2 } }),
      fc.constant({ f: 'gateway', spec: { dst: 'fd00::/8', gateway: '10.0.0.1' } }),
      fc.constant({ f: 'gateway', spec: { dst: '10.0.0.0/8' } }),
      fc.constant({ f: 'family', spec: { dst: 'default', dev: 2 } }),
      fc.constant({ f: 'dst', spec: { dst: '10.0.0.0/8', family: 6, dev: 2 } }),
      fc.constant({ f: 'src', spec: { dst: '10.0.0.0/8', dev: 2, src: 'fd00::1' } }),
      notUint.map((metric) => ({ f: 'metric', spec: { dst: '10.0.0.0/8', dev: 2, metric } })),
      fc
        .constantFrom('mian', -1, 1.5, 2 ** 32, null)
        .map((table) => ({ f: 'table', spec: { dst: '10.0.0.0/8', dev: 2, table } })),
      fc
        .constantFrom('global', 256, -1, 'host ')
        .map((scope) => ({ f: 'scope', spec: { dst: '10.0.0.0/8', dev: 2, scope } })),
      fc
        .constantFrom(0, -3, 'a/b', '', 'x'.repeat(16))
        .map((dev) => ({ f: 'dev', spec: { dst: '10.0.0.0/8', dev } })),
    );
    await fc.assert(
      fc.asyncProperty(bad, async ({ f, spec }) => {
        if (
          f === 'dst' &&
          typeof spec.dst === 'string' &&
          /^(default|[\d.:a-f]+(\/\d{1,3})?)$/i.test(spec.dst)
        )
          return;
        await refusedAsync(() => routes.request(spec as RouteSpec, 'add'), f);
      }),
      runs(300),
    );
  });
});

function formatNet(b: Buffer): string {
  if (b.length === 4) return [...b].join('.');
  return parseIp([...Array(8).keys()].map((i) => b.readUInt16BE(i * 2).toString(16)).join(':'), 'x')
    .text;
}
