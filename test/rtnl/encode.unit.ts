/**
 * Golden bytes: the requests netplumb builds, through the same validation
 * and encoders the API uses, compared with what iproute2 sends for the same
 * command (captured by test/fixtures/capture-rtnl.sh with strace).
 * No kernel, no root.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';

import { CONSTANT_NAMES, K, native, type LinkWire } from '../../lib/binding';
import type { Channel } from '../../lib/channel';
import type { NetNS } from '../../lib/netns';
import { Addrs } from '../../lib/rtnl/addrs';
import type { LinkRef, RtnlContext } from '../../lib/rtnl/common';
import { Links } from '../../lib/rtnl/links';
import { Neighbors } from '../../lib/rtnl/neigh';
import { Routes } from '../../lib/rtnl/routes';
import { ROOT } from '../helpers';

const FIXTURES = path.join(ROOT, 'test', 'fixtures', 'rtnl');

interface Fixture {
  command: string;
  requests: string[];
}

function fixture(name: string): Fixture {
  return JSON.parse(readFileSync(path.join(FIXTURES, `${name}.json`), 'utf8')) as Fixture;
}

// Interface indexes in the namespace where the fixtures were captured.
const INDEX: Record<string, number> = Object.fromEntries(
  readFileSync(path.join(FIXTURES, 'indexes.txt'), 'utf8')
    .trim()
    .split('\n')
    .map((line) => line.split('='))
    .map(([name, index]) => [name!, Number(index)]),
);

const ctx: RtnlContext = {
  channel: undefined as unknown as Channel,
  handle: undefined as unknown as RtnlContext['handle'],
  netns: undefined,
  inNetns(): never {
    throw new Error('not used by encoders');
  },
  index(ref: LinkRef): Promise<number> {
    if (typeof ref === 'number') return Promise.resolve(ref);
    const i = INDEX[ref];
    if (i === undefined) throw new Error(`no index for ${ref} in the fixture namespace`);
    return Promise.resolve(i);
  },
};
const links = new Links(ctx);
const addrs = new Addrs(ctx);
const routes = new Routes(ctx);
const neigh = new Neighbors(ctx);

/** A namespace whose file descriptor number is `fd` (ip's was 4 when captured). */
function fakeNetns(fd: number): NetNS {
  return { fd: { fd } } as unknown as NetNS;
}

/** Sequence numbers and port ids differ by run: compare with them zeroed. */
function normalise(buf: Buffer, ignoreFlags = 0): string {
  const b = Buffer.from(buf);
  b.writeUInt32LE(0, 8);
  b.writeUInt32LE(0, 12);
  b.writeUInt16LE(b.readUInt16LE(6) & ~ignoreFlags, 6);
  return b.toString('hex');
}

function expectSame(name: string, ours: Buffer, ignoreFlags = 0): void {
  const f = fixture(name);
  const theirs = Buffer.from(f.requests[f.requests.length - 1]!, 'hex');
  assert.equal(
    normalise(ours, ignoreFlags),
    normalise(theirs, ignoreFlags),
    `bytes differ from \`${f.command}\``,
  );
}

const addLink = async (spec: Parameters<Links['add']>[0]): Promise<Buffer> =>
  native.encode('newlink', await links.addWire(spec));
const setLink = async (ref: LinkRef, changes: Parameters<Links['set']>[1]): Promise<Buffer> =>
  native.encode('newlink', await links.setWire(ref, changes));

describe('rtnetlink requests match iproute2 byte for byte', () => {
  it('ip link add br1 type bridge', async () => {
    expectSame('link-add-bridge', await addLink({ kind: 'bridge', name: 'br1' }));
  });
  it('ip link add br2 mtu 1400 type bridge stp_state 0 forward_delay 0', async () => {
    const buf = await addLink({
      kind: 'bridge',
      name: 'br2',
      mtu: 1400,
      stp: false,
      forwardDelay: 0,
    });
    expectSame('link-add-bridge-mtu-opts', buf);
  });
  it('ip link add vh1 type veth peer name vp1', async () => {
    expectSame(
      'link-add-veth',
      await addLink({ kind: 'veth', name: 'vh1', peer: { name: 'vp1' } }),
    );
  });
  it('ip link add vh2 mtu 1450 type veth peer name vp2 mtu 1450 address ...', async () => {
    const buf = await addLink({
      kind: 'veth',
      name: 'vh2',
      mtu: 1450,
      peer: { name: 'vp2', mtu: 1450, mac: '02:42:0a:00:00:02' },
    });
    expectSame('link-add-veth-peer-mtu', buf);
  });
  it('ip link add vh5 mtu 1500 numtxqueues 1 numrxqueues 1 type veth peer name vp5 mtu 1500 numtxqueues 1 numrxqueues 1', async () => {
    const buf = await addLink({
      kind: 'veth',
      name: 'vh5',
      mtu: 1500,
      numTxQueues: 1,
      numRxQueues: 1,
      peer: { name: 'vp5', mtu: 1500, numTxQueues: 1, numRxQueues: 1 },
    });
    expectSame('link-add-veth-queues', buf);
  });
  it('ip link add vh3 type veth peer name eth0 netns tns', async () => {
    const buf = await addLink({
      kind: 'veth',
      name: 'vh3',
      peer: { name: 'eth0', netns: fakeNetns(4) },
    });
    expectSame('link-add-veth-netns', buf);
  });
  it('ip link add vh4 mtu 1500 master br0 up type veth peer name vp4 mtu 1500', async () => {
    const buf = await addLink({
      kind: 'veth',
      name: 'vh4',
      mtu: 1500,
      master: 'br0',
      up: true,
      peer: { name: 'vp4', mtu: 1500 },
    });
    expectSame('link-add-veth-master-up', buf);
  });
  it('ip link add vx0 type vxlan id 42 local 10.0.0.1 dev br0 dstport 4789 nolearning', async () => {
    const buf = await addLink({
      kind: 'vxlan',
      name: 'vx0',
      vni: 42,
      local: '10.0.0.1',
      dev: 'br0',
      port: 4789,
      learning: false,
    });
    expectSame('link-add-vxlan', buf);
  });
  it('ip link add mv0 link br0 type macvlan mode bridge', async () => {
    expectSame(
      'link-add-macvlan',
      await addLink({ kind: 'macvlan', name: 'mv0', link: 'br0', mode: 'bridge' }),
    );
  });
  it('ip link set vh0 master br0', async () => {
    expectSame('link-set-master', await setLink(INDEX.vh0!, { master: 'br0' }));
  });
  it('ip link set vh0 nomaster', async () => {
    expectSame('link-set-nomaster', await setLink(INDEX.vh0!, { master: null }));
  });
  it('ip link set vh0 up / down', async () => {
    expectSame('link-set-up', await setLink(INDEX.vh0!, { up: true }));
    expectSame('link-set-down', await setLink(INDEX.vh0!, { up: false }));
  });
  it('ip link set dev vh0 mtu 1400 address 02:42:ac:11:00:02', async () => {
    expectSame(
      'link-set-mtu-mac',
      await setLink(INDEX.vh0!, { mtu: 1400, mac: '02:42:ac:11:00:02' }),
    );
  });
  it('ip link set dev vh0 alias netplumb:test', async () => {
    expectSame('link-set-alias', await setLink(INDEX.vh0!, { alias: 'netplumb:test' }));
  });
  it('ip link set dev vh0 addrgenmode none', async () => {
    expectSame('link-set-addrgenmode', await setLink(INDEX.vh0!, { addrGenMode: 'none' }));
  });
  it('sysctl net.ipv4.conf.vh0.arp_notify=1 (no ip command: the layout of inet_set_link_af)', async () => {
    const buf = await setLink(INDEX.vh0!, { arpNotify: true });
    // nlmsghdr 16 + ifinfomsg 16, then
    // IFLA_AF_SPEC { AF_INET { IFLA_INET_CONF { IPV4_DEVCONF_ARP_NOTIFY: u32 1 } } }
    const attr = (type: number, body: Buffer): Buffer => {
      const h = Buffer.alloc(4);
      h.writeUInt16LE(4 + body.length, 0);
      h.writeUInt16LE(type, 2);
      return Buffer.concat([h, body]);
    };
    const one = Buffer.alloc(4);
    one.writeUInt32LE(1, 0);
    const want = attr(
      K.IFLA_AF_SPEC,
      attr(K.AF_INET, attr(K.IFLA_INET_CONF, attr(K.IPV4_DEVCONF_ARP_NOTIFY, one))),
    );
    assert.equal(buf.readUInt16LE(4), K.RTM_NEWLINK);
    assert.equal(buf.readInt32LE(20), INDEX.vh0);
    assert.equal(buf.subarray(32).toString('hex'), want.toString('hex'));
    assert.equal(buf.readUInt32LE(0), 32 + want.length);
  });
  it('ip link set dev vp0 name eth9', async () => {
    expectSame('link-set-name', await setLink('vp0', { name: 'eth9' }));
  });
  it('ip link set dev vh0 type bridge_slave isolated on hairpin on', async () => {
    expectSame(
      'link-set-port-opts',
      await setLink(INDEX.vh0!, { port: { isolated: true, hairpin: true } }),
    );
  });
  it('ip link del vx0', () => {
    const f = fixture('link-del');
    const index = Buffer.from(f.requests[f.requests.length - 1]!, 'hex').readInt32LE(20);
    expectSame('link-del', native.encode('dellink', links.delWire(index)));
  });

  it('ip addr add 10.0.1.1/24 dev br0 (no broadcast)', () => {
    expectSame(
      'addr-add-v4',
      native.encode('newaddr', addrs.wire(INDEX.br0!, '10.0.1.1/24', { broadcast: false })),
    );
  });
  it('ip addr add 10.0.2.1/24 brd + dev br0 (the default)', () => {
    expectSame('addr-add-v4-brd', native.encode('newaddr', addrs.wire(INDEX.br0!, '10.0.2.1/24')));
  });
  it('ip -6 addr add fd00::1/64 dev br0 nodad', () => {
    expectSame(
      'addr-add-v6',
      native.encode('newaddr', addrs.wire(INDEX.br0!, 'fd00::1/64', { noDad: true })),
    );
  });
  it('ip addr del 10.0.1.1/24 dev br0', () => {
    expectSame('addr-del-v4', native.encode('deladdr', addrs.delWire(INDEX.br0!, '10.0.1.1/24')));
  });

  it('ip route add default via 10.0.0.254', async () => {
    expectSame(
      'route-add-default',
      (await routes.request({ dst: 'default', gateway: '10.0.0.254' }, 'add')).buf,
    );
  });
  it('ip route add 10.1.0.0/16 via 10.0.0.2 dev br0 metric 100 table 100', async () => {
    const req = await routes.request(
      { dst: '10.1.0.0/16', gateway: '10.0.0.2', dev: 'br0', metric: 100, table: 100 },
      'add',
    );
    expectSame('route-add-full', req.buf);
  });
  it('ip route add 10.2.0.0/16 dev br0 scope link src 10.0.0.1 proto static', async () => {
    const req = await routes.request(
      { dst: '10.2.0.0/16', dev: 'br0', scope: 'link', src: '10.0.0.1', protocol: 'static' },
      'add',
    );
    expectSame('route-add-link', req.buf);
  });
  it('ip route add 10.3.0.0/16 via 10.9.9.9 dev br0 onlink', async () => {
    const req = await routes.request(
      { dst: '10.3.0.0/16', gateway: '10.9.9.9', dev: 'br0', onlink: true },
      'add',
    );
    expectSame('route-add-onlink', req.buf);
  });
  it('ip route replace 10.2.0.0/16 dev br0 metric 5', async () => {
    expectSame(
      'route-replace',
      (await routes.request({ dst: '10.2.0.0/16', dev: 'br0', metric: 5 }, 'replace')).buf,
    );
  });
  it('ip route del 10.1.0.0/16 via 10.0.0.2 dev br0 metric 100 table 100', async () => {
    const req = await routes.request(
      { dst: '10.1.0.0/16', gateway: '10.0.0.2', dev: 'br0', metric: 100, table: 100 },
      'del',
    );
    expectSame('route-del', req.buf);
  });
  it('ip -6 route add fd01::/64 via fd00::ff dev br0', async () => {
    expectSame(
      'route-add-v6',
      (await routes.request({ dst: 'fd01::/64', gateway: 'fd00::ff', dev: 'br0' }, 'add')).buf,
    );
  });

  it('ip neigh add 10.0.0.5 lladdr 02:00:00:00:00:05 dev br0 nud permanent', async () => {
    const wire = await neigh.wire(
      { dst: '10.0.0.5', lladdr: '02:00:00:00:00:05', dev: 'br0', state: 'permanent' },
      'add',
    );
    expectSame('neigh-add', native.encode('newneigh', wire));
  });
  it('ip neigh del 10.0.0.5 dev br0', async () => {
    expectSame(
      'neigh-del',
      native.encode('delneigh', await neigh.wire({ dst: '10.0.0.5', dev: 'br0' }, 'del')),
    );
  });
  it('bridge fdb append 00:00:00:00:00:00 dev vx1 dst 192.168.1.2 self permanent', async () => {
    const spec = {
      family: 'bridge',
      lladdr: '00:00:00:00:00:00',
      dev: 'vx1',
      dst: '192.168.1.2',
      self: true,
    } as const;
    expectSame(
      'fdb-append',
      native.encode(
        'newneigh',
        await neigh.wire({ ...spec, state: 'permanent', append: true }, 'add'),
      ),
    );
    expectSame('fdb-del', native.encode('delneigh', await neigh.wire(spec, 'del')));
  });

  it('every constant the TypeScript side names is exported by the addon', () => {
    const missing = CONSTANT_NAMES.filter((n) => typeof K[n] !== 'number');
    assert.deepEqual(missing, []);
  });

  it('a veth spec without a peer is refused before encoding', async () => {
    await assert.rejects(
      links.addWire({ kind: 'veth', name: 'x' } as unknown as Parameters<Links['add']>[0]),
      {
        name: 'ValidationError',
        field: 'peer',
      },
    );
  });

  it('queue counts outside 1-4096 are refused before encoding, naming the field', async () => {
    await assert.rejects(
      links.addWire({ kind: 'veth', name: 'x', numTxQueues: 0, peer: { name: 'y' } }),
      { name: 'ValidationError', field: 'numTxQueues' },
    );
    await assert.rejects(
      links.addWire({ kind: 'veth', name: 'x', peer: { name: 'y', numRxQueues: 4097 } }),
      { name: 'ValidationError', field: 'peer.numRxQueues' },
    );
  });

  it('the encoder refuses malformed specs with a TypeError naming the field', () => {
    assert.throws(
      () => native.encode('newlink', { flags: 5, mtu: -1 } as unknown as LinkWire),
      /newlink\.mtu must be/,
    );
  });
});

describe('the message writer', () => {
  it('refuses an attribute longer than nla_len can say, rather than wrapping it', () => {
    // 16 bits of nla_len: a 70,000-byte name would be sent as 4,468 bytes
    // long, and the rest read by the kernel as further attributes.
    assert.throws(
      () =>
        native.encode('newtable', { flags: 0, family: K.NFPROTO_IPV4, name: 'x'.repeat(70_000) }),
      {
        name: 'TypeError',
        message: /newtable: an attribute is longer than netlink's 65,535 bytes/,
      },
    );
    assert.equal(
      native.encode('newtable', { flags: 0, family: K.NFPROTO_IPV4, name: 'x'.repeat(60_000) })
        .length,
      16 + 4 + 4 + 60_004, // nlmsghdr, nfgenmsg, the name's header and its bytes + NUL, aligned
    );
  });
});
