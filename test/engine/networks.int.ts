/** User-defined networks, IPAM and state: what `docker network` users rely on. */
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';

import { ConflictError, Engine, NetNS, ValidationError } from '../../lib';
import { Cleanup, inNs, ipJson, requireSandbox, run, waitFor } from '../helpers';
import {
  addrsIn,
  attempt,
  natMap,
  netnsNames,
  openEngine,
  ping,
  rootLinks,
  serve,
} from './helpers';

describe('engine: user-defined networks, IPAM, state', () => {
  before(requireSandbox);
  const cleanup = new Cleanup();
  let engine: Engine;
  let stateDir: string;
  beforeEach(async () => {
    const e = await openEngine();
    engine = e.engine;
    stateDir = e.stateDir;
    cleanup.add('dispose engine', e.dispose);
  });
  afterEach(() => cleanup.run());

  it('a network gets its own bridge and MTU; both veth ends carry the MTU', async () => {
    const n = await engine.createNetwork({
      name: 'nmtu',
      subnet: '10.91.0.0/24',
      mtu: 1400,
      labels: { team: 'x' },
    });
    assert.match(n.bridge, /^np-[0-9a-f]{8}$/);
    assert.equal(n.gateway, '10.91.0.1');
    assert.deepEqual(n.labels, { team: 'x' });
    const s = await engine.createSandbox({ name: 'smtu', network: 'nmtu' });
    const br = await ipJson<{ mtu: number; addr_info: { local: string; prefixlen: number }[] }[]>([
      'addr',
      'show',
      'dev',
      n.bridge,
    ]);
    assert.equal(br[0]!.mtu, 1400);
    assert.ok(br[0]!.addr_info.some((a) => a.local === '10.91.0.1' && a.prefixlen === 24));
    const hostEnd = await ipJson<{ mtu: number }[]>([
      'link',
      'show',
      'dev',
      s.endpoints[0]!.hostIfname,
    ]);
    assert.equal(hostEnd[0]!.mtu, 1400);
    assert.equal((await addrsIn('smtu')).get('eth0')!.mtu, 1400);
    assert.ok(await ping('smtu', '10.91.0.1'));
  });

  it('multicast reaches the sandboxes of a network: one sends to a group another joined (the bridge does no snooping)', async () => {
    const n = await engine.createNetwork({ name: 'nmc', subnet: '10.97.7.0/24' });
    const br = await ipJson<{ linkinfo: { info_data: { mcast_snooping: number } } }[]>([
      'link',
      'show',
      'dev',
      n.bridge,
    ]);
    assert.equal(br[0]!.linkinfo.info_data.mcast_snooping, 0);
    await engine.createSandbox({ name: 'smc1', network: 'nmc' });
    const sender = await engine.createSandbox({ name: 'smc2', network: 'nmc' });
    const member = await serve('smc1', 'udp', 7007, '239.255.7.7');
    cleanup.add('stop the group member', () => Promise.resolve(member.kill()));
    assert.deepEqual(await attempt('smc2', 'udp', '239.255.7.7', 7007), {
      ok: true,
      reply: `from ${sender.endpoints[0]!.ip}`,
    });
  });

  it('connect and disconnect a running sandbox: eth1 comes and goes, the first network keeps working', async () => {
    await engine.createNetwork({ name: 'nc1', subnet: '10.92.0.0/24' });
    await engine.createNetwork({ name: 'nc2', subnet: '10.93.0.0/24' });
    await engine.createSandbox({ name: 'sc', network: 'nc1' });
    await engine.createSandbox({ name: 'sc2', network: 'nc2' });
    const ep = await engine.connect('sc', 'nc2', { aliases: ['second'] });
    assert.equal(ep.ifname, 'eth1');
    assert.equal(ep.network, 'nc2');
    let links = await addrsIn('sc');
    assert.deepEqual(
      links
        .get('eth1')!
        .addr_info.filter((a) => a.family === 'inet')
        .map((a) => a.local),
      [ep.ip],
    );
    assert.ok(await ping('sc', '10.93.0.1'));
    assert.ok(await ping('sc', (await engine.inspectSandbox('sc2')).endpoints[0]!.ip));
    assert.deepEqual((await engine.inspectNetwork('nc2')).sandboxes, ['sc', 'sc2']);
    await assert.rejects(engine.connect('sc', 'nc2'), ConflictError);

    await engine.disconnect('sc', 'nc2');
    links = await addrsIn('sc');
    assert.equal(links.has('eth1'), false);
    const routes = await ipJson<{ dst: string; dev: string }[]>(['route', 'show'], 'sc');
    assert.ok(!routes.some((r) => r.dev === 'eth1'));
    assert.ok(routes.some((r) => r.dst === 'default' && r.dev === 'eth0'));
    assert.ok(await ping('sc', '10.92.0.1'), 'the other network still works');
    assert.deepEqual(
      (await engine.inspectSandbox('sc')).endpoints.map((e) => e.network),
      ['nc1'],
    );
    await waitFor(
      'the host end of eth1 to go',
      async () => !(await rootLinks()).includes(ep.hostIfname),
    );
  });

  it('a connect that fails inside the sandbox takes back its veth and its address', async () => {
    await engine.createNetwork({ name: 'nci', subnet: '10.102.0.0/24', internal: true });
    await engine.createNetwork({ name: 'nce', subnet: '10.103.0.0/24' });
    await engine.createSandbox({ name: 'scf', network: 'nci' });
    // The user's own default route: the connect's own one then fails (EEXIST).
    await run('ip', ['-n', 'scf', 'route', 'add', 'default', 'via', '10.102.0.1']);
    const before = await rootLinks();
    await assert.rejects(engine.connect('scf', 'nce'), { code: 'EEXIST' });
    assert.deepEqual(await rootLinks(), before, 'no host end left on the bridge');
    assert.deepEqual([...(await addrsIn('scf')).keys()].sort(), ['eth0', 'lo']);
    assert.deepEqual(
      (await readdir(`${stateDir}/ipam/nce`)).filter((f) => !f.startsWith('.')),
      [],
      'the address is free again',
    );
    assert.deepEqual(
      (await engine.inspectSandbox('scf')).endpoints.map((e) => e.network),
      ['nci'],
    );
  });

  it('disconnecting the network that held the default route moves it to another network', async () => {
    await engine.createNetwork({ name: 'nd1', subnet: '10.94.0.0/24' });
    await engine.createNetwork({ name: 'nd2', subnet: '10.95.0.0/24' });
    await engine.createSandbox({ name: 'sd', network: 'nd1' });
    await engine.connect('sd', 'nd2');
    await engine.disconnect('sd', 'nd1');
    const routes = await ipJson<{ dst: string; gateway?: string; dev: string }[]>(
      ['route', 'show'],
      'sd',
    );
    assert.ok(
      routes.some((r) => r.dst === 'default' && r.gateway === '10.95.0.1'),
      JSON.stringify(routes),
    );
  });

  it('remove is refused while sandboxes are attached, naming them; overlapping subnets and duplicate names are refused', async () => {
    await engine.createNetwork({ name: 'nr', subnet: '10.96.0.0/24' });
    await engine.createSandbox({ name: 'sr1', network: 'nr' });
    await engine.createSandbox({ name: 'sr2', network: 'nr' });
    await assert.rejects(
      engine.removeNetwork('nr'),
      (e: unknown) => e instanceof ConflictError && /sr1, sr2/.test(e.message),
    );
    await assert.rejects(
      engine.createNetwork({ name: 'nr', subnet: '10.97.0.0/24' }),
      (e: unknown) => e instanceof ConflictError && e.field === 'name',
    );
    await assert.rejects(
      engine.createNetwork({ name: 'nr2', subnet: '10.96.0.128/25' }),
      (e: unknown) => e instanceof ConflictError && e.field === 'subnet' && /nr/.test(e.message),
    );
    await assert.rejects(engine.createNetwork({ name: 'host' }), ValidationError);
    await engine.removeSandbox('sr1');
    await engine.removeSandbox('sr2');
    const bridge = (await engine.inspectNetwork('nr')).bridge;
    await engine.removeNetwork('nr');
    assert.ok(!(await rootLinks()).includes(bridge));
    await assert.rejects(engine.inspectNetwork('nr'), { name: 'NotFoundError' });
  });

  it('another engine removing the last network, and with it the nftables table, leaves this one working', async () => {
    await engine.createNetwork({ name: 'nlast', subnet: '10.104.0.0/24' });
    const other = await Engine.open({ stateDir, dns: false });
    try {
      await other.removeNetwork('nlast');
    } finally {
      await other.close();
    }
    await assert.rejects(run('nft', ['list', 'table', 'inet', `netplumb_${engine.tag}`]));
    await engine.createNetwork({ name: 'nnext', subnet: '10.105.0.0/24' });
    await engine.createSandbox({ name: 'snext', network: 'nnext', publish: ['18181:80'] });
    const stdout = await natMap(engine, 'dnat4_any');
    assert.match(stdout, /18181/, 'the table is back, with the published port');
  });

  it('networks without subnet take the next free default pool, skipping networks and routed ranges', async () => {
    // 172.17.0.0/16 is routed here already: the default network moves on.
    await run('ip', ['link', 'add', 'nfake0', 'type', 'bridge']);
    cleanup.add('del nfake0', () => run('ip', ['link', 'del', 'nfake0']));
    await run('ip', ['addr', 'add', '172.17.5.1/24', 'dev', 'nfake0']);
    await run('ip', ['link', 'set', 'nfake0', 'up']);
    await engine.createSandbox({ name: 'sp' });
    assert.equal((await engine.inspectNetwork('bridge')).subnet, '172.18.0.0/16');
    const auto = await engine.createNetwork({ name: 'npool' });
    assert.equal(auto.subnet, '172.19.0.0/16');
    assert.equal(auto.gateway, '172.19.0.1');
  });

  it('IPAM: never the network, gateway or broadcast; a freed address is not reused at once; static addresses are checked', async () => {
    await engine.createNetwork({ name: 'ni', subnet: '10.98.0.0/29' }); // hosts .1-.6, .1 is the gateway
    const got: string[] = [];
    for (let i = 0; i < 5; i++)
      got.push((await engine.createSandbox({ name: `si${i}`, network: 'ni' })).endpoints[0]!.ip);
    assert.deepEqual(got, ['10.98.0.2', '10.98.0.3', '10.98.0.4', '10.98.0.5', '10.98.0.6']);
    await assert.rejects(
      engine.createSandbox({ name: 'sifull', network: 'ni' }),
      /no free address/,
    );
    await engine.removeSandbox('si1');
    await engine.removeSandbox('si3');
    // The cursor was at .6: it wraps to the start, where .3 is the first free one.
    const next = (await engine.createSandbox({ name: 'sin', network: 'ni' })).endpoints[0]!.ip;
    assert.equal(next, '10.98.0.3');
    await engine.createNetwork({ name: 'ni2', subnet: '10.99.0.0/24' });
    const a = await engine.createSandbox({ name: 'sa', network: 'ni2' });
    await engine.removeSandbox('sa');
    const b = await engine.createSandbox({ name: 'sb', network: 'ni2' });
    assert.notEqual(
      b.endpoints[0]!.ip,
      a.endpoints[0]!.ip,
      'a just-freed address is not handed out again',
    );
    const st = await engine.createSandbox({
      name: 'sst',
      network: 'ni2',
      ip: '10.99.0.77',
      mac: '02:00:00:00:00:77',
    });
    assert.equal(st.endpoints[0]!.ip, '10.99.0.77');
    assert.equal((await addrsIn('sst')).get('eth0')!.address, '02:00:00:00:00:77');
    await assert.rejects(
      engine.createSandbox({ name: 'sx', network: 'ni2', ip: '10.99.0.77' }),
      (e: unknown) => e instanceof ConflictError && e.field === 'ip',
    );
    await assert.rejects(
      engine.createSandbox({ name: 'sx', network: 'ni2', ip: '10.99.0.1' }),
      (e: unknown) => e instanceof ValidationError && /gateway/.test(e.message),
    );
    await assert.rejects(
      engine.createSandbox({ name: 'sx', network: 'ni2', ip: '10.1.1.1' }),
      (e: unknown) => e instanceof ValidationError && e.field === 'ip',
    );
    await assert.rejects(
      engine.createSandbox({ name: 'sx', network: 'ni2', ip: '10.99.0.255' }),
      ValidationError,
    );
    assert.ok(!(await netnsNames()).includes('sx'));
  });

  it('an endpoint announces its address (gratuitous ARP) only when caches may hold another MAC for it: after a chosen MAC joined its network', async () => {
    const arpNotify = async (sandbox: string): Promise<string> =>
      (await inNs(sandbox, 'cat', ['/proc/sys/net/ipv4/conf/eth0/arp_notify'])).stdout.trim();
    /** The MAC this namespace (the gateway's) has cached for `ip`. */
    const cached = async (ip: string): Promise<string | undefined> =>
      (await ipJson<{ lladdr?: string }[]>(['neigh', 'show', 'to', ip]))[0]?.lladdr;
    const bridgeMac = async (): Promise<string> =>
      (await ipJson<{ address: string }[]>(['link', 'show', bridge]))[0]!.address;
    await engine.createNetwork({ name: 'na', subnet: '10.97.0.0/24' });
    const bridge = (await engine.inspectNetwork('na')).bridge;
    const gatewayMac = await bridgeMac();
    // Derived MACs: an address handed out again comes with the same MAC, so nothing is broadcast.
    const a1 = await engine.createSandbox({ name: 'an1', network: 'na' });
    assert.equal(a1.endpoints[0]!.mac, '02:42:0a:61:00:02');
    assert.equal(await arpNotify('an1'), '0');

    // Another process lets a chosen MAC join the network, on 10.97.0.50.
    const other = await Engine.open({ stateDir, dns: false });
    try {
      await other.createSandbox({
        name: 'an2',
        network: 'na',
        ip: '10.97.0.50',
        mac: '02:00:00:00:01:50',
      });
      assert.equal(await arpNotify('an2'), '1');
      await run('ping', ['-c', '1', '-W', '2', '10.97.0.50']);
      assert.equal(await cached('10.97.0.50'), '02:00:00:00:01:50');
      await other.removeSandbox('an2');
    } finally {
      await other.close();
    }
    assert.equal(await bridgeMac(), gatewayMac, 'the bridge keeps its MAC as ports come and go');
    assert.equal(await cached('10.97.0.50'), '02:00:00:00:01:50', 'the gateway still has it');
    // This engine read the network before that: its next sandbox, on the
    // same address with another MAC, still announces itself, and the
    // gateway's cache follows without the gateway sending anything.
    const a3 = await engine.createSandbox({ name: 'an3', network: 'na', ip: '10.97.0.50' });
    assert.equal(a3.endpoints[0]!.mac, '02:42:0a:61:00:32');
    assert.equal(await arpNotify('an3'), '1');
    await waitFor(
      'the gateway learns the new MAC',
      async () => (await cached('10.97.0.50')) === '02:42:0a:61:00:32',
    );
    await engine.removeSandbox('an3');
    // And so does every later one on that network, as it comes up.
    const a4 = await engine.createSandbox({
      name: 'an4',
      network: 'na',
      ip: '10.97.0.50',
      mac: '02:00:00:00:02:50',
    });
    assert.equal(a4.endpoints[0]!.mac, '02:00:00:00:02:50');
    await waitFor(
      'the gateway learns the chosen MAC',
      async () => (await cached('10.97.0.50')) === '02:00:00:00:02:50',
    );
    await engine.createSandbox({ name: 'an5', network: 'na' });
    assert.equal(await arpNotify('an5'), '1');
    assert.ok(await ping('an5', '10.97.0.50'));
    assert.ok(await ping('an1', '10.97.0.1'));
  });

  it('a failure halfway through createSandbox rolls back everything it made', async () => {
    await engine.createNetwork({ name: 'nb', subnet: '10.100.0.0/24' });
    // A foreign namespace already holds the name: creation fails after the
    // record, the address reservation and the files were made.
    const foreign = await NetNS.create('sfail');
    cleanup.add('del foreign', () => foreign.delete());
    const linksBefore = await rootLinks();
    await assert.rejects(engine.createSandbox({ name: 'sfail', network: 'nb' }), {
      code: 'EEXIST',
    });
    assert.deepEqual(await rootLinks(), linksBefore);
    assert.deepEqual(await readdir(`${stateDir}/sandboxes`), []);
    assert.deepEqual(
      (await readdir(`${stateDir}/ipam/nb`)).filter((f) => !f.startsWith('.')),
      [],
    );
    assert.deepEqual(await engine.listSandboxes(), []);
    // The foreign namespace is untouched.
    assert.ok((await netnsNames()).includes('sfail'));
    // And the name works once free.
    await foreign.delete();
    await engine.createSandbox({ name: 'sfail', network: 'nb' });
  });

  it('a network whose bridge has all 1,023 ports refuses the next sandbox and connect, saying so, and leaves nothing of them', async function () {
    this.timeout(180000);
    await engine.createNetwork({ name: 'nfull', subnet: '10.104.0.0/21' });
    await engine.createNetwork({ name: 'nother', subnet: '10.105.0.0/24' });
    await engine.createSandbox({ name: 'sout', network: 'nother' });
    const names = Array.from({ length: 1023 }, (_, i) => `sf${i}`);
    // All at once when the test ends: one by one, each removal would wait for its veth.
    cleanup.add("remove the full network's sandboxes", () =>
      Promise.all(names.map((n) => engine.removeSandbox(n).catch(() => undefined))),
    );
    let next = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next < names.length)
          await engine.createSandbox({ name: names[next++]!, network: 'nfull' });
      }),
    );
    const bridge = (await engine.inspectNetwork('nfull')).bridge;
    const ports = await ipJson<unknown[]>(['link', 'show', 'master', bridge]);
    assert.equal(ports.length, 1023);
    const linksBefore = await rootLinks();
    const nsBefore = await netnsNames();
    const full = (e: unknown): boolean => {
      const err = e as { code?: string; message?: string };
      return (
        err.code === 'EXFULL' &&
        /network nfull is full: its bridge .* 1,023 ports/.test(err.message ?? '')
      );
    };
    await assert.rejects(engine.createSandbox({ name: 'sover', network: 'nfull' }), full);
    await assert.rejects(engine.connect('sout', 'nfull'), full);
    assert.deepEqual(await rootLinks(), linksBefore);
    assert.deepEqual(await netnsNames(), nsBefore);
    assert.equal(
      (await addrsIn('sout')).has('eth1'),
      false,
      'the refused connect left no eth1 in the sandbox',
    );
    const records = await readdir(`${stateDir}/sandboxes`);
    assert.ok(!records.includes('sover.json'), 'no record of the refused sandbox');
    assert.deepEqual(
      (await engine.inspectSandbox('sout')).endpoints.map((e) => e.network),
      ['nother'],
    );
    assert.equal(
      (await readdir(`${stateDir}/ipam/nfull`)).filter((f) => !f.startsWith('.')).length,
      1023,
      'no address kept for the refused sandbox or connect',
    );
  });

  it('bad input is refused with the field named, before anything is made', async () => {
    const before = await rootLinks();
    const cases: [Promise<unknown>, string][] = [
      [engine.createNetwork({ name: '../x' }), 'name'],
      [engine.createNetwork({ name: 'n', subnet: '10.0.0.1/24' }), 'subnet'],
      [engine.createNetwork({ name: 'n', subnet: '10.0.0.0/24', gateway: '10.0.1.1' }), 'gateway'],
      [engine.createNetwork({ name: 'n', subnet: '10.0.0.0/24', mtu: 20 }), 'mtu'],
      // IPv6 needs 1280 (an IPv4 network may go lower: see the two-halves tests)
      [engine.createNetwork({ name: 'n', subnet: '10.0.0.0/24', ipv6: true, mtu: 1279 }), 'mtu'],
      [engine.createNetwork({ name: 'n', labels: { k: 'a\nb' } }), 'labels.k'],
      [engine.createSandbox({ name: 'bad/name' }), 'name'],
      [engine.createSandbox({ name: 'x'.repeat(65) }), 'name'],
      [engine.createSandbox({ name: 'ok', hostname: '-bad-' }), 'hostname'],
      [engine.createSandbox({ name: 'ok', publish: ['99999:80'] }), 'publish[0]'],
      [engine.createSandbox({ name: 'ok', network: 'none', publish: ['80'] }), 'publish'],
      // Not arrays, where lists are asked for (a TypeError from a spread before).
      [engine.createSandbox({ name: 'ok', publish: {} as unknown as string[] }), 'publish'],
      [engine.createSandbox({ name: 'ok', aliases: 'web' as unknown as string[] }), 'aliases'],
      // An interface's MAC: not multicast, not zero (the kernel said EADDRNOTAVAIL).
      [engine.createSandbox({ name: 'ok', mac: '01:00:5e:00:00:01' }), 'mac'],
      [engine.createSandbox({ name: 'ok', mac: '00:00:00:00:00:00' }), 'mac'],
    ];
    for (const [p, field] of cases) {
      await assert.rejects(p, (e: unknown) => (e as { field?: string }).field === field, field);
    }
    assert.deepEqual(await rootLinks(), before);
    assert.deepEqual(await engine.listSandboxes(), []);
    assert.deepEqual(await engine.listNetworks(), []);
  });
});

describe('engine: firewall: false', () => {
  before(requireSandbox);
  const cleanup = new Cleanup();
  afterEach(() => cleanup.run());

  it('leaves nftables alone and refuses to publish, as Docker with iptables: false', async () => {
    const e = await openEngine({ firewall: false });
    cleanup.add('dispose', e.dispose);
    const before = (await run('nft', ['list', 'ruleset'])).stdout;
    await e.engine.createNetwork({ name: 'nofw', subnet: '10.101.0.0/24' });
    await e.engine.createSandbox({ name: 'nofw1', network: 'nofw' });
    assert.equal((await run('nft', ['list', 'ruleset'])).stdout, before);
    await assert.rejects(
      e.engine.createSandbox({ name: 'nofw2', network: 'nofw', publish: ['80'] }),
      { name: 'ValidationError', field: 'publish' },
    );
    assert.ok(await ping('nofw1', '10.101.0.1'));
  });
});
