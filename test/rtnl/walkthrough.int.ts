/**
 * The manual `--net=none` + veth walk-through Docker users do with `ip`,
 * done through the API, checked with `ip -j` and a real ping.
 */
import assert from 'node:assert/strict';

import { NetNS, Rtnl } from '../../lib';
import { Cleanup, inNs, ipJson, ipLinks, requireSandbox } from '../helpers';

describe('walk-through: a sandbox wired to a bridge by hand', () => {
  before(requireSandbox);
  const cleanup = new Cleanup();
  afterEach(() => cleanup.run());

  it('netns, veth born in it, bridge port, address, default route, ping the gateway', async () => {
    const rt = await Rtnl.open();
    cleanup.add('close host handle', () => rt.close());
    // ip link add br0 type bridge; ip addr add 172.17.42.1/16 dev br0; ip link set br0 up
    await rt.links.add({ kind: 'bridge', name: 'wbr0' });
    cleanup.add('del wbr0', () => rt.links.del('wbr0'));
    await rt.addrs.add('wbr0', '172.17.42.1/16');
    await rt.links.set('wbr0', { up: true });

    // ip netns add web
    const web = await NetNS.create('web');
    cleanup.add('netns del web', () => web.delete());
    // ip link add A type veth peer name B netns web; ip link set A master br0 up
    const a = await rt.links.add({
      kind: 'veth',
      name: 'wA',
      master: 'wbr0',
      up: true,
      peer: { name: 'eth0', netns: web },
    });
    cleanup.add('del wA', () =>
      rt.links.find('wA').then((l) => (l ? rt.links.del('wA') : undefined)),
    );
    assert.equal(a.name, 'wA');
    assert.equal(a.up, true);

    const inside = await Rtnl.open(web);
    cleanup.add('close web handle', () => inside.close());
    await inside.links.set('lo', { up: true });
    await inside.links.set('eth0', { up: true });
    await inside.addrs.add('eth0', '172.17.42.99/16');
    await inside.routes.add({ dst: 'default', gateway: '172.17.42.1' });

    // Oracle: ip -j
    const host = await ipLinks();
    const wa = host.get('wA')!;
    assert.equal(wa.master, 'wbr0');
    assert.ok((wa.flags as string[]).includes('UP'));
    const inLinks = await ipLinks('web');
    assert.deepEqual([...inLinks.keys()].sort(), ['eth0', 'lo']);
    assert.ok((inLinks.get('lo')!.flags as string[]).includes('UP'));
    assert.ok((inLinks.get('eth0')!.flags as string[]).includes('UP'));
    const addrs = await ipJson<
      { ifname: string; addr_info: { local: string; prefixlen: number; family: string }[] }[]
    >(['addr', 'show', 'dev', 'eth0'], 'web');
    assert.deepEqual(
      addrs[0]!.addr_info
        .filter((x) => x.family === 'inet')
        .map((x) => `${x.local}/${x.prefixlen}`),
      ['172.17.42.99/16'],
    );
    const routes = await ipJson<{ dst: string; gateway?: string; dev: string }[]>(
      ['route', 'show'],
      'web',
    );
    assert.ok(
      routes.some((r) => r.dst === 'default' && r.gateway === '172.17.42.1' && r.dev === 'eth0'),
    );

    // Real traffic from the sandbox to the gateway.
    const ping = await inNs('web', 'ping', ['-c', '1', '-W', '2', '172.17.42.1']);
    assert.match(ping.stdout, /1 received/);
  });
});
