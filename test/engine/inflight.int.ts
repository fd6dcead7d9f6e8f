/**
 * Operations in flight and the ones that may not overlap them: a prune run
 * by another engine (in this process or another) while sandboxes are being
 * created and connected; connects and disconnects of one sandbox at once;
 * a removal killed midway, finished by a prune of any process.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { access, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';

import { Engine, NetlinkError, type Sandbox } from '../../lib';
import { Cleanup, ROOT, ipJson, requireSandbox, run } from '../helpers';
import { consistency, openEngine, type IpAddrInfo } from './helpers';

const WORKER = path.join(ROOT, 'dist', 'test', 'engine', 'worker-tool.js');
const CLI = path.join(ROOT, 'dist', 'lib', 'cli', 'main.js');

interface NftElem {
  elem: { val: { concat: [string, number] }; comment?: string };
}
type NftObject = { map?: { name: string; elem?: [NftElem, { concat: [string, number] }][] } };

/** DNAT elements of the published-port maps, as "proto/hostPort -> ip:port sbx=NAME". */
async function dnatElements(): Promise<Set<string>> {
  const { stdout } = await run('nft', ['-j', 'list', 'ruleset']);
  const out = new Set<string>();
  for (const o of (JSON.parse(stdout) as { nftables: NftObject[] }).nftables) {
    if (!o.map?.name.startsWith('dnat')) continue;
    for (const [key, to] of o.map.elem ?? []) {
      const [proto, port] = key.elem.val.concat;
      out.add(`${proto}/${port} -> ${to.concat[0]}:${to.concat[1]} ${key.elem.comment ?? ''}`);
    }
  }
  return out;
}

/**
 * What a sandbox the engine says it made must still have: its record,
 * namespace, each endpoint's address in IPAM and inside the namespace, its
 * host end, each published port's reservation and DNAT element. Problems,
 * as text (empty: whole).
 */
async function wholeness(engine: Engine, made: Sandbox[]): Promise<string[]> {
  const problems: string[] = [];
  const dnat = await dnatElements();
  const hostLinks = new Set(
    (await ipJson<{ ifname: string }[]>(['link', 'show'])).map((l) => l.ifname),
  );
  for (const want of made) {
    const name = want.name;
    const rec = await engine.inspectSandbox(name).catch(() => undefined);
    if (!rec) {
      problems.push(`${name}: record gone`);
      continue;
    }
    if (
      JSON.stringify(rec.endpoints.map((e) => [e.network, e.ip, e.ports])) !==
      JSON.stringify(want.endpoints.map((e) => [e.network, e.ip, e.ports]))
    )
      problems.push(`${name}: record changed`);
    if (
      !(await access(`/run/netns/${name}`).then(
        () => true,
        () => false,
      ))
    ) {
      problems.push(`${name}: namespace gone`);
      continue;
    }
    const inside = new Map(
      (await ipJson<IpAddrInfo[]>(['addr', 'show'], name)).map((l) => [l.ifname, l]),
    );
    for (const e of want.endpoints) {
      if ((await engine.state.addresses(e.network)).get(e.ip) !== name)
        problems.push(`${name}: ${e.network}/${e.ip} not held in IPAM`);
      if (!inside.get(e.ifname)?.addr_info.some((a) => a.local === e.ip))
        problems.push(`${name}: ${e.ip} not on ${e.ifname} in the kernel`);
      if (!hostLinks.has(e.hostIfname)) problems.push(`${name}: host end ${e.hostIfname} gone`);
      for (const p of e.ports) {
        if ((await engine.state.portHolders(p.protocol, p.hostPort)).get(p.hostIp) !== name)
          problems.push(`${name}: ${p.protocol}/${p.hostPort} not reserved`);
        const elem = `${p.protocol}/${p.hostPort} -> ${e.ip}:${p.containerPort} sbx=${name}`;
        if (!dnat.has(elem)) problems.push(`${name}: no DNAT element ${elem}`);
      }
    }
  }
  return problems;
}

describe('engine: operations in flight, prune and one sandbox at a time', function () {
  this.timeout(300_000);
  before(requireSandbox);
  const cleanup = new Cleanup();
  let A: Engine;
  let B: Engine;
  let stateDir: string;
  beforeEach(async () => {
    const e = await openEngine({ dns: false });
    A = e.engine;
    stateDir = e.stateDir;
    cleanup.add('dispose engine', e.dispose);
    // A second engine on the same state directory, as another process would open it.
    B = await Engine.open({ stateDir, dns: false });
    cleanup.add('close the second engine', () => B.close());
  });
  afterEach(() => cleanup.run());

  it('prune by a second engine in this process, in a loop, leaves 40 sandboxes being created, published and connected whole', async () => {
    await A.createNetwork({ name: 'pa', subnet: '10.74.0.0/22' });
    await A.createNetwork({ name: 'pb', subnet: '10.75.0.0/24' });
    const N = 40;
    const made: Sandbox[] = [];
    const errors: string[] = [];
    let next = 0;
    let done = false;
    const work = Promise.all(
      Array.from({ length: 4 }, async () => {
        while (next < N) {
          const i = next++;
          const name = `pf${i}`;
          // Fixed host ports (the fast path), a dynamic one (the careful
          // path), two at once, none; every other sandbox connected after.
          const publish = [[`${21000 + i}:80`], ['80'], [], [`${21000 + i}:80`, '53/udp']][i % 4]!;
          try {
            await A.createSandbox({ name, network: 'pa', publish });
            if (i % 2 === 0) await A.connect(name, 'pb');
            made.push(await A.inspectSandbox(name));
          } catch (err) {
            errors.push(`${name}: ${(err as Error).message}`);
          }
        }
      }),
    ).finally(() => {
      done = true;
    });
    let prunes = 0;
    const pruned: string[] = [];
    while (!done) {
      const r = await B.prune();
      pruned.push(...r.sandboxes, ...r.links);
      if (r.addresses + r.ports > 0) pruned.push(`${r.addresses} addresses, ${r.ports} ports`);
      prunes++;
    }
    await work;
    assert.deepEqual(errors, [], 'every operation succeeded');
    assert.deepEqual(pruned, [], 'prune found nothing of the operations in flight to undo');
    assert.ok(prunes >= 2, `prune ran while the sandboxes were made (${prunes} times)`);
    assert.equal(made.length, N);
    assert.deepEqual(await wholeness(A, made), []);
    assert.deepEqual(await consistency(A, 'pf'), []);
  });

  it('prune in this process while another process creates 30 sandboxes: each keeps its namespace and address', async () => {
    await A.createNetwork({ name: 'px', subnet: '10.76.0.0/24' });
    const child = spawn(process.execPath, [WORKER, 'create', stateDir, 'px', 'pw', '30'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    let done = false;
    const exit = new Promise<number | null>((resolve) =>
      child.once('exit', (code) => {
        done = true;
        resolve(code);
      }),
    );
    let prunes = 0;
    while (!done) {
      await A.prune();
      prunes++;
    }
    assert.equal(await exit, 0, 'the creating process succeeded');
    assert.ok(prunes >= 2, `prune ran while the sandboxes were made (${prunes} times)`);
    const ips = JSON.parse(out) as string[];
    assert.equal(ips.length, 30);
    const made = await A.listSandboxes();
    assert.deepEqual(made.map((s) => s.endpoints[0]!.ip).sort(), [...ips].sort());
    assert.deepEqual(await wholeness(A, made), []);
    assert.deepEqual(await consistency(A, 'pw'), []);
  });

  it('connects and disconnects of one sandbox at once, by one engine and by two, all land', async () => {
    for (let n = 0; n < 4; n++)
      await A.createNetwork({ name: `c${n}`, subnet: `10.${77 + n}.0.0/24` });
    await A.createSandbox({ name: 'cw', network: 'c0' });
    const first = await Promise.allSettled([A.connect('cw', 'c1'), A.connect('cw', 'c2')]);
    assert.deepEqual(
      first.map((r) => (r.status === 'fulfilled' ? r.value.network : String(r.reason))),
      ['c1', 'c2'],
    );
    // Another engine (as another process would) connects while this one disconnects.
    const second = await Promise.allSettled([B.connect('cw', 'c3'), A.disconnect('cw', 'c1')]);
    assert.deepEqual(
      second.map((r) => (r.status === 'fulfilled' ? 'ok' : String(r.reason))),
      ['ok', 'ok'],
    );
    const s = await A.inspectSandbox('cw');
    assert.deepEqual(s.endpoints.map((e) => e.network).sort(), ['c0', 'c2', 'c3']);
    assert.equal(new Set(s.endpoints.map((e) => e.ifname)).size, 3, 'one interface name each');
    assert.deepEqual(await wholeness(A, [s]), []);
    const inside = await ipJson<IpAddrInfo[]>(['addr', 'show'], 'cw');
    assert.deepEqual(
      inside
        .map((l) => l.ifname)
        .filter((n) => n !== 'lo')
        .sort(),
      s.endpoints.map((e) => e.ifname).sort(),
      'the kernel has exactly the recorded interfaces',
    );
    assert.deepEqual([...(await A.state.addresses('c1')).keys()], [], 'c1 holds no address');
    assert.deepEqual(await consistency(A, 'cw'), []);
  });

  it('a removal killed midway is finished by a prune of another process (not only by the creator)', async () => {
    await A.createNetwork({ name: 'kr', subnet: '10.81.0.0/24' });
    await A.createSandbox({ name: 'kw', network: 'kr', publish: ['8088:80'] });
    // This process made it; another removes it and is killed after marking it 'removing'.
    const remover = spawn(process.execPath, [WORKER, 'remove-hang', stateDir, 'kw'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exited = new Promise((resolve) => remover.once('exit', resolve));
    await new Promise<void>((resolve, reject) => {
      remover.stdout.on('data', (d: Buffer) => {
        if (d.toString().includes('marked')) resolve();
      });
      remover.once('exit', () => {
        reject(new Error('the remover exited before marking the record'));
      });
    });
    remover.kill('SIGKILL');
    await exited;
    const rec = JSON.parse(await readFile(path.join(stateDir, 'sandboxes', 'kw.json'), 'utf8')) as {
      state: string;
      pid: number;
    };
    // The CLI is a third process: the creator (this one) is alive, the remover is not.
    const report = JSON.parse(
      (await run(process.execPath, [CLI, '--state-dir', stateDir, 'prune', '--json'])).stdout,
    ) as { sandboxes: string[] };
    assert.deepEqual(report.sandboxes, ['kw'], 'prune finished the removal');
    assert.deepEqual(
      { state: rec.state, pid: rec.pid },
      { state: 'removing', pid: remover.pid },
      'the record names its remover',
    );
    await assert.rejects(access('/run/netns/kw'), 'namespace gone');
    await assert.rejects(A.inspectSandbox('kw'), 'record gone');
    assert.deepEqual([...(await A.state.addresses('kr')).keys()], [], 'address free');
    assert.ok(![...(await dnatElements())].some((e) => e.endsWith('sbx=kw')), 'DNAT gone');
    assert.deepEqual(await consistency(A, 'k'), []);
  });

  it('a symlink in place of an operations lock file: the engine refuses to open (ELOOP)', async () => {
    const outside = path.join('/run', `np-outside-${process.pid}`);
    await writeFile(outside, 'canary');
    cleanup.add('remove the canary', () => rm(outside, { force: true }));
    for (const name of ['ops', 'ops.gate', 'ops.waiting', 'sandboxes']) {
      const file = path.join(stateDir, 'locks', name);
      await rm(file, { force: true });
      await symlink(outside, file);
      await assert.rejects(Engine.open({ stateDir, dns: false }), (err) => {
        assert.ok(err instanceof NetlinkError && err.code === 'ELOOP', String(err));
        return true;
      });
      await rm(file);
    }
    assert.equal(await readFile(outside, 'utf8'), 'canary');
  });
});
