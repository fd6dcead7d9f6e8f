/** The embedded resolver, as sandboxes use it: getent, real TCP by name, forwarding, isolation, load, fuzz. */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import fs from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';

import { Engine } from '../../lib';
import { DnsService } from '../../lib/dns/service';
import { StateStore } from '../../lib/engine/state';
import { Cleanup, ROOT, inNs, requireSandbox, run } from '../helpers';
import { openEngine } from '../engine/helpers';

const TOOLS = path.join(ROOT, 'dist', 'test', 'dns');

interface Reply {
  rcode: number;
  tc: boolean;
  size: number;
  answers: { type: string; data: string }[];
}

async function query(
  from: string,
  server: string,
  name: string,
  type = 'A',
  proto = 'udp',
  edns?: number,
): Promise<Reply> {
  const { stdout } = await inNs(from, process.execPath, [
    path.join(TOOLS, 'query-tool.js'),
    server,
    name,
    type,
    proto,
    ...(edns !== undefined ? [String(edns)] : []),
  ]);
  return JSON.parse(stdout) as Reply;
}

async function getent(from: string, name: string): Promise<string | undefined> {
  try {
    return (await inNs(from, 'getent', ['hosts', name])).stdout.trim().split(/\s+/)[0];
  } catch {
    return undefined;
  }
}

/** Starts a program in a namespace and waits for its first line. */
async function startIn(netns: string, args: string[]): Promise<ChildProcess> {
  const child = spawn('ip', ['netns', 'exec', netns, process.execPath, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout.once('data', () => {
      resolve();
    });
    child.once('exit', (code) => {
      reject(new Error(`${args[0]} exited ${code}`));
    });
  });
  return child;
}

describe('embedded DNS on user-defined networks', function () {
  this.timeout(60_000);
  before(requireSandbox);
  const cleanup = new Cleanup();
  const suite = new Cleanup();
  let engine: Engine;
  let stateDir: string;
  const confDir = '/run/np-dns-test';

  before(async () => {
    // An upstream resolver in its own namespace, routed from this one.
    await run('ip', ['netns', 'add', 'dnsup']);
    suite.add('del dnsup', () => run('ip', ['netns', 'del', 'dnsup']));
    await run('ip', [
      'link',
      'add',
      'npup0',
      'type',
      'veth',
      'peer',
      'name',
      'eth0',
      'netns',
      'dnsup',
    ]);
    suite.add('del npup0', () => run('ip', ['link', 'del', 'npup0']).catch(() => undefined));
    await run('ip', ['addr', 'add', '10.250.0.1/30', 'dev', 'npup0']);
    await run('ip', ['link', 'set', 'npup0', 'up']);
    await run('ip', ['-n', 'dnsup', 'addr', 'add', '10.250.0.2/30', 'dev', 'eth0']);
    await run('ip', ['-n', 'dnsup', 'link', 'set', 'eth0', 'up']);
    await run('ip', ['-n', 'dnsup', 'link', 'set', 'lo', 'up']);
    const up = await startIn('dnsup', [
      path.join(TOOLS, 'upstream-tool.js'),
      '10.250.0.2',
      'outside.example=10.0.0.42',
    ]);
    suite.add('stop upstream', () => Promise.resolve(up.kill()));
    await mkdir(confDir, { recursive: true });
    await writeFile(path.join(confDir, 'resolv.conf'), 'nameserver 10.250.0.2\nsearch corp.test\n');
    suite.add('rm conf', () => rm(confDir, { recursive: true, force: true }));
  });
  after(() => suite.run());

  beforeEach(async () => {
    const e = await openEngine({ resolvConf: path.join(confDir, 'resolv.conf') });
    engine = e.engine;
    stateDir = e.stateDir;
    cleanup.add('dispose engine', e.dispose);
    await engine.createNetwork({ name: 'dapp', subnet: '10.89.0.0/24' });
    await engine.createNetwork({ name: 'dother', subnet: '10.90.0.0/24' });
    await engine.createSandbox({ name: 'dweb', network: 'dapp', aliases: ['frontend'] });
    await engine.createSandbox({ name: 'ddb', network: 'dapp' });
  });
  afterEach(() => cleanup.run());

  it('names, aliases and NAME.NETWORK resolve with getent; a page is fetched by name over TCP', async () => {
    const web = (await engine.inspectSandbox('dweb')).endpoints[0]!.ip;
    assert.match(
      (await inNs('ddb', 'cat', ['/etc/resolv.conf'])).stdout,
      /^nameserver 10\.89\.0\.1$/m,
    );
    assert.equal(await getent('ddb', 'dweb'), web);
    assert.equal(await getent('ddb', 'frontend'), web);
    assert.equal(await getent('ddb', 'dweb.dapp'), web);
    assert.equal(await getent('ddb', 'DWEB'), web, 'names are case-insensitive');
    const server = await startIn('dweb', [
      '-e',
      "require('http').createServer((q,s)=>s.end('hello from web')).listen(80,()=>console.log('up'))",
    ]);
    cleanup.add('stop web server', () => Promise.resolve(server.kill()));
    const { stdout } = await inNs('ddb', process.execPath, [
      '-e',
      "fetch('http://dweb/').then(r=>r.text()).then(t=>process.stdout.write(t))",
    ]);
    assert.equal(stdout, 'hello from web');
    const ptr = await query(
      'ddb',
      '10.89.0.1',
      `${web.split('.').reverse().join('.')}.in-addr.arpa`,
      'PTR',
    );
    assert.deepEqual(ptr.answers, [{ type: 'PTR', data: 'dweb' }]);
    const tcp = await query('ddb', '10.89.0.1', 'frontend', 'A', 'tcp');
    assert.deepEqual(tcp.answers, [{ type: 'A', data: web }]);
  });

  it('a sandbox made by another process is read alone and resolves; nothing makes the resolver re-read every record', async () => {
    const dns = engine.dns!;
    // What beforeEach wrote (two networks) may still be on its way to a reload.
    await dns.settled();
    const fullReads = dns.fullReads;
    for (const name of ['dn1', 'dn2', 'dn3']) await engine.createSandbox({ name, network: 'dapp' });
    // Another engine on the same state directory, as the CLI in another process would be.
    const other = await Engine.open({ stateDir, dns: false });
    try {
      await other.createSandbox({ name: 'dfar', network: 'dapp' });
    } finally {
      await other.close();
    }
    const far = (await engine.inspectSandbox('dfar')).endpoints[0]!.ip;
    const deadline = Date.now() + 5000;
    while ((await getent('ddb', 'dfar')) !== far) {
      assert.ok(
        Date.now() < deadline,
        'the resolver never learned the name written by the other engine',
      );
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(await getent('ddb', 'dn2'), (await engine.inspectSandbox('dn2')).endpoints[0]!.ip);
    assert.equal(dns.fullReads, fullReads, 'no sandbox change re-read every record');
  });

  it('without inotify watches (ENOSPC) the resolver looks at the state directory instead', async () => {
    // fs.watch fails as it does when fs.inotify.max_user_watches is spent.
    const realWatch = fs.watch;
    let refused = 0;
    fs.watch = ((file: string) => {
      refused++;
      throw Object.assign(
        new Error(`ENOSPC: System limit for number of file watchers reached, watch '${file}'`),
        {
          code: 'ENOSPC',
        },
      );
    }) as typeof fs.watch;
    let polled: Awaited<ReturnType<typeof openEngine>>;
    try {
      polled = await openEngine({ resolvConf: path.join(confDir, 'resolv.conf') });
    } finally {
      fs.watch = realWatch;
    }
    cleanup.add('dispose polled engine', polled.dispose);
    assert.ok(refused > 0, 'the service asked for a watcher');
    await polled.engine.createNetwork({ name: 'dpoll', subnet: '10.93.0.0/24' });
    await polled.engine.createSandbox({ name: 'dpa', network: 'dpoll' });
    const other = await Engine.open({ stateDir: polled.stateDir, dns: false });
    try {
      await other.createSandbox({ name: 'dpfar', network: 'dpoll' });
    } finally {
      await other.close();
    }
    const far = (await polled.engine.inspectSandbox('dpfar')).endpoints[0]!.ip;
    const deadline = Date.now() + 5000;
    while ((await getent('dpa', 'dpfar')) !== far) {
      assert.ok(
        Date.now() < deadline,
        'the resolver never learned the name written by the other engine',
      );
      await new Promise((r) => setTimeout(r, 100));
    }
  });

  it('a network whose port 53 another program held gets its resolver once the port is free', async () => {
    // Another program on 10.94.0.1:53 before the network exists (bound while
    // the address was on lo: the socket stays bound once it is gone).
    await run('ip', ['addr', 'add', '10.94.0.1/32', 'dev', 'lo']);
    const holder = createSocket({ type: 'udp4' });
    try {
      await new Promise<void>((resolve, reject) => {
        holder.once('error', reject);
        holder.bind({ address: '10.94.0.1', port: 53 }, resolve);
      });
    } finally {
      await run('ip', ['addr', 'del', '10.94.0.1/32', 'dev', 'lo']);
    }
    let held = true;
    cleanup.add('free the port', () => {
      if (held) holder.close();
      return Promise.resolve();
    });
    await engine.createNetwork({ name: 'dheld', subnet: '10.94.0.0/24' });
    await engine.createSandbox({ name: 'dh1', network: 'dheld' });
    const ip = (await engine.createSandbox({ name: 'dh2', network: 'dheld' })).endpoints[0]!.ip;
    holder.close();
    held = false;
    const deadline = Date.now() + 15_000;
    while ((await getent('dh1', 'dh2')) !== ip) {
      assert.ok(Date.now() < deadline, 'no resolver on 10.94.0.1:53 after the port was freed');
      await new Promise((r) => setTimeout(r, 200));
    }
  });

  it('a sandbox on another network does not learn the names; after connect it does, after disconnect not', async () => {
    await engine.createSandbox({ name: 'dx', network: 'dother' });
    assert.equal(await getent('dx', 'dweb'), undefined);
    const r = await query('dx', '10.90.0.1', 'dweb');
    assert.equal(r.rcode, 3, 'NXDOMAIN (the upstream does not know it either)');
    // Asking another network's resolver directly does not leak names either.
    const direct = await query('dx', '10.89.0.1', 'dweb');
    assert.deepEqual(direct.answers, []);
    await engine.connect('dx', 'dapp');
    const web = (await engine.inspectSandbox('dweb')).endpoints[0]!.ip;
    assert.equal(await getent('dx', 'dweb'), web, 'answers change at once on connect');
    await engine.disconnect('dx', 'dapp');
    assert.equal(await getent('dx', 'dweb'), undefined, 'and at once on disconnect');
    await engine.removeSandbox('dweb');
    assert.equal(await getent('ddb', 'dweb'), undefined, 'and on removal');
  });

  it('other names go to the host upstream (TCP when truncated); an internal network gets NXDOMAIN', async () => {
    assert.equal(await getent('ddb', 'outside.example'), '10.0.0.42');
    // Too big for the upstream's UDP: we fetch it over TCP; too big for a
    // plain UDP client: it is told to come back over TCP, and gets it all.
    const overUdp = await query('ddb', '10.89.0.1', 'many.big');
    assert.equal(overUdp.tc, true);
    const overTcp = await query('ddb', '10.89.0.1', 'many.big', 'A', 'tcp');
    assert.equal(overTcp.answers.length, 60);
    await engine.createNetwork({ name: 'dint', subnet: '10.91.0.0/24', internal: true });
    await engine.createSandbox({ name: 'din', network: 'dint' });
    assert.equal(await getent('din', 'outside.example'), undefined);
    assert.equal((await query('din', '10.91.0.1', 'outside.example')).rcode, 3);
    await engine.createSandbox({ name: 'din2', network: 'dint' });
    assert.equal(
      await getent('din', 'din2'),
      (await engine.inspectSandbox('din2')).endpoints[0]!.ip,
      'but its own names resolve',
    );
  });

  it('answers too big for the client are truncated (TC, no partial answer), local and forwarded; TCP gets them whole', async () => {
    // 8 sandboxes sharing one 63-character alias: ~700 bytes of A records.
    const alias = `shared-${'x'.repeat(56)}`;
    const ips: string[] = [];
    for (let i = 0; i < 8; i++) {
      const s = await engine.createSandbox({ name: `dt${i}`, network: 'dapp', aliases: [alias] });
      ips.push(s.endpoints[0]!.ip);
    }
    const plain = await query('ddb', '10.89.0.1', alias);
    assert.equal(plain.tc, true, 'over 512 bytes to a client without EDNS');
    assert.deepEqual(plain.answers, []);
    assert.ok(plain.size <= 512);
    const small = await query('ddb', '10.89.0.1', alias, 'A', 'udp', 600);
    assert.equal(small.tc, true, 'over the 600 bytes the client can take');
    assert.deepEqual(small.answers, []);
    const large = await query('ddb', '10.89.0.1', alias, 'A', 'udp', 4096);
    assert.equal(large.tc, false);
    assert.deepEqual(large.answers.map((a) => a.data).sort(), [...ips].sort());
    const tcp = await query('ddb', '10.89.0.1', alias, 'A', 'tcp');
    assert.equal(tcp.tc, false);
    assert.deepEqual(tcp.answers.map((a) => a.data).sort(), [...ips].sort());
    // Forwarded (60 A records, ~1 KB): the client's EDNS size counts too.
    const fwdSmall = await query('ddb', '10.89.0.1', 'many.big', 'A', 'udp', 600);
    assert.equal(fwdSmall.tc, true, 'a forwarded answer over the 600 bytes the client can take');
    assert.deepEqual(fwdSmall.answers, []);
    assert.ok(fwdSmall.size <= 600);
    const fwdLarge = await query('ddb', '10.89.0.1', 'many.big', 'A', 'udp', 4096);
    assert.equal(fwdLarge.tc, false);
    assert.equal(fwdLarge.answers.length, 60);
  });

  it('dual-stack networks answer AAAA', async () => {
    await engine.createNetwork({
      name: 'd6',
      subnet: '10.92.0.0/24',
      ipv6: true,
      subnet6: 'fd92::/64',
    });
    const a = await engine.createSandbox({ name: 'd6a', network: 'd6' });
    await engine.createSandbox({ name: 'd6b', network: 'd6' });
    const r = await query('d6b', '10.92.0.1', 'd6a', 'AAAA');
    assert.deepEqual(r.answers, [{ type: 'AAAA', data: a.endpoints[0]!.ip6 }]);
  });

  it('10,000 queries from four sandboxes: none lost, none wrong', async () => {
    const names: string[] = [];
    for (let i = 0; i < 4; i++)
      names.push((await engine.createSandbox({ name: `dl${i}`, network: 'dapp' })).name);
    const expect = (await engine.listSandboxes())
      .filter((s) => s.endpoints.some((e) => e.network === 'dapp'))
      .map((s) => `${s.name}=${s.endpoints[0]!.ip}`);
    const results = await Promise.all(
      names.map(
        async (n) =>
          JSON.parse(
            (
              await inNs(
                n,
                process.execPath,
                [path.join(TOOLS, 'query-tool.js'), '10.89.0.1', '--load', '2500', '32', ...expect],
                { timeout: 60_000 },
              )
            ).stdout,
          ) as { ok: number; wrong: number; lost: number },
      ),
    );
    const total = results.reduce(
      (a, r) => ({ ok: a.ok + r.ok, wrong: a.wrong + r.wrong, lost: a.lost + r.lost }),
      { ok: 0, wrong: 0, lost: 0 },
    );
    assert.deepEqual(total, { ok: 10_000, wrong: 0, lost: 0 });
  });

  it('malformed and mutated packets never stop the resolver', async () => {
    const { stdout } = await inNs(
      'ddb',
      process.execPath,
      [path.join(TOOLS, 'fuzz-tool.js'), '10.89.0.1', '3', '20261123', 'dweb'],
      { timeout: 30_000 },
    );
    const r = JSON.parse(stdout) as { sent: number; stillAnswers: boolean };
    assert.ok(r.sent > 1000, `sent ${r.sent}`);
    assert.equal(r.stillAnswers, true);
    assert.ok(await getent('ddb', 'dweb'));
  });
});

describe('the resolver view after a failed reload', () => {
  before(requireSandbox);

  it('a reload that fails does not stop the ones after it', async () => {
    const dir = `/run/np-dns-reload-${process.pid}`;
    const state = new StateStore(dir);
    await state.init();
    const dns = new DnsService(state, { watch: false });
    try {
      await dns.start();
      const reads = dns.fullReads;
      // networks/ is not a directory for a moment: that reload fails...
      await rename(path.join(dir, 'networks'), path.join(dir, 'networks.away'));
      await writeFile(path.join(dir, 'networks'), '');
      await assert.rejects(dns.reload());
      await rm(path.join(dir, 'networks'));
      await rename(path.join(dir, 'networks.away'), path.join(dir, 'networks'));
      // ...and the next one reads again.
      await dns.reload();
      assert.equal(dns.fullReads, reads + 2);
    } finally {
      await dns.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
