/** The four network modes, each with the property that defines it. */
import assert from 'node:assert/strict';
import { readdir, readFile, stat } from 'node:fs/promises';

import { ConflictError, type Engine } from '../../lib';
import { Cleanup, inNs, ipJson, requireSandbox, run, waitFor } from '../helpers';
import { addrsIn, consistency, netnsNames, openEngine, ping, rootLinks } from './helpers';

describe('engine: network modes', () => {
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

  it('bridge (default network): np0 172.17.0.0/16, lo up, eth0 with IP and MAC from IPAM, default route, reaches gateway and a peer', async () => {
    const a = await engine.createSandbox({ name: 'ma' });
    const b = await engine.createSandbox({ name: 'mb', network: 'bridge' });
    const net = await engine.inspectNetwork('bridge');
    assert.equal(net.bridge, 'np0');
    assert.equal(net.subnet, '172.17.0.0/16');
    assert.equal(net.gateway, '172.17.0.1');
    assert.equal(net.default, true);
    assert.deepEqual(net.sandboxes, ['ma', 'mb']);
    const ea = a.endpoints[0]!;
    assert.equal(ea.ifname, 'eth0');
    assert.equal(ea.ip, '172.17.0.2');
    assert.equal(ea.mac, '02:42:ac:11:00:02');
    const inside = await addrsIn('ma');
    assert.ok(inside.get('lo')!.flags.includes('UP'));
    const eth0 = inside.get('eth0')!;
    assert.ok(eth0.flags.includes('UP'));
    assert.equal(eth0.address, '02:42:ac:11:00:02');
    assert.deepEqual(
      eth0.addr_info.filter((x) => x.family === 'inet').map((x) => `${x.local}/${x.prefixlen}`),
      ['172.17.0.2/16'],
    );
    const routes = await ipJson<{ dst: string; gateway?: string }[]>(['route', 'show'], 'ma');
    assert.ok(routes.some((r) => r.dst === 'default' && r.gateway === '172.17.0.1'));
    // The host end is a port of np0, up.
    const host = await ipJson<{ ifname: string; master?: string; flags: string[] }[]>([
      'link',
      'show',
      'dev',
      ea.hostIfname,
    ]);
    assert.equal(host[0]!.master, 'np0');
    assert.ok(host[0]!.flags.includes('UP'));
    assert.ok(await ping('ma', '172.17.0.1'), 'sandbox reaches its gateway');
    assert.ok(await ping('ma', b.endpoints[0]!.ip), 'sandbox reaches a peer');
    // ip netns exec sees the sandbox's own files.
    assert.equal((await inNs('ma', 'cat', ['/etc/hostname'])).stdout.trim(), 'ma');
    assert.match((await inNs('ma', 'cat', ['/etc/hosts'])).stdout, /^172\.17\.0\.2\tma$/m);
  });

  it('host: no namespace of its own; a command in it sees the host interfaces; publishing only warns', async () => {
    const s = await engine.createSandbox({ name: 'mh', network: 'host', publish: ['8080:80'] });
    assert.equal(s.mode, 'host');
    assert.equal(s.netns, undefined);
    assert.deepEqual(s.endpoints, []);
    assert.deepEqual(s.warnings, ['Published ports are discarded when using host network mode']);
    assert.ok(!(await netnsNames()).includes('mh'));
    await run('ip', ['link', 'add', 'mhost0', 'type', 'bridge']);
    cleanup.add('del mhost0', () => run('ip', ['link', 'del', 'mhost0']));
    const { stdout } = await run(process.execPath, [
      'dist/lib/cli/main.js',
      '--no-firewall',
      '--state-dir',
      '/run/np-test-host-cli',
      'run',
      '--net',
      'host',
      '--',
      'ip',
      '-br',
      'link',
    ]);
    cleanup.add('rm state', () => run('rm', ['-rf', '/run/np-test-host-cli']));
    assert.match(stdout, /^mhost0\s/m);
  });

  it('container:NAME shares the namespace (same inode), reference counted; processes meet over lo', async () => {
    await engine.createSandbox({ name: 'mowner' });
    const j = await engine.createSandbox({ name: 'mjoin', network: 'container:mowner' });
    assert.equal(j.mode, 'container');
    assert.equal(j.container, 'mowner');
    const [a, b] = await Promise.all([stat('/run/netns/mowner'), stat('/run/netns/mjoin')]);
    assert.equal(a.ino, b.ino, 'same namespace inode');
    assert.equal(a.dev, b.dev);
    // A server on 127.0.0.1 in one name, a client through the other.
    const port = 4000 + (process.pid % 1000);
    const server = await import('node:child_process').then(({ spawn }) =>
      spawn(
        'ip',
        [
          'netns',
          'exec',
          'mowner',
          process.execPath,
          '-e',
          `require('net').createServer((s)=>s.end('pong')).listen(${port},'127.0.0.1',()=>console.log('up'))`,
        ],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      ),
    );
    cleanup.add('stop server', () => Promise.resolve(server.kill()));
    await new Promise((r) => server.stdout.once('data', r));
    const { stdout } = await inNs('mjoin', process.execPath, [
      '-e',
      `require('net').connect(${port},'127.0.0.1').on('data',(d)=>{process.stdout.write(d)})`,
    ]);
    assert.equal(stdout, 'pong');
    const third = await engine.createSandbox({ name: 'mjoin3', network: 'container:mjoin' });
    assert.equal(third.container, 'mowner', 'joining a joiner shares the first owner');
    // Remove the owner first: the namespace lives on under the joiners' names.
    await engine.removeSandbox('mowner');
    assert.ok(!(await netnsNames()).includes('mowner'));
    assert.ok((await addrsIn('mjoin')).has('eth0'), 'eth0 survives with the shared namespace');
    const heir = await engine.inspectSandbox('mjoin');
    assert.equal(heir.endpoints.length, 1);
    assert.equal(heir.mode, 'bridge', 'the first joiner inherits the namespace');
    assert.equal((await engine.inspectSandbox('mjoin3')).container, 'mjoin');
    const hostEnd = heir.endpoints[0]!.hostIfname;
    await engine.removeSandbox('mjoin3');
    assert.ok((await addrsIn('mjoin')).has('eth0'));
    await engine.removeSandbox('mjoin');
    assert.deepEqual(await readdir(`${stateDir}/joins`), [], 'no sharing marks left');
    await waitFor(
      'the veth to go with the last name',
      async () => !(await rootLinks()).includes(hostEnd),
    );
  });

  it("the heir of a shared namespace keeps the owner's address and host port: prune frees neither, nobody else gets them", async () => {
    await engine.createNetwork({ name: 'mheir', subnet: '10.97.0.0/24' });
    const owner = await engine.createSandbox({
      name: 'mown2',
      network: 'mheir',
      publish: ['18080:80'],
    });
    const ip = owner.endpoints[0]!.ip;
    await engine.createSandbox({ name: 'mside', network: 'container:mown2' });
    await engine.removeSandbox('mown2');
    assert.equal((await engine.inspectSandbox('mside')).endpoints[0]!.ip, ip);
    const report = await engine.prune();
    assert.equal(report.addresses, 0, 'no address freed');
    assert.equal(report.ports, 0, 'no port freed');
    await assert.rejects(
      engine.createSandbox({ name: 'mthief', network: 'mheir', ip }),
      (e: unknown) => e instanceof ConflictError,
    );
    await assert.rejects(
      engine.createSandbox({ name: 'mthief2', network: 'mheir', publish: ['18080:80'] }),
      (e: unknown) => e instanceof ConflictError,
    );
    await engine.removeSandbox('mside');
    // Once the heir goes, both are free again.
    await engine.createSandbox({ name: 'mnext', network: 'mheir', ip, publish: ['18080:80'] });
  });

  it('an owner and one of its members removed at once: the member stays removed, the other member inherits', async () => {
    await engine.createNetwork({ name: 'mrace', subnet: '10.98.0.0/24' });
    for (let round = 0; round < 6; round++) {
      await engine.createSandbox({ name: `mro${round}`, network: 'mrace' });
      for (const m of ['a', 'b'])
        await engine.createSandbox({ name: `mro${round}${m}`, network: `container:mro${round}` });
      // The member first or the owner first: the take-over must not write
      // back the record of a member being removed.
      const order =
        round % 2 === 0 ? [`mro${round}a`, `mro${round}`] : [`mro${round}`, `mro${round}a`];
      await Promise.all(order.map((n) => engine.removeSandbox(n)));
      const left = (await engine.listSandboxes())
        .map((x) => x.name)
        .filter((n) => n.startsWith(`mro${round}`));
      assert.deepEqual(left, [`mro${round}b`], `round ${round}`);
      assert.ok((await netnsNames()).includes(`mro${round}b`));
      assert.deepEqual(await consistency(engine, `mro${round}`), [], `round ${round}`);
      await engine.removeSandbox(`mro${round}b`);
    }
  });

  it('container mode refuses publishing, aliases and static addresses, as Docker does', async () => {
    await engine.createSandbox({ name: 'mo2' });
    await assert.rejects(
      engine.createSandbox({ name: 'mj2', network: 'container:mo2', publish: ['80:80'] }),
      {
        name: 'ValidationError',
        field: 'publish',
        message: /conflicting options: port publishing and the container type network mode/,
      },
    );
    await assert.rejects(
      engine.createSandbox({ name: 'mj2', network: 'container:mo2', aliases: ['x'] }),
      { name: 'ValidationError', field: 'aliases' },
    );
    await assert.rejects(
      engine.createSandbox({ name: 'mj2', network: 'container:mo2', ip: '172.17.0.9' }),
      { name: 'ValidationError', field: 'ip' },
    );
    await assert.rejects(engine.createSandbox({ name: 'mj2', network: 'container:nosuch' }), {
      name: 'NotFoundError',
    });
    assert.ok(!(await netnsNames()).includes('mj2'));
  });

  it('the default network refuses static addresses and aliases, as Docker does, before anything is made (create and connect)', async () => {
    const cases: [
      { network?: string; ip?: string; ip6?: string; aliases?: string[] },
      string,
      RegExp,
    ][] = [
      [
        { ip: '172.17.0.50' },
        'ip',
        /user specified IP address is supported on user defined networks only/,
      ],
      [{ network: 'bridge', ip6: 'fd00::5' }, 'ip6', /user specified IP address/],
      [
        { network: 'bridge', aliases: ['x'] },
        'aliases',
        /network-scoped alias is supported only for containers in user defined networks/,
      ],
    ];
    for (const [spec, field, message] of cases) {
      await assert.rejects(engine.createSandbox({ name: 'mdef', ...spec }), {
        name: 'ValidationError',
        field,
        message,
      });
    }
    // Not even the default network was made: no bridge np0, no namespace.
    assert.ok(!(await rootLinks()).includes('np0'), 'no np0');
    assert.deepEqual(await netnsNames(), []);
    assert.deepEqual(await engine.listSandboxes(), []);
    await engine.createNetwork({ name: 'mdnet', subnet: '10.110.0.0/24' });
    await engine.createSandbox({ name: 'mdef', network: 'mdnet' });
    await assert.rejects(engine.connect('mdef', 'bridge', { ip: '172.17.0.50' }), {
      name: 'ValidationError',
      field: 'ip',
    });
    await assert.rejects(engine.connect('mdef', 'bridge', { aliases: ['x'] }), {
      name: 'ValidationError',
      field: 'aliases',
    });
    assert.deepEqual([...(await addrsIn('mdef')).keys()].sort(), ['eth0', 'lo']);
    assert.ok(!(await rootLinks()).includes('np0'), 'no np0');
    assert.equal((await engine.inspectSandbox('mdef')).endpoints.length, 1);
    // Without them, both work.
    await engine.connect('mdef', 'bridge');
    assert.deepEqual([...(await addrsIn('mdef')).keys()].sort(), ['eth0', 'eth1', 'lo']);
  });

  it('none: a new namespace with only lo, and lo is up', async () => {
    const s = await engine.createSandbox({ name: 'mnone', network: 'none' });
    assert.equal(s.mode, 'none');
    const links = await addrsIn('mnone');
    assert.deepEqual([...links.keys()], ['lo']);
    assert.ok(links.get('lo')!.flags.includes('UP'));
    assert.ok(await ping('mnone', '127.0.0.1'));
  });

  it('IPv6 only where the network has it, as Docker does: eth0 on an IPv4-only network has none; host ends never get a link-local address', async () => {
    await engine.createNetwork({ name: 'm4', subnet: '10.215.0.0/24' });
    await engine.createNetwork({
      name: 'm6',
      subnet: '10.216.0.0/24',
      ipv6: true,
      subnet6: 'fd00:216::/64',
    });
    await engine.createSandbox({ name: 'm4a', network: 'm4' });
    const b = await engine.createSandbox({ name: 'm6b', network: 'm6' });
    await engine.connect('m4a', 'm6');
    const inet6 = (l: { addr_info: { family: string; local: string }[] } | undefined): string[] =>
      (l?.addr_info ?? []).filter((a) => a.family === 'inet6').map((a) => a.local);
    const sysctl = async (ns: string, dev: string): Promise<string> =>
      (await inNs(ns, 'cat', [`/proc/sys/net/ipv6/conf/${dev}/disable_ipv6`])).stdout.trim();
    // IPv4-only network: IPv6 disabled on the interface, lo keeps ::1.
    assert.equal(await sysctl('m4a', 'eth0'), '1');
    const a = await addrsIn('m4a');
    assert.deepEqual(inet6(a.get('eth0')), []);
    assert.deepEqual(inet6(a.get('lo')), ['::1']);
    // IPv6 networks, by create or connect: the global address and a link-local one.
    assert.equal(await sysctl('m4a', 'eth1'), '0');
    await waitFor('link-local addresses in m6b and on m4a eth1', async () => {
      const all = [
        ...inet6((await addrsIn('m6b')).get('eth0')),
        ...inet6((await addrsIn('m4a')).get('eth1')),
      ];
      return all.filter((x) => x.startsWith('fe80:')).length === 2;
    });
    assert.ok(inet6((await addrsIn('m6b')).get('eth0')).includes(b.endpoints[0]!.ip6!));
    // Host ends: bridge ports with IPv6 off, on either network: no address
    // of their own and no route in the host's tables (a multicast route
    // each, otherwise).
    const ends = (await ipJson<{ ifname: string }[]>(['link', 'show']))
      .map((l) => l.ifname)
      .filter((n) => n.startsWith('npv'));
    assert.equal(ends.length, 3);
    for (const n of ends)
      assert.equal(
        (await readFile(`/proc/sys/net/ipv6/conf/${n}/disable_ipv6`, 'utf8')).trim(),
        '1',
        n,
      );
    const routes6 = await ipJson<{ dst: string; dev?: string }[]>([
      '-6',
      'route',
      'show',
      'table',
      'all',
    ]);
    assert.deepEqual(
      routes6.filter((r) => r.dev?.startsWith('npv')),
      [],
    );
    // Bridging IPv6 between sandboxes is unaffected.
    assert.ok(await ping('m6b', (await engine.inspectSandbox('m4a')).endpoints[1]!.ip6!));
    const addrs = await ipJson<
      { ifname: string; addr_info: { family: string; local: string }[] }[]
    >(['addr', 'show']);
    for (const l of addrs.filter((x) => x.ifname.startsWith('npv')))
      assert.deepEqual(inet6(l), [], `${l.ifname} has no IPv6 address`);
    assert.ok(await ping('m6b', (await engine.inspectSandbox('m4a')).endpoints[1]!.ip));
  });
});
