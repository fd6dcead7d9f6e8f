/** Rtnl.createNetns(): `ip netns add` and the wiring inside and here, in one round trip. */
import assert from 'node:assert/strict';
import { readdir, stat } from 'node:fs/promises';

import { NetlinkError, NetNS, Rtnl, ValidationError, type NetnsPlan } from '../../lib';
import {
  Cleanup,
  hostLinkNames,
  inNs,
  ipJson,
  madeAhead,
  requireSandbox,
  threadNetns,
  threadsAway,
  waitFor,
} from '../helpers';

interface IpLink {
  ifname: string;
  ifindex: number;
  flags: string[];
  master?: string;
  ifalias?: string;
  link_netnsid?: number;
}
interface IpAddr {
  ifname: string;
  addr_info: { family: string; local: string; prefixlen: number }[];
}

describe('rtnl createNetns', () => {
  before(requireSandbox);
  const cleanup = new Cleanup();
  afterEach(() => cleanup.run());
  let here: Rtnl;
  let hostNs: NetNS;
  beforeEach(async () => {
    here = await Rtnl.open();
    cleanup.add('close handle', () => here.close());
    hostNs = await NetNS.host();
    cleanup.add('close host ns', () => hostNs.close());
  });

  /** Deletes the namespace `name` after the test, if it exists then. */
  function removeLater(name: string): void {
    cleanup.add(`netns del ${name}`, async () => {
      if ((await NetNS.list()).includes(name)) await (await NetNS.open(name)).delete();
    });
  }

  async function bridge(name: string, cidr: string): Promise<number> {
    const br = await here.links.add({ kind: 'bridge', name, up: true });
    cleanup.add(`del ${name}`, () => here.links.del(name));
    await here.addrs.add(br.index, cidr);
    return br.index;
  }

  it('the walk-through in one call, in the order queued: ip shows both sides and a ping crosses', async () => {
    const br = await bridge('cnbr0', '10.233.0.1/24');
    // Runs after the namespace is deleted: the kernel destroys cnv1 shortly after.
    cleanup.add('cnv1 destroyed', () =>
      waitFor('cnv1 to be destroyed', () => !hostLinkNames().includes('cnv1')),
    );
    removeLater('cn1');
    const ns = await here.createNetns('cn1', (inside, h) => {
      inside.linkSet(1, { up: true }).linkAdd({
        kind: 'veth',
        name: 'eth0',
        index: 2,
        mtu: 1400,
        alias: 'inside end',
        peer: { name: 'cnv1', netns: hostNs, mtu: 1400 },
      });
      // Only possible once the veth exists: the order holds across sides.
      h.linkSet('cnv1', { master: br, up: true, alias: 'host end' });
      inside
        .addrAdd(2, '10.233.0.2/24')
        .linkSet('eth0', { up: true })
        // Only valid once the address above is in place.
        .routeAdd({ dst: 'default', gateway: '10.233.0.1' });
    });
    assert.equal(ns.name, 'cn1');
    assert.ok((await NetNS.list()).includes('cn1'), 'ip netns list shows it');
    await ns.close();

    const inside = await ipJson<IpLink[]>(['link', 'show'], 'cn1');
    const eth0 = inside.find((l) => l.ifname === 'eth0')!;
    assert.equal(eth0.ifindex, 2);
    assert.ok(eth0.flags.includes('UP'));
    assert.equal(eth0.ifalias, 'inside end');
    assert.ok(inside.find((l) => l.ifname === 'lo')!.flags.includes('UP'));
    const addrs = await ipJson<IpAddr[]>(['addr', 'show', 'dev', 'eth0'], 'cn1');
    assert.deepEqual(
      addrs[0]!.addr_info
        .filter((a) => a.family === 'inet')
        .map((a) => `${a.local}/${a.prefixlen}`),
      ['10.233.0.2/24'],
    );
    const routes = await ipJson<{ dst: string; gateway?: string }[]>(['route', 'show'], 'cn1');
    assert.ok(routes.some((r) => r.dst === 'default' && r.gateway === '10.233.0.1'));
    const peer = (await ipJson<IpLink[]>(['link', 'show', 'cnv1']))[0]!;
    assert.equal(peer.master, 'cnbr0');
    assert.ok(peer.flags.includes('UP'));
    assert.equal(peer.ifalias, 'host end');
    await inNs('cn1', 'ping', ['-c', '1', '-W', '2', '10.233.0.1']);
  });

  it('bad input is refused before the kernel: no namespace, no link', async () => {
    const names = await NetNS.list();
    const refused = async (
      plan: Parameters<Rtnl['createNetns']>[1],
      field: string,
      name = 'cn2',
    ): Promise<void> => {
      removeLater(name);
      await assert.rejects(
        here.createNetns(name, plan),
        (err: unknown) => err instanceof ValidationError && err.field === field,
      );
      assert.deepEqual(await NetNS.list(), names, `no namespace left for ${field}`);
      // By name: links of namespaces other tests deleted may still be going.
      assert.ok(!hostLinkNames().includes('cnv2'), `no link left for ${field}`);
    };
    // Inside, a link is named by ifindex: there is nobody to ask for a name.
    await refused((inside) => {
      inside.linkSet(1, { up: true }).addrAdd('eth0', '10.0.0.2/24');
    }, 'link');
    await refused((inside) => {
      inside.routeAdd({ dst: '10.1.0.0/16', dev: 'eth0' });
    }, 'dev');
    await refused((inside, h) => {
      h.linkAdd({ kind: 'veth', name: 'cnv2', peer: { name: 'eth0', netns: hostNs } });
      inside.addrAdd(1, '10.0.0.300/8');
    }, 'address');
    await refused((inside) => {
      inside.linkAdd({ kind: 'tap', name: 'tap0' });
    }, 'kind');
    await refused((inside) => {
      inside.linkAdd({
        kind: 'veth',
        name: 'eth0',
        peer: { name: 'cnv2', netns: hostNs, up: true },
      });
    }, 'peer.up');
    await refused(() => undefined, 'name', 'a/b');
    await assert.rejects(
      here.createNetns('cn2', 'no plan' as unknown as Parameters<Rtnl['createNetns']>[1]),
      { name: 'ValidationError', field: 'plan' },
    );
    // An async plan (as JavaScript allows) would lose what it queues after an await.
    const late = async (inside: NetnsPlan): Promise<void> => {
      await Promise.resolve();
      inside.linkSet(1, { up: true });
    };
    // eslint-disable-next-line @typescript-eslint/no-misused-promises -- the misuse under test
    await refused(late, 'plan');
  });

  it('a change the kernel refuses is named, and the namespace goes with both veth ends', async () => {
    removeLater('cn3');
    await assert.rejects(
      here.createNetns('cn3', (inside, h) => {
        inside.linkSet(1, { up: true }).linkAdd({
          kind: 'veth',
          name: 'eth0',
          index: 2,
          peer: { name: 'cnv3', netns: hostNs },
        });
        h.linkSet('cnv3', { up: true });
        // lo up gave it 127.0.0.1/8 already.
        inside.addrAdd(1, '127.0.0.1/8');
      }),
      (err: unknown) =>
        err instanceof NetlinkError && err.code === 'EEXIST' && err.op.includes('127.0.0.1/8'),
    );
    assert.ok(!(await NetNS.list()).includes('cn3'), 'the namespace is gone');
    assert.ok(!hostLinkNames().includes('cnv3'), 'the veth end here is gone with it');
    assert.ok(!(await readdir('/run/netns')).includes('cn3'), 'no mount point left');
  });

  it('an empty plan is `ip netns add` alone', async () => {
    removeLater('cn5');
    const ns = await here.createNetns('cn5', () => undefined);
    await ns.close();
    const links = await ipJson<IpLink[]>(['link', 'show'], 'cn5');
    assert.deepEqual(
      links.map((l) => [l.ifname, l.flags.includes('UP')]),
      [['lo', false]],
    );
  });

  it('a name already taken is refused and the namespace of that name is left alone', async () => {
    const ns = await NetNS.create('cn4');
    cleanup.add('netns del cn4', () => ns.delete());
    const rt = await Rtnl.open(ns);
    await rt.links.set(1, { up: true });
    await rt.close();
    await assert.rejects(
      here.createNetns('cn4', (inside) => {
        inside.linkSet(1, { up: false });
      }),
      (err: unknown) => err instanceof NetlinkError && err.code === 'EEXIST',
    );
    const lo = (await ipJson<IpLink[]>(['link', 'show', 'lo'], 'cn4'))[0]!;
    assert.ok(lo.flags.includes('UP'), 'the existing namespace was not touched');
  });

  it('makes the next namespace ahead: the next call gets it fresh; close() gives it back', async () => {
    removeLater('cn6');
    removeLater('cn7');
    const own = await Rtnl.open();
    cleanup.add('close own handle', () => own.close());
    const first = await own.createNetns('cn6', (inside) => {
      inside.linkSet(1, { up: true }).linkAdd({ kind: 'bridge', name: 'br6', index: 7 });
    });
    await first.close();
    // The builder thread went home and, idle, unshared the next namespace.
    let ahead: number[] = [];
    await waitFor(
      'the next namespace made ahead',
      async () => (ahead = await madeAhead()).length === 1,
    );
    const second = await own.createNetns('cn7', (inside) => {
      inside.linkSet(1, { up: true });
    });
    await second.close();
    assert.equal((await stat('/run/netns/cn7')).ino, ahead[0], 'cn7 is the namespace made ahead');
    // Fresh: nothing of cn6's plan, only what cn7's plan made.
    const links = await ipJson<IpLink[]>(['link', 'show'], 'cn7');
    assert.deepEqual(
      links.map((l) => [l.ifname, l.flags.includes('UP')]),
      [['lo', true]],
    );
    assert.deepEqual(
      (await ipJson<IpLink[]>(['link', 'show'], 'cn6')).map((l) => l.ifname),
      ['lo', 'br6'],
    );
    const named = new Set([(await stat('/run/netns/cn6')).ino, ahead[0]!]);
    assert.deepEqual(
      (await threadNetns()).filter((ino) => named.has(ino)),
      [],
      'no thread stays inside a namespace it made',
    );
    await own.close();
    assert.deepEqual(await madeAhead(), [], 'close() gives back the namespace made ahead');
    assert.deepEqual(await threadsAway(), [], 'no thread is left in another namespace');
  });

  it('from a handle in another namespace: "here" is that namespace, call after call', async () => {
    const outer = await NetNS.create('cn8');
    cleanup.add('netns del cn8', () => outer.delete());
    const there = await Rtnl.open(outer);
    cleanup.add('close there', () => there.close());
    for (const n of [0, 1]) {
      removeLater(`cn9${n}`);
      const ns = await there.createNetns(`cn9${n}`, (inside, here) => {
        inside.linkAdd({
          kind: 'veth',
          name: 'eth0',
          index: 2,
          peer: { name: `out${n}`, netns: outer },
        });
        here.linkSet(`out${n}`, { up: true, alias: `second call: ${n === 1}` });
      });
      await ns.close();
    }
    const links = await ipJson<IpLink[]>(['link', 'show'], 'cn8');
    assert.deepEqual(
      links.filter((l) => l.ifname.startsWith('out')).map((l) => [l.ifname, l.ifalias]),
      [
        ['out0', 'second call: false'],
        ['out1', 'second call: true'],
      ],
    );
    assert.ok(
      !hostLinkNames().some((l) => l.startsWith('out')),
      'nothing landed in this namespace',
    );
  });
});
