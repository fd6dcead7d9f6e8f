/** Crashes (SIGKILL mid-operation) and concurrent processes: prune restores order, addresses never double. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import path from 'node:path';

import type { Engine } from '../../lib';
import { Cleanup, ROOT, ipJson, requireSandbox, run, sleep } from '../helpers';
import { openEngine } from './helpers';

const WORKER = path.join(ROOT, 'dist', 'test', 'engine', 'worker-tool.js');

/** Checks that state and kernel agree; returns a list of problems (empty: consistent). */
export async function consistency(engine: Engine, prefix: string): Promise<string[]> {
  const problems: string[] = [];
  const sandboxes = (await engine.listSandboxes()).filter((s) => s.name.startsWith(prefix));
  const allRecords = await readdir(path.join(engine.state.dir, 'sandboxes'));
  for (const f of allRecords) if (!f.endsWith('.json')) problems.push(`stray state file ${f}`);
  if (allRecords.length !== (await engine.listSandboxes()).length)
    problems.push('records not ready');
  const links = await ipJson<{ ifname: string; ifalias?: string }[]>(['link', 'show']);
  const names = new Set(links.map((l) => l.ifname));
  const netns = new Set(await readdir('/run/netns'));
  const hostEnds = new Set<string>();
  const held = new Set<string>();
  for (const s of sandboxes) {
    if (s.netns && !netns.has(s.netns)) problems.push(`${s.name}: namespace missing`);
    for (const e of s.endpoints) {
      hostEnds.add(e.hostIfname);
      held.add(`${e.network}/${e.ip}`);
      if (!names.has(e.hostIfname)) problems.push(`${s.name}: veth ${e.hostIfname} missing`);
    }
  }
  for (const l of links) {
    if (l.ifalias?.startsWith(`netplumb:${engine.tag}:ep:`) && !hostEnds.has(l.ifname))
      problems.push(`orphan veth ${l.ifname} (${l.ifalias})`);
  }
  for (const n of netns) {
    if (n.startsWith(prefix) && !sandboxes.some((s) => s.netns === n))
      problems.push(`orphan namespace ${n}`);
  }
  for (const net of await engine.listNetworks()) {
    for (const [addr, owner] of await engine.state.addresses(net.name)) {
      if (!held.has(`${net.name}/${addr}`))
        problems.push(`address ${net.name}/${addr} held by ${owner}, no sandbox has it`);
    }
  }
  const owners = new Set(sandboxes.map((s) => s.name));
  const ruleset = (await run('nft', ['list', 'ruleset'])).stdout;
  for (const m of ruleset.matchAll(/comment "sbx=([^"]+)"/g)) {
    if (!owners.has(m[1]!)) problems.push(`orphan nft element of ${m[1]}`);
  }
  return problems;
}

describe('engine: crashes and concurrent processes', function () {
  this.timeout(180_000);
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

  it('two processes creating 50 sandboxes each on one network get 100 distinct addresses', async () => {
    await engine.createNetwork({ name: 'cc', subnet: '10.60.0.0/24' });
    const runOne = (prefix: string): Promise<string[]> =>
      new Promise((resolve, reject) => {
        const p = spawn(process.execPath, [WORKER, 'create', stateDir, 'cc', prefix, '50'], {
          stdio: ['ignore', 'pipe', 'inherit'],
        });
        let out = '';
        p.stdout.on('data', (d: Buffer) => (out += d.toString()));
        p.on('exit', (code) => {
          if (code === 0) resolve(JSON.parse(out) as string[]);
          else reject(new Error(`worker exited ${code}`));
        });
      });
    const [a, b] = await Promise.all([runOne('ca'), runOne('cb')]);
    const all = [...a, ...b];
    assert.equal(all.length, 100);
    assert.equal(new Set(all).size, 100, 'no address handed out twice');
    assert.deepEqual(await consistency(engine, 'c'), []);
  });

  it('SIGKILL at random points (seeded) and prune: every sandbox fully there or fully gone', async () => {
    await engine.createNetwork({ name: 'kk', subnet: '10.61.0.0/24' });
    await engine.createNetwork({ name: 'kk2', subnet: '10.62.0.0/24' });
    let seed = 20261123;
    const next = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const kills = 25;
    const finished: number[] = [];
    for (let k = 0; k < kills; k++) {
      const p = spawn(
        process.execPath,
        [WORKER, 'churn', stateDir, 'kk', `k${k}x`, String(k + 1)],
        { stdio: ['ignore', 'ignore', 'inherit'] },
      );
      const exited = new Promise<NodeJS.Signals | null>((resolve) =>
        p.once('exit', (_code, signal) => {
          resolve(signal);
        }),
      );
      await sleep(150 + next(400));
      p.kill('SIGKILL');
      assert.equal(await exited, 'SIGKILL', 'the worker was still churning when killed');
      const report = await engine.prune();
      finished.push(report.sandboxes.length);
      const problems = await consistency(engine, 'k');
      assert.deepEqual(problems, [], `after kill ${k + 1}`);
    }
    // The kills did land mid-operation: prune had work to do.
    assert.ok(
      finished.some((n) => n > 0),
      `prune finished nothing in ${kills} kills: ${finished.join(',')}`,
    );
  });
});
