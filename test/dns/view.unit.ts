/**
 * The resolver's view updated one sandbox at a time (applySandbox) must
 * equal the view rebuilt from all records (buildView), whatever the order
 * of creations, changes and removals — shared aliases and IPv6 included.
 */
import assert from 'node:assert/strict';

import type { NetworkRecord, SandboxRecord } from '../../lib/engine/records';
import { applySandbox, buildView, type DnsView } from '../../lib/dns/view';

function network(name: string, dflt = false): NetworkRecord {
  return {
    name,
    id: name,
    bridge: `br-${name}`,
    subnet: '10.1.0.0/24',
    gateway: '10.1.0.1',
    mtu: 1500,
    internal: false,
    icc: true,
    labels: {},
    default: dflt,
    created: '',
    state: 'ready',
  };
}

/** A small deterministic PRNG (mulberry32), so a failure names its seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Maps and sets as sorted plain data, so two views compare with deepEqual. */
function plain(view: DnsView): unknown {
  const sortEntries = <V>(m: Map<string, V>, f: (v: V) => unknown): [string, unknown][] =>
    [...m].map(([k, v]): [string, unknown] => [k, f(v)]).sort(([a], [b]) => a.localeCompare(b));
  return {
    networks: sortEntries(view.networks, (n) => ({
      ...n,
      names: sortEntries(n.names, (e) => ({ v4: [...e.v4].sort(), v6: [...e.v6].sort() })),
      ptr: sortEntries(n.ptr, (x) => x),
      members: sortEntries(n.members, (x) => x),
    })),
    memberships: sortEntries(view.memberships, (s) => [...s].sort()),
  };
}

describe('dns view: incremental updates', () => {
  const networks = [network('a'), network('b'), network('bridge', true)];
  const aliases = ['web', 'db', 'cache', 'WEB'];

  for (const seed of [1, 2, 3, 42, 1234]) {
    it(`equals the view rebuilt from scratch after 300 random changes (seed ${seed})`, () => {
      const rnd = prng(seed);
      const pick = <T>(xs: T[]): T => xs[Math.floor(rnd() * xs.length)]!;
      const records = new Map<string, SandboxRecord>();
      const view = buildView(networks, []);
      for (let step = 0; step < 300; step++) {
        const num = Math.floor(rnd() * 12);
        const name = `s${num}`;
        const old = records.get(name);
        if (old && rnd() < 0.3) {
          records.delete(name);
          applySandbox(view, old, undefined);
          continue;
        }
        const n = 1 + Math.floor(rnd() * 2);
        const rec: SandboxRecord = {
          name,
          id: name,
          mode: 'bridge',
          hostname: rnd() < 0.5 ? name : `h-${name}`,
          labels: {},
          created: '',
          state: rnd() < 0.9 ? 'ready' : 'creating',
          pid: 1,
          endpoints: Array.from({ length: n }, (_, i) => ({
            id: `${name}-${i}`,
            network: pick(networks).name,
            ifname: `eth${i}`,
            hostIfname: `v${name}${i}`,
            // Addresses are unique on a network (IPAM); names and aliases need not be.
            ip: `10.1.0.${2 + num * 2 + i}`,
            prefixlen: 24,
            gateway: '10.1.0.1',
            ...(rnd() < 0.5 ? { ip6: `fd00::${(2 + num * 2 + i).toString(16)}` } : {}),
            mac: '02:42:00:00:00:00',
            aliases: rnd() < 0.6 ? [pick(aliases)] : [],
            ports: [],
          })),
          publish: [],
          expose: [],
          publishAll: false,
          warnings: [],
        };
        records.set(name, rec);
        applySandbox(view, old, rec);
      }
      assert.deepEqual(plain(view), plain(buildView(networks, [...records.values()])));
    });
  }

  it('a removed sandbox leaves no name, address or membership behind', () => {
    const view = buildView(networks, []);
    const rec: SandboxRecord = {
      name: 'x',
      id: 'x',
      mode: 'bridge',
      hostname: 'x',
      labels: {},
      created: '',
      state: 'ready',
      pid: 1,
      endpoints: [
        {
          id: 'e',
          network: 'a',
          ifname: 'eth0',
          hostIfname: 'vx',
          ip: '10.1.0.5',
          prefixlen: 24,
          gateway: '10.1.0.1',
          mac: '02:42:0a:01:00:05',
          aliases: ['web'],
          ports: [],
        },
      ],
      publish: [],
      expose: [],
      publishAll: false,
      warnings: [],
    };
    applySandbox(view, undefined, rec);
    assert.deepEqual(view.networks.get('a')!.names.get('web'), { v4: ['10.1.0.5'], v6: [] });
    applySandbox(view, rec, undefined);
    assert.equal(view.networks.get('a')!.names.size, 0);
    assert.equal(view.networks.get('a')!.ptr.size, 0);
    assert.equal(view.memberships.size, 0);
  });
});
