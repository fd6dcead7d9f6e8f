/** Port publishing (-p, -P): who reaches a published port, and who must not. */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';

import { ConflictError, Engine, ValidationError } from '../../lib';
import { Cleanup, ROOT, requireSandbox, run, waitFor } from '../helpers';
import { attempt, natMap, netnsNames, openEngine, serve } from './helpers';
import { EXT_IP, HOST_IP, HOST_IP6, makeOutside } from './topology';

describe('engine: port publishing', function () {
  this.timeout(60_000);
  before(requireSandbox);
  const cleanup = new Cleanup();
  const suite = new Cleanup();
  let engine: Engine;
  before(async () => {
    suite.add('remove outside host', await makeOutside());
  });
  after(() => suite.run());
  beforeEach(async () => {
    const e = await openEngine();
    engine = e.engine;
    cleanup.add('dispose engine', e.dispose);
    await engine.createNetwork({ name: 'pa', subnet: '10.81.0.0/24' });
    await engine.createNetwork({ name: 'pb', subnet: '10.82.0.0/24' });
  });
  afterEach(() => cleanup.run());

  const server = async (
    netns: string,
    proto: 'tcp' | 'udp',
    port: number,
  ): Promise<ChildProcess> => {
    const s = await serve(netns, proto, port);
    cleanup.add(`stop ${netns}:${port}`, () => Promise.resolve(s.kill()));
    return s;
  };

  it('a published port is reachable from another host, from the host (127.0.0.1 and its own address) and from sandboxes, itself included', async () => {
    const web = await engine.createSandbox({ name: 'pweb', network: 'pa', publish: ['8080:80'] });
    assert.deepEqual(web.endpoints[0]!.ports, [
      { protocol: 'tcp', hostIp: '0.0.0.0', hostPort: 8080, containerPort: 80 },
    ]);
    await server('pweb', 'tcp', 80);
    await engine.createSandbox({ name: 'pdb', network: 'pa' });
    await engine.createSandbox({ name: 'pother', network: 'pb' });
    for (const [from, host] of [
      ['ext', HOST_IP],
      [undefined, '127.0.0.1'],
      [undefined, HOST_IP],
      ['pdb', HOST_IP],
      ['pother', HOST_IP],
      ['pweb', HOST_IP],
    ] as const) {
      const r = await attempt(from, 'tcp', host, 8080);
      assert.equal(r.ok, true, `from ${from ?? 'the host'} to ${host}:8080: ${r.error}`);
    }
    // The outside host is seen as itself (no SNAT on the way in).
    assert.equal((await attempt('ext', 'tcp', HOST_IP, 8080)).reply, `from ${EXT_IP}`);
  });

  it('udp, ranges, a random host port and -P, reported by inspect and ls', async () => {
    const s = await engine.createSandbox({
      name: 'pmany',
      network: 'pa',
      publish: ['5353:53/udp', '8000-8001:80-81', `${HOST_IP}::9000`],
      expose: [7000],
      publishAll: true,
    });
    const ports = s.endpoints[0]!.ports;
    assert.deepEqual(
      ports.slice(0, 3).map((p) => `${p.hostIp}:${p.hostPort}->${p.containerPort}/${p.protocol}`),
      ['0.0.0.0:5353->53/udp', '0.0.0.0:8000->80/tcp', '0.0.0.0:8001->81/tcp'],
    );
    const range = (await run('cat', ['/proc/sys/net/ipv4/ip_local_port_range'])).stdout
      .trim()
      .split(/\s+/)
      .map(Number);
    const random = ports.find((p) => p.containerPort === 9000)!;
    assert.equal(random.hostIp, HOST_IP);
    assert.ok(
      random.hostPort >= range[0]! && random.hostPort <= range[1]!,
      `${random.hostPort} in ip_local_port_range`,
    );
    const exposed = ports.find((p) => p.containerPort === 7000)!;
    assert.ok(exposed.hostPort >= range[0]! && exposed.hostPort <= range[1]!);
    assert.deepEqual((await engine.inspectSandbox('pmany')).endpoints[0]!.ports, ports);
    const { stdout } = await run(process.execPath, [
      `${ROOT}/dist/lib/cli/main.js`,
      '--state-dir',
      engine.state.dir,
      'sandbox',
      'ls',
    ]);
    assert.match(stdout, /0\.0\.0\.0:8000->80\/tcp/);
    await server('pmany', 'udp', 53);
    await server('pmany', 'tcp', 81);
    await server('pmany', 'tcp', 9000);
    await server('pmany', 'tcp', 7000);
    assert.equal((await attempt('ext', 'udp', HOST_IP, 5353)).ok, true, 'udp');
    assert.equal((await attempt('ext', 'tcp', HOST_IP, 8001)).ok, true, 'range');
    assert.equal((await attempt('ext', 'tcp', HOST_IP, random.hostPort)).ok, true, 'random port');
    assert.equal((await attempt('ext', 'tcp', HOST_IP, exposed.hostPort)).ok, true, '-P');
  });

  it("a port bound to 127.0.0.1 is the host's only: not other hosts, not sandboxes, not even by routing 127.0.0.1 over the bridge", async () => {
    await engine.createSandbox({ name: 'plocal', network: 'pa', publish: ['127.0.0.1:8081:80'] });
    await server('plocal', 'tcp', 80);
    const evil = (await engine.createSandbox({ name: 'pevil', network: 'pa' })).endpoints[0]!.ip;
    assert.equal(
      (await attempt(undefined, 'tcp', '127.0.0.1', 8081)).ok,
      true,
      'the host reaches it',
    );
    assert.equal(
      (await attempt('ext', 'tcp', HOST_IP, 8081, 800)).ok,
      false,
      'another host does not',
    );
    assert.equal(
      (await attempt('pevil', 'tcp', HOST_IP, 8081, 800)).ok,
      false,
      'a sandbox does not',
    );
    // CVE-2020-8558: a sandbox routes 127.0.0.1 to the host over the bridge
    // (route_localnet is on there, for the host's own 127.0.0.1 access).
    await run('ip', ['-n', 'pevil', 'route', 'del', 'local', '127.0.0.1', 'table', 'local']);
    await run('ip', ['-n', 'pevil', 'route', 'del', 'local', '127.0.0.0/8', 'table', 'local']);
    await run('ip', [
      '-n',
      'pevil',
      'route',
      'add',
      '127.0.0.1/32',
      'via',
      '10.81.0.1',
      'dev',
      'eth0',
    ]);
    await run('ip', [
      'netns',
      'exec',
      'pevil',
      'sysctl',
      '-qw',
      'net.ipv4.conf.eth0.route_localnet=1',
      'net.ipv4.conf.all.route_localnet=1',
    ]);
    // The oracle is the host's connection tracking: a packet that got in
    // would be tracked (and DNAT'd) there.
    const tracked = async (): Promise<string> =>
      (
        await run('conntrack', [
          '-L',
          '-p',
          'tcp',
          '-s',
          evil,
          '-d',
          '127.0.0.1',
          '--dport',
          '8081',
        ]).catch(() => ({ stdout: '' }))
      ).stdout.trim();
    assert.equal(
      (await attempt('pevil', 'tcp', '127.0.0.1', 8081, 800)).ok,
      false,
      'the raw-priority drop stops it',
    );
    assert.equal(await tracked(), '', 'nothing of it reached the host past the raw hook');
    // Control: without that rule the same packets get in, so the test can fail.
    const table = (
      await run('nft', ['-a', 'list', 'chain', 'inet', `netplumb_${engine.tag}`, 'raw'])
    ).stdout;
    const handle = /127\.0\.0\.0\/8 drop # handle (\d+)/.exec(table)?.[1];
    assert.ok(handle, table);
    await run('nft', ['delete', 'rule', 'inet', `netplumb_${engine.tag}`, 'raw', 'handle', handle]);
    await attempt('pevil', 'tcp', '127.0.0.1', 8081, 800);
    assert.match(
      await tracked(),
      /dst=127\.0\.0\.1 .*dport=8081/,
      'without the rule the packets reach the published service',
    );
  });

  it('conflicts: a host port published twice names the holder; a host process on the port is reported', async () => {
    await engine.createSandbox({ name: 'pone', network: 'pa', publish: ['8090:80'] });
    await assert.rejects(
      engine.createSandbox({ name: 'ptwo', network: 'pb', publish: ['8090:80'] }),
      (e: unknown) => e instanceof ConflictError && /pone/.test(e.message),
    );
    await assert.rejects(
      engine.createSandbox({ name: 'ptwo', network: 'pb', publish: [`${HOST_IP}:8090:80`] }),
      (e: unknown) => e instanceof ConflictError && /pone/.test(e.message),
    );
    await engine.createSandbox({ name: 'pudp', network: 'pb', publish: ['8090:80/udp'] });
    const hostServer = await serve(undefined, 'tcp', 8091, '0.0.0.0');
    cleanup.add('stop host server', () => Promise.resolve(hostServer.kill()));
    await assert.rejects(
      engine.createSandbox({ name: 'pthree', network: 'pb', publish: ['8091:80'] }),
      (e: unknown) => e instanceof ConflictError && /host process/.test(e.message),
    );
    // An address this host does not have: a rule for it would never match.
    await assert.rejects(
      engine.createSandbox({ name: 'pfour', network: 'pb', publish: ['192.0.2.1:8092:80'] }),
      (e: unknown) => e instanceof ValidationError && e.field === 'publish',
    );
    // Nothing of the refused sandboxes stayed.
    assert.deepEqual((await engine.listSandboxes()).map((s) => s.name).sort(), ['pone', 'pudp']);
    const stdout = await natMap(engine, 'dnat4_any');
    assert.equal(
      (JSON.stringify(JSON.parse(stdout)).match(/8090/g) ?? []).length,
      2,
      'one element each for tcp/8090 and udp/8090',
    );
  });

  it('on a dual-stack network 8080:80 holds the port for IPv6 too: [::] and one IPv6 address on it are refused, by either path, until it goes', async () => {
    await engine.createNetwork({
      name: 'pd6',
      subnet: '10.106.0.0/24',
      ipv6: true,
      subnet6: 'fd06::/64',
    });
    // A fixed port (the fast path) and a range (the careful path).
    await engine.createSandbox({ name: 'pda', network: 'pd6', publish: ['18280:80'] });
    await engine.createSandbox({ name: 'pdb', network: 'pd6', publish: ['18290-18291:80'] });
    for (const [name, spec] of [
      ['pdc', '[::]:18280:80'],
      ['pdd', `[${HOST_IP6}]:18280:80`],
      ['pde', '[::]:18290:80'],
      ['pdf', `[${HOST_IP6}]:18290:80`],
    ] as const) {
      await assert.rejects(
        engine.createSandbox({ name, network: 'pd6', publish: [spec] }),
        (e: unknown) => e instanceof ConflictError && /pd[ab]/.test(e.message),
        spec,
      );
    }
    assert.equal((await engine.prune()).ports, 0, 'prune frees none of it');
    await engine.removeSandbox('pda');
    await engine.removeSandbox('pdb');
    await engine.createSandbox({ name: 'pdg', network: 'pd6', publish: ['[::]:18280:80'] });
    await engine.createSandbox({
      name: 'pdh',
      network: 'pd6',
      publish: [`[${HOST_IP6}]:18290:80`],
    });
  });

  it('on a dual-stack network ::1 is not DNATed: refused at once (clients fall back to 127.0.0.1), and [::1] cannot be published', async () => {
    await engine.createNetwork({
      name: 'pl6',
      subnet: '10.107.0.0/24',
      ipv6: true,
      subnet6: 'fd07::/64',
    });
    await engine.createSandbox({ name: 'plweb', network: 'pl6', publish: ['18380:80'] });
    await server('plweb', 'tcp', 80);
    const outputChain = async (): Promise<string[]> => {
      const { stdout } = await run('nft', [
        '-j',
        'list',
        'chain',
        'inet',
        `netplumb_${engine.tag}`,
        'output',
      ]);
      const list = (JSON.parse(stdout) as { nftables: { rule?: { expr: unknown[] } }[] }).nftables;
      return list.flatMap((o) => (o.rule ? [JSON.stringify(o.rule.expr)] : []));
    };
    const loopback6 = JSON.stringify([
      {
        match: {
          op: '==',
          left: { payload: { protocol: 'ip6', field: 'daddr' } },
          right: '::1',
        },
      },
      { return: null },
    ]);
    // A DNAT of ::1 would hang (the packet from ::1 dropped on the way out):
    // left alone, nothing listens on [::1]:18380 and the client is refused.
    assert.equal((await attempt(undefined, 'tcp', '::1', 18380, 3000)).error, 'ECONNREFUSED');
    assert.equal(
      (await outputChain())[0],
      loopback6,
      'the output chain starts by leaving ::1 alone',
    );
    assert.equal((await attempt(undefined, 'tcp', '127.0.0.1', 18380)).ok, true, '127.0.0.1');
    const own6 = await attempt(undefined, 'tcp', HOST_IP6, 18380);
    assert.equal(own6.ok, true, `the host's IPv6 address: ${own6.error}`);
    await assert.rejects(
      engine.createSandbox({ name: 'plone', network: 'pl6', publish: ['[::1]:18381:80'] }),
      (e: unknown) =>
        e instanceof ValidationError && e.field === 'publish[0]' && /127\.0\.0\.1/.test(e.message),
    );
    assert.deepEqual(
      (await engine.listSandboxes()).map((s) => s.name),
      ['plweb'],
    );
    // A table made before this rule existed gets it from the next engine process.
    const { stdout } = await run('nft', [
      '-a',
      'list',
      'chain',
      'inet',
      `netplumb_${engine.tag}`,
      'output',
    ]);
    const handle = /ip6 daddr ::1 return # handle (\d+)/.exec(stdout)?.[1];
    assert.ok(handle, stdout);
    await run('nft', [
      'delete',
      'rule',
      'inet',
      `netplumb_${engine.tag}`,
      'output',
      'handle',
      handle,
    ]);
    assert.notEqual((await outputChain())[0], loopback6);
    const later = await Engine.open({ stateDir: engine.state.dir, dns: false });
    try {
      await later.createSandbox({ name: 'pllater', network: 'pl6', publish: ['18382:80'] });
      await later.removeSandbox('pllater');
    } finally {
      await later.close();
    }
    const rules = await outputChain();
    assert.equal(rules[0], loopback6, 'put back in front');
    assert.equal(rules.filter((r) => r === loopback6).length, 1, 'once');
    // A process that finds the rule there adds no second one.
    const third = await Engine.open({ stateDir: engine.state.dir, dns: false });
    try {
      await third.createSandbox({ name: 'plthird', network: 'pl6', publish: ['18383:80'] });
      await third.removeSandbox('plthird');
    } finally {
      await third.close();
    }
    assert.deepEqual(await outputChain(), rules, 'the output chain is unchanged');
    assert.equal((await attempt(undefined, 'tcp', '::1', 18380, 3000)).error, 'ECONNREFUSED');
  });

  it('on an IPv4-only network an IPv6 host address is refused, naming the entry, before anything is made; 8080:80 still works', async () => {
    for (const publish of [['[::]:18480:80'], ['18481:80', `[${HOST_IP6}]:18482:80`]]) {
      await assert.rejects(
        engine.createSandbox({ name: 'pv4', network: 'pa', publish }),
        (e: unknown) =>
          e instanceof ValidationError &&
          e.field === `publish[${publish.length - 1}]` &&
          /IPv6 host address needs a network with IPv6/.test(e.message),
        publish.join(' '),
      );
    }
    assert.deepEqual(await engine.listSandboxes(), []);
    assert.deepEqual(await netnsNames(), ['ext'], 'no namespace was made');
    for (const map of ['dnat4_any', 'dnat6_any', 'dnat6_ip'])
      assert.doesNotMatch(await natMap(engine, map), /1848/, map);
    // Nothing stayed reserved, and the IPv4 wildcard works as before.
    await engine.createSandbox({ name: 'pv4', network: 'pa', publish: ['18481:80'] });
    await server('pv4', 'tcp', 80);
    assert.equal((await attempt('ext', 'tcp', HOST_IP, 18481)).ok, true);
  });

  it("IPv6 hairpin: on a dual-stack network a sandbox reaches its own published port, and a neighbour's, through the host's IPv6 address", async () => {
    await engine.createNetwork({
      name: 'ph6',
      subnet: '10.108.0.0/24',
      ipv6: true,
      subnet6: 'fd08::/64',
    });
    await engine.createSandbox({ name: 'phweb', network: 'ph6', publish: ['18580:80'] });
    await engine.createSandbox({ name: 'phcli', network: 'ph6' });
    await server('phweb', 'tcp', 80);
    const self = await attempt('phweb', 'tcp', HOST_IP6, 18580);
    assert.equal(self.ok, true, `itself: ${self.error}`);
    // Masqueraded to the gateway: the answer comes back through the host.
    assert.equal(self.reply, 'from fd08::1');
    const other = await attempt('phcli', 'tcp', HOST_IP6, 18580);
    assert.equal(other.ok, true, `a neighbour: ${other.error}`);
    const { stdout } = await run('nft', [
      '-j',
      'list',
      'chain',
      'inet',
      `netplumb_${engine.tag}`,
      'postrouting',
    ]);
    const rules = (JSON.parse(stdout) as { nftables: { rule?: { expr: unknown[] } }[] }).nftables
      .flatMap((o) => (o.rule ? [JSON.stringify(o.rule.expr)] : []))
      .filter((r) => r.includes('"ct"') && r.includes('fd08::'));
    assert.equal(rules.length, 1, 'one IPv6 hairpin rule for the network');
  });

  it("on a new dual-stack network the first IPv6 connection gets through at once: the bridge's link-local address is not held tentative", async () => {
    const net = await engine.createNetwork({
      name: 'pd6',
      subnet: '10.109.0.0/24',
      ipv6: true,
      subnet6: 'fd09::/64',
    });
    await engine.createSandbox({ name: 'pdweb', network: 'pd6', publish: ['18680:80'] });
    // The bridge gets its link-local address once its first port has
    // carrier; looked at as soon as it is there, well before a DAD run
    // (1-2 s) could have ended.
    let linkLocal: { local: string; tentative?: boolean } | undefined;
    await waitFor("the bridge's link-local address", async () => {
      const { stdout } = await run('ip', ['-j', '-6', 'addr', 'show', 'dev', net.bridge]);
      linkLocal = (
        JSON.parse(stdout) as {
          addr_info: { local: string; scope: string; tentative?: boolean }[];
        }[]
      )[0]!.addr_info.find((a) => a.scope === 'link');
      return linkLocal !== undefined;
    });
    assert.equal(linkLocal!.tentative, undefined, `${linkLocal!.local} is tentative`);
    await server('pdweb', 'tcp', 80);
    // From another host through the published port, and to the sandbox's
    // own address: each answered by the first SYN (TCP retransmits a lost
    // one after 1 s; while the bridge had no link-local address to solicit
    // from, the first connection took 2 s).
    const published = await attempt('ext', 'tcp', HOST_IP6, 18680, 900);
    assert.equal(published.ok, true, `published: ${published.error}`);
  });

  it('removing a UDP publication forgets its flows: the next sandbox on that port gets the same client at once', async () => {
    await engine.createSandbox({ name: 'pu1', network: 'pa', publish: ['5400:53/udp'] });
    const s1 = await server('pu1', 'udp', 53);
    // A client that keeps one source port, as a DNS or game client does.
    const first = await attempt('ext', 'udp', HOST_IP, 5400, 1500, 40123);
    assert.equal(first.reply, `from ${EXT_IP}`);
    const entries = async (): Promise<string> =>
      (
        await run('conntrack', ['-L', '-p', 'udp', '--dport', '5400']).catch(() => ({ stdout: '' }))
      ).stdout.trim();
    assert.match(await entries(), /dport=5400/);
    s1.kill();
    await engine.removeSandbox('pu1');
    assert.equal(await entries(), '', 'the flow went with the sandbox');
    await engine.createSandbox({ name: 'pu2', network: 'pb', publish: ['5400:53/udp'] });
    await server('pu2', 'udp', 53);
    assert.equal(
      (await attempt('ext', 'udp', HOST_IP, 5400, 1500, 40123)).ok,
      true,
      'the same client reaches the new sandbox',
    );
  });

  it('removal takes exactly its elements, and the port can be published again at once', async () => {
    await engine.createSandbox({ name: 'pkeep', network: 'pa', publish: ['8100:80'] });
    await engine.createSandbox({ name: 'pgo', network: 'pa', publish: ['8101:80', '8102:81/udp'] });
    const elems = async (): Promise<string> =>
      (await run('nft', ['list', 'map', 'inet', `netplumb_${engine.tag}`, 'dnat4_any'])).stdout;
    assert.match(await elems(), /8101/);
    await engine.removeSandbox('pgo');
    const after = await elems();
    assert.match(after, /tcp \. 8100/);
    assert.doesNotMatch(after, /8101|8102/);
    await engine.createSandbox({
      name: 'pagain',
      network: 'pb',
      publish: ['8101:80'],
    });
    await server('pagain', 'tcp', 80);
    assert.equal((await attempt('ext', 'tcp', HOST_IP, 8101)).ok, true);
  });
});
