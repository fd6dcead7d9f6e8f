import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';

import { NetNS, NetlinkError, Rtnl, ValidationError, type LinkSpec } from '../../lib';
import { Cleanup, ipJson, ipLinks, requireSandbox, run, waitFor } from '../helpers';

interface IpLink {
  ifname: string;
  ifindex: number;
  mtu: number;
  address: string;
  flags: string[];
  master?: string;
  ifalias?: string;
  inet6_addr_gen_mode?: string;
  linkinfo?: {
    info_kind?: string;
    info_data?: Record<string, unknown>;
    info_slave_kind?: string;
    info_slave_data?: Record<string, unknown>;
  };
}

async function ipLink(name: string, netns?: string): Promise<IpLink> {
  const [l] = await ipJson<IpLink[]>(['link', 'show', 'dev', name], netns);
  return l!;
}

describe('links', () => {
  before(requireSandbox);
  const cleanup = new Cleanup();
  let rt: Rtnl;
  beforeEach(async () => {
    rt = await Rtnl.open();
    cleanup.add('close handle', () => rt.close());
  });
  afterEach(() => cleanup.run());

  const made = (name: string): void => {
    cleanup.add(`del ${name}`, async () => {
      if (await rt.links.find(name)) await rt.links.del(name);
    });
  };

  it('bridge: mtu and stp as asked, listed and got back like ip shows them', async () => {
    const br = await rt.links.add({
      kind: 'bridge',
      name: 'lbr0',
      mtu: 1400,
      stp: false,
      forwardDelay: 0,
      index: 4242,
    });
    made('lbr0');
    const ip = await ipLink('lbr0');
    assert.equal(ip.ifindex, 4242, 'the ifindex asked for (ip link add ... index 4242)');
    assert.equal(br.index, ip.ifindex);
    assert.equal(br.kind, 'bridge');
    assert.equal(ip.linkinfo?.info_kind, 'bridge');
    assert.equal(ip.mtu, 1400);
    assert.equal(br.mtu, 1400);
    assert.equal(ip.linkinfo?.info_data?.stp_state, 0);
    assert.equal(br.bridge?.stpState, 0);
    assert.equal(br.bridge?.forwardDelay, 0);
    assert.equal(br.mac, ip.address);
    const listed = await rt.links.list();
    assert.deepEqual(listed.map((l) => l.name).sort(), [...(await ipLinks()).keys()].sort());
    assert.deepEqual(
      (await rt.links.list({ kind: 'bridge' })).map((l) => l.name),
      ['lbr0'],
    );
    assert.equal((await rt.links.get(br.index)).name, 'lbr0');
  });

  it('veth: both ends here, peer options applied, each knows the other', async () => {
    const v = await rt.links.add({
      kind: 'veth',
      name: 'lv0',
      mtu: 1450,
      mac: '02:42:0a:00:00:01',
      peer: { name: 'lv1', mtu: 1450, mac: '02:42:0a:00:00:02' },
    });
    made('lv0');
    const [a, b] = await Promise.all([ipLink('lv0'), ipLink('lv1')]);
    assert.equal(a.mtu, 1450);
    assert.equal(b.mtu, 1450);
    assert.equal(a.address, '02:42:0a:00:00:01');
    assert.equal(b.address, '02:42:0a:00:00:02');
    assert.equal(v.link, b.ifindex);
    assert.equal(a.linkinfo?.info_kind, 'veth');
  });

  it('veth: queues as asked on each end (numtxqueues/numrxqueues), read back as ip shows them', async () => {
    const v = await rt.links.add({
      kind: 'veth',
      name: 'lq0',
      numTxQueues: 1,
      numRxQueues: 1,
      peer: { name: 'lq1', numTxQueues: 3, numRxQueues: 2 },
    });
    made('lq0');
    const q = async (n: string): Promise<[number, number]> => {
      const [l] = await ipJson<{ num_tx_queues: number; num_rx_queues: number }[]>([
        '-d',
        'link',
        'show',
        'dev',
        n,
      ]);
      return [l!.num_tx_queues, l!.num_rx_queues];
    };
    assert.deepEqual(await q('lq0'), [1, 1]);
    assert.deepEqual(await q('lq1'), [3, 2]);
    assert.equal(v.numTxQueues, 1);
    assert.equal((await rt.links.get('lq1')).numRxQueues, 2);
  });

  it('veth: the peer is born in the target namespace, never in this one', async () => {
    const ns = await NetNS.create('lns');
    cleanup.add('netns del', () => ns.delete());
    const mon = await rt.monitor(['link']);
    cleanup.add('close monitor', () => mon.close());
    const v = await rt.links.add({
      kind: 'veth',
      name: 'lv2',
      up: true,
      peer: { name: 'eth0', netns: ns, mtu: 1300, up: true },
    });
    made('lv2');
    assert.equal(v.up, true);
    const inside = await ipLinks('lns');
    assert.equal(inside.get('eth0')?.mtu, 1300);
    assert.ok(
      (inside.get('eth0')?.flags as string[]).includes('UP'),
      'the peer came up where it lives',
    );
    assert.equal((await ipLinks()).has('eth0'), false);
    // No event ever announced an eth0 here (it was not created and moved).
    await rt.links.add({ kind: 'bridge', name: 'lmark' });
    made('lmark');
    const names: string[] = [];
    for await (const ev of mon) {
      if (ev.kind !== 'link') continue;
      names.push(ev.object.name);
      if (ev.object.name === 'lmark') break;
    }
    assert.ok(names.includes('lv2'));
    assert.ok(!names.includes('eth0'), `events: ${names.join(',')}`);
  });

  it('set: up/down, mtu, mac, alias, rename, master/nomaster, bridge-port hairpin and isolated', async () => {
    await rt.links.add({ kind: 'bridge', name: 'lbr1' });
    made('lbr1');
    await rt.links.add({ kind: 'veth', name: 'lv3', peer: { name: 'lv4' } });
    made('lv3');
    made('lv3x');
    await rt.links.set('lv3', {
      up: true,
      mtu: 1280,
      mac: '02:00:00:00:00:33',
      alias: 'netplumb:test',
    });
    let ip = await ipLink('lv3');
    assert.ok(ip.flags.includes('UP'));
    assert.equal(ip.mtu, 1280);
    assert.equal(ip.address, '02:00:00:00:00:33');
    assert.equal(ip.ifalias, 'netplumb:test');
    assert.equal((await rt.links.get('lv3')).alias, 'netplumb:test');
    await rt.links.set('lv3', { up: false });
    assert.ok(!(await ipLink('lv3')).flags.includes('UP'));
    await rt.links.set('lv3', { name: 'lv3x' });
    await rt.links.set('lv3x', { master: 'lbr1' });
    ip = await ipLink('lv3x');
    assert.equal(ip.master, 'lbr1');
    await rt.links.set('lv3x', { port: { hairpin: true, isolated: true } });
    ip = await ipLink('lv3x');
    assert.equal(ip.linkinfo?.info_slave_data?.hairpin, true);
    assert.equal(ip.linkinfo?.info_slave_data?.isolated, true);
    const port = await rt.links.get('lv3x');
    assert.equal(port.slaveKind, 'bridge');
    assert.equal(port.port?.hairpin, true);
    assert.equal(port.port?.isolated, true);
    assert.deepEqual(
      (await rt.links.list({ master: 'lbr1' })).map((l) => l.name),
      ['lv3x'],
    );
    await rt.links.set('lv3x', { master: null });
    assert.equal((await ipLink('lv3x')).master, undefined);
  });

  it('set addrGenMode: none makes no IPv6 link-local address, even once the link has carrier', async () => {
    await rt.links.add({ kind: 'veth', name: 'lv5', peer: { name: 'lv6' } });
    made('lv5');
    await rt.links.set('lv5', { addrGenMode: 'none' });
    await rt.links.set('lv5', { up: true });
    await rt.links.set('lv6', { up: true });
    assert.equal((await ipLink('lv5')).inet6_addr_gen_mode, 'none');
    assert.equal((await ipLink('lv6')).inet6_addr_gen_mode, 'eui64');
    await waitFor('lv6 gets a link-local address', async () => {
      const [a] = await ipJson<{ addr_info: { family: string }[] }[]>([
        'addr',
        'show',
        'dev',
        'lv6',
      ]);
      return a!.addr_info.some((x) => x.family === 'inet6');
    });
    const [lv5] = await ipJson<{ addr_info: { family: string }[] }[]>([
      'addr',
      'show',
      'dev',
      'lv5',
    ]);
    assert.deepEqual(
      lv5!.addr_info.filter((x) => x.family === 'inet6'),
      [],
    );
    await assert.rejects(rt.links.set('lv5', { addrGenMode: 'eui48' as 'none' }), {
      name: 'ValidationError',
      field: 'changes.addrGenMode',
    });
  });

  it('set arpNotify turns conf.DEV.arp_notify on and off over netlink; a link brought up after it announces its address', async () => {
    await rt.links.add({ kind: 'veth', name: 'lv5', peer: { name: 'lv6' } });
    made('lv5');
    const sysctl = async (): Promise<string> =>
      (await readFile('/proc/sys/net/ipv4/conf/lv5/arp_notify', 'utf8')).trim();
    assert.equal(await sysctl(), '0');
    // What it is for: lv6 receives a gratuitous ARP when lv5 comes up with it
    // on, and nothing without (lv5 sends no IPv6 traffic: with IPv6
    // forwarding on, which other tests leave, it would report ff02::2).
    await writeFile('/proc/sys/net/ipv6/conf/lv5/disable_ipv6', '1');
    await rt.addrs.add('lv5', '10.231.0.5/24');
    await rt.links.set('lv6', { up: true });
    const rx = async (): Promise<number> =>
      (await ipJson<{ stats64: { rx: { packets: number } } }[]>(['-s', 'link', 'show', 'lv6']))[0]!
        .stats64.rx.packets;
    const quiet = await rx();
    await rt.links.set('lv5', { up: true });
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(await rx(), quiet, 'without arpNotify lv5 comes up silently');
    await rt.links.set('lv5', { up: false });
    await rt.links.set('lv5', { arpNotify: true });
    assert.equal(await sysctl(), '1');
    await rt.links.set('lv5', { up: true });
    await waitFor('lv6 receives the announcement', async () => (await rx()) > quiet);
    await rt.links.set('lv5', { arpNotify: false });
    assert.equal(await sysctl(), '0');
    await assert.rejects(rt.links.set('lv5', { arpNotify: 1 as unknown as boolean }), {
      name: 'ValidationError',
      field: 'changes.arpNotify',
    });
  });

  it('set netns moves a link into another namespace', async () => {
    const ns = await NetNS.create('lns2');
    cleanup.add('netns del', () => ns.delete());
    await rt.links.add({ kind: 'veth', name: 'lv5', peer: { name: 'lv6' } });
    made('lv5');
    await rt.links.set('lv6', { netns: ns });
    assert.equal((await ipLinks()).has('lv6'), false);
    assert.equal((await ipLinks('lns2')).has('lv6'), true);
  });

  it('vxlan, macvlan, tun and tap with their options', async () => {
    await rt.links.add({ kind: 'bridge', name: 'lbr2' });
    made('lbr2');
    await rt.addrs.add('lbr2', '10.77.0.1/24');
    const vx = await rt.links.add({
      kind: 'vxlan',
      name: 'lvx0',
      vni: 42,
      local: '10.77.0.1',
      dev: 'lbr2',
      port: 4789,
      learning: false,
    });
    made('lvx0');
    const ip = await ipLink('lvx0');
    assert.equal(ip.linkinfo?.info_data?.id, 42);
    assert.equal(ip.linkinfo?.info_data?.local, '10.77.0.1');
    assert.equal(ip.linkinfo?.info_data?.port, 4789);
    assert.equal(ip.linkinfo?.info_data?.learning, false);
    assert.equal(vx.vxlan?.id, 42);
    assert.equal(vx.vxlan?.local, '10.77.0.1');
    assert.equal(vx.vxlan?.learning, false);

    const mv = await rt.links.add({ kind: 'macvlan', name: 'lmv0', link: 'lbr2', mode: 'bridge' });
    made('lmv0');
    assert.equal((await ipLink('lmv0')).linkinfo?.info_data?.mode, 'bridge');
    assert.equal(mv.macvlan?.mode, 'bridge');

    const tun = await rt.links.add({ kind: 'tun', name: 'ltun0', mtu: 1400, up: true });
    made('ltun0');
    const tap = await rt.links.add({ kind: 'tap', name: 'ltap0', master: 'lbr2' });
    made('ltap0');
    const ipTun = await ipLink('ltun0');
    assert.equal(ipTun.linkinfo?.info_kind, 'tun');
    assert.equal(ipTun.linkinfo?.info_data?.type, 'tun');
    assert.equal(ipTun.mtu, 1400);
    assert.ok(ipTun.flags.includes('UP'));
    assert.equal(tun.tun?.type, 'tun');
    assert.equal(tun.tun?.persist, true);
    assert.equal((await ipLink('ltap0')).linkinfo?.info_data?.type, 'tap');
    assert.equal((await ipLink('ltap0')).master, 'lbr2');
    assert.equal(tap.tun?.type, 'tap');
  });

  it('list by kind matches what ip -d shows, for tun (taps included, as ip), tap and kinds the kernel has no driver for', async () => {
    await rt.links.add({ kind: 'bridge', name: 'lkbr0' });
    made('lkbr0');
    await rt.links.add({ kind: 'tun', name: 'lktun0' });
    made('lktun0');
    await rt.links.add({ kind: 'tap', name: 'lktap0' });
    made('lktap0');
    const ip = await ipJson<IpLink[]>(['link', 'show']);
    const ipOf = (kind: string, type?: string): string[] =>
      ip
        .filter(
          (l) =>
            l.linkinfo?.info_kind === kind &&
            (type === undefined || l.linkinfo.info_data?.type === type),
        )
        .map((l) => l.ifname)
        .sort();
    const names = async (kind: string): Promise<string[]> =>
      (await rt.links.list({ kind })).map((l) => l.name).sort();
    assert.deepEqual(await names('tap'), ipOf('tun', 'tap'));
    assert.deepEqual(await names('tap'), ['lktap0']);
    // ip link show type tun: the kernel's kind, tap devices too.
    assert.deepEqual(await names('tun'), ipOf('tun'));
    assert.deepEqual(await names('tun'), ['lktap0', 'lktun0']);
    assert.deepEqual(await names('bridge'), ipOf('bridge'));
    // No driver registers these kinds: the kernel's dump filter lets every link through.
    assert.deepEqual(await names('nosuchkind'), []);
    assert.deepEqual(await names('dummy'), ipOf('dummy'));
  });

  it("lo's MTU of 65536 is taken back; an MTU past a device's maximum is the kernel's to refuse", async () => {
    const lo = await rt.links.get('lo');
    assert.equal(lo.mtu, (await ipLink('lo')).mtu);
    await rt.links.set('lo', { mtu: 65536 });
    assert.equal((await ipLink('lo')).mtu, 65536);
    await rt.links.set('lo', { mtu: lo.mtu });
    await rt.links.add({ kind: 'bridge', name: 'lmtubr0' });
    made('lmtubr0');
    const br = await rt.links.get('lmtubr0');
    await assert.rejects(rt.links.set('lmtubr0', { mtu: br.maxMtu! + 1 }), (e: unknown) => {
      assert.ok(e instanceof NetlinkError, String(e));
      assert.equal(e.code, 'EINVAL');
      assert.match(e.extack ?? '', /mtu greater than device maximum/);
      return true;
    });
    await assert.rejects(
      rt.links.set('lmtubr0', { mtu: 2 ** 32 }),
      (e: unknown) => e instanceof ValidationError && e.field === 'changes.mtu',
    );
  });

  it('kernel errors are typed: duplicate EEXIST, missing ENODEV, with the operation named', async () => {
    await rt.links.add({ kind: 'bridge', name: 'lbr3' });
    made('lbr3');
    await assert.rejects(rt.links.add({ kind: 'bridge', name: 'lbr3' }), {
      name: 'NetlinkError',
      code: 'EEXIST',
      errno: 17,
      op: 'RTM_NEWLINK lbr3',
    });
    await assert.rejects(rt.links.get('lnothere'), { name: 'NetlinkError', code: 'ENODEV' });
    await assert.rejects(rt.links.del('lnothere'), { name: 'NetlinkError', code: 'ENODEV' });
    assert.equal(await rt.links.find('lnothere'), undefined);
    await assert.rejects(rt.links.set('lbr3', { master: 'lnothere' }), { code: 'ENODEV' });
  });

  it('kernel extended ACK text reaches the error', async () => {
    await rt.links.add({ kind: 'bridge', name: 'lbr4', up: true });
    made('lbr4');
    await rt.addrs.add('lbr4', '10.78.0.1/24');
    // A gateway no route reaches: the kernel explains in its extended ACK.
    await assert.rejects(
      rt.routes.add({ dst: '10.79.0.0/16', gateway: '10.200.0.1', dev: 'lbr4' }),
      (e: unknown) => {
        const err = e as { name: string; code: string; extack?: string; message: string };
        return (
          err.name === 'NetlinkError' &&
          err.code === 'ENETUNREACH' &&
          /gateway/i.test(err.extack ?? '') &&
          err.message.includes(err.extack!)
        );
      },
    );
  });

  it('bad input is refused before the kernel, naming the field', async () => {
    const before = [...(await ipLinks()).keys()].sort();
    const cases: [unknown, string][] = [
      [{ kind: 'bridge', name: 'name-is-way-too-long' }, 'name'],
      [{ kind: 'bridge', name: 'bad/name' }, 'name'],
      [{ kind: 'bridge', name: 'has space' }, 'name'],
      [{ kind: 'warp-drive', name: 'x' }, 'kind'],
      [{ kind: 'veth', name: 'lvq' }, 'peer'],
      [{ kind: 'veth', name: 'lvq', peer: { name: 'way-too-long-peer' } }, 'peer.name'],
      [{ kind: 'bridge', name: 'x', mtu: 1.5 }, 'link.mtu'],
      [{ kind: 'bridge', name: 'x', mac: 'zz:zz' }, 'link.mac'],
      [{ kind: 'bridge', name: 'x', index: 0 }, 'index'],
      [{ kind: 'vxlan', name: 'x', vni: 1 << 25 }, 'vni'],
      [{ kind: 'macvlan', name: 'x', link: 'lo', mode: 'wild' }, 'mode'],
    ];
    for (const [spec, field] of cases) {
      await assert.rejects(
        rt.links.add(spec as LinkSpec),
        (e: unknown) => e instanceof ValidationError && e.field === field,
        JSON.stringify(spec),
      );
    }
    await assert.rejects(rt.links.set('lo', { mtu: 2 ** 32 }), ValidationError);
    assert.deepEqual([...(await ipLinks()).keys()].sort(), before);
  });

  it('a link made by `ip` is read back as ip describes it', async () => {
    await run('ip', ['link', 'add', 'lipbr', 'mtu', '1492', 'type', 'bridge']);
    made('lipbr');
    const ip = await ipLink('lipbr');
    const ours = await rt.links.get('lipbr');
    assert.equal(ours.index, ip.ifindex);
    assert.equal(ours.mtu, 1492);
    assert.equal(ours.mac, ip.address);
    assert.equal(ours.kind, 'bridge');
    // Attributes the decoder does not interpret survive as raw bytes.
    assert.ok(Array.isArray(ours.unknown) && ours.unknown.length > 0);
    assert.ok(ours.unknown.every((u) => Number.isInteger(u.type) && Buffer.isBuffer(u.data)));
  });
});
