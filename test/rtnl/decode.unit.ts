/**
 * Decoding: replies the kernel gave `ip -d -j ... show` (captured by
 * test/fixtures/capture-rtnl.sh), decoded by the addon, compared with the
 * JSON ip printed for the same objects. No kernel, no root.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';

import { K, native } from '../../lib/binding';
import type { Address, Link } from '../../lib/rtnl';
import { routeFromRow, type Route } from '../../lib/rtnl/routes';
import { ROOT } from '../helpers';

interface ReplyFixture<T> {
  command: string;
  replies: string[];
  ip: T[];
}

function load<T>(name: string): ReplyFixture<T> {
  return JSON.parse(
    readFileSync(path.join(ROOT, 'test', 'fixtures', 'rtnl', `${name}.json`), 'utf8'),
  ) as ReplyFixture<T>;
}

function decodeAll<T>(f: ReplyFixture<unknown>, type: number): T[] {
  return f.replies.flatMap((hex) =>
    native
      .decode(K.NETLINK_ROUTE, Buffer.from(hex, 'hex'))
      .filter((m) => m.type === type)
      .map((m) => m.object as T),
  );
}

interface IpLinkJson {
  ifindex: number;
  ifname: string;
  mtu: number;
  address: string;
  operstate: string;
  master?: string;
  txqlen: number;
  min_mtu?: number;
  max_mtu?: number;
  linkinfo?: {
    info_kind?: string;
    info_data?: Record<string, unknown>;
    info_slave_kind?: string;
  };
}

describe('rtnetlink replies decode as ip reads them', () => {
  it('links: names, mtu, mac, operstate, master, kinds and their data', () => {
    const f = load<IpLinkJson>('reply-links');
    const ours = new Map(decodeAll<Link>(f, K.RTM_NEWLINK).map((l) => [l.index, l]));
    const names = new Map(f.ip.map((l) => [l.ifname, l.ifindex]));
    assert.equal(ours.size, f.ip.length);
    for (const ip of f.ip) {
      const l = ours.get(ip.ifindex);
      assert.ok(l, `link ${ip.ifname} decoded`);
      assert.equal(l.name, ip.ifname);
      assert.equal(l.mtu, ip.mtu);
      assert.equal(l.mac, ip.address);
      assert.equal(l.operstate?.toUpperCase(), ip.operstate);
      assert.equal(l.txqlen, ip.txqlen);
      assert.equal(l.minMtu, ip.min_mtu);
      assert.equal(l.maxMtu, ip.max_mtu);
      assert.equal(l.master, ip.master === undefined ? undefined : names.get(ip.master));
      assert.equal(l.kind, ip.linkinfo?.info_kind);
      assert.equal(l.slaveKind, ip.linkinfo?.info_slave_kind);
      if (ip.linkinfo?.info_kind === 'vxlan') {
        const d = ip.linkinfo.info_data!;
        assert.deepEqual(
          {
            id: l.vxlan?.id,
            local: l.vxlan?.local,
            port: l.vxlan?.port,
            learning: l.vxlan?.learning,
          },
          { id: d.id, local: d.local, port: d.port, learning: d.learning },
        );
      }
      if (ip.linkinfo?.info_kind === 'bridge') {
        assert.equal(l.bridge?.stpState, ip.linkinfo.info_data!.stp_state);
        assert.equal(l.bridge?.forwardDelay, ip.linkinfo.info_data!.forward_delay);
      }
    }
  });

  it('addresses: address, prefix length, broadcast, label per link', () => {
    interface IpAddrJson {
      ifindex: number;
      addr_info: {
        family: string;
        local: string;
        prefixlen: number;
        broadcast?: string;
        label?: string;
      }[];
    }
    const f = load<IpAddrJson>('reply-addrs');
    const ours = decodeAll<Address>(f, K.RTM_NEWADDR);
    const expected = f.ip.flatMap((l) =>
      l.addr_info.map((a) => [
        l.ifindex,
        a.family === 'inet' ? 4 : 6,
        a.local,
        a.prefixlen,
        a.broadcast ?? null,
        a.label ?? null,
      ]),
    );
    const got = ours.map((a) => [
      a.index,
      a.family,
      a.address,
      a.prefixlen,
      a.broadcast ?? null,
      a.label ?? null,
    ]);
    assert.deepEqual(got.sort(), expected.sort());
  });

  it('routes: destination, gateway, table, scope and metric', () => {
    interface IpRouteJson {
      dst: string;
      gateway?: string;
      table?: string;
      metric?: number;
      prefsrc?: string;
    }
    const f = load<IpRouteJson>('reply-routes');
    const ours = decodeAll<unknown>(f, K.RTM_NEWROUTE).map(routeFromRow);
    assert.equal(ours.length, f.ip.length);
    const tableName = (t: number): string | undefined =>
      t === K.RT_TABLE_MAIN ? undefined : t === K.RT_TABLE_LOCAL ? 'local' : String(t);
    // ip prints host routes without /32 (/128) and the default as 'default'.
    const short = (r: Route): string => r.dst.replace(/\/(32|128)$/, '');
    const got = ours.map((r) => [
      short(r),
      r.gateway ?? null,
      tableName(r.table) ?? null,
      r.priority ?? null,
      r.prefsrc ?? null,
    ]);
    const expected = f.ip.map((r) => [
      r.dst,
      r.gateway ?? null,
      r.table ?? null,
      r.metric ?? null,
      r.prefsrc ?? null,
    ]);
    assert.deepEqual(got.sort(), expected.sort());
  });

  it('truncated and garbage buffers decode to what is whole, never crash', () => {
    const f = load<unknown>('reply-links');
    const whole = Buffer.from(f.replies[0]!, 'hex');
    for (let cut = 0; cut < Math.min(whole.length, 400); cut += 7) {
      native.decode(K.NETLINK_ROUTE, whole.subarray(0, cut));
    }
    const noise = Buffer.alloc(4096);
    for (let i = 0; i < noise.length; i++) noise[i] = (i * 2654435761) >>> 24;
    native.decode(K.NETLINK_ROUTE, noise);
  });
});
