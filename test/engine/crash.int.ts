/**
 * Crashes and concurrent processes. A torture run SIGKILLs engine processes
 * (library workers and CLI commands) at seeded random points, prunes through
 * the API and the CLI in turn, and checks after every kill that the kernel
 * and the state agree; then several processes work the same networks at
 * once. NETPLUMB_TORTURE_KILLS and NETPLUMB_TORTURE_SEED change the run
 * (defaults: 200 kills, seed 20261123); the counts are printed.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';

import type { Engine, PruneReport } from '../../lib';
import { Cleanup, ROOT, requireSandbox, run, sleep } from '../helpers';
import { consistency, daemons, openEngine, stopDaemons } from './helpers';

const WORKER = path.join(ROOT, 'dist', 'test', 'engine', 'worker-tool.js');
const CLI = path.join(ROOT, 'dist', 'lib', 'cli', 'main.js');

/** At most one daemon, and the one its pid file names. */
async function daemonProblems(stateDir: string): Promise<string[]> {
  const pids = await daemons(stateDir);
  if (pids.length === 0) return [];
  const recorded = Number(
    (await readFile(path.join(stateDir, 'dns.pid'), 'utf8').catch(() => '')).trim(),
  );
  if (pids.length > 1) return [`${pids.length} resolver daemons: ${pids.join(', ')}`];
  return pids[0] === recorded ? [] : [`resolver daemon ${pids[0]} not the recorded ${recorded}`];
}

function exitOf(p: ChildProcess): Promise<NodeJS.Signals | number | null> {
  return new Promise((resolve) =>
    p.once('exit', (code, signal) => {
      resolve(signal ?? code);
    }),
  );
}

describe('engine: crashes and concurrent processes', function () {
  this.timeout(600_000);
  before(requireSandbox);
  const cleanup = new Cleanup();
  let engine: Engine;
  let stateDir: string;
  beforeEach(async () => {
    // The CLI's daemon serves DNS for these networks, as it would in use.
    const e = await openEngine({ dns: false });
    engine = e.engine;
    stateDir = e.stateDir;
    cleanup.add('dispose engine', e.dispose);
    cleanup.add('stop resolver daemons', () => stopDaemons(stateDir));
  });
  afterEach(() => cleanup.run());

  it('torture: SIGKILL at seeded random points, prune by API and CLI; every sandbox whole or gone, nothing orphaned', async () => {
    await engine.createNetwork({ name: 'kk', subnet: '10.61.0.0/24' });
    await engine.createNetwork({ name: 'kk2', subnet: '10.62.0.0/24' });
    const kills = Number(process.env.NETPLUMB_TORTURE_KILLS ?? 200);
    let seed = Number(process.env.NETPLUMB_TORTURE_SEED ?? 20261123);
    const next = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const totals = {
      kills: 0,
      cliKills: 0,
      cliPrunes: 0,
      apiPrunes: 0,
      prunesWithWork: 0,
      sandboxes: 0,
      links: 0,
      addresses: 0,
      ports: 0,
      rules: 0,
      netns: 0,
      daemons: 0,
    };
    for (let k = 0; k < kills; k++) {
      // One kill in five hits a CLI command (it also starts the resolver
      // daemon); the others a library worker churning through operations.
      const cli = k % 5 === 4;
      const p = cli
        ? spawn(
            process.execPath,
            [
              CLI,
              '--state-dir',
              stateDir,
              'sandbox',
              'create',
              `k${k}c`,
              '--network',
              'kk',
              '-p',
              `${25000 + k}:80`,
              '--alias',
              `a${k}`,
            ],
            { stdio: ['ignore', 'ignore', 'ignore'] },
          )
        : spawn(process.execPath, [WORKER, 'churn', stateDir, 'kk', `k${k}x`, String(k + 1)], {
            stdio: ['ignore', 'pipe', 'inherit'],
          });
      const exited = exitOf(p);
      if (cli) {
        await sleep(100 + next(500));
      } else {
        // Kill once it works (not while node starts): within its first operations.
        await new Promise((resolve) => p.stdout!.once('data', resolve));
        await sleep(next(300));
      }
      p.kill('SIGKILL');
      const how = await exited;
      totals.kills++;
      if (cli) totals.cliKills++;
      else assert.equal(how, 'SIGKILL', `kill ${k + 1}: the worker was still churning`);

      let report: PruneReport;
      if (k % 2 === 0) {
        report = await engine.prune();
        totals.apiPrunes++;
      } else {
        const { stdout } = await run(process.execPath, [
          CLI,
          '--state-dir',
          stateDir,
          'prune',
          '--json',
        ]);
        report = JSON.parse(stdout) as PruneReport;
        totals.cliPrunes++;
      }
      const work =
        report.sandboxes.length +
        report.links.length +
        report.addresses +
        report.ports +
        report.rules +
        report.netns.length +
        report.daemons;
      if (work > 0) totals.prunesWithWork++;
      totals.sandboxes += report.sandboxes.length;
      totals.links += report.links.length;
      totals.addresses += report.addresses;
      totals.ports += report.ports;
      totals.rules += report.rules;
      totals.netns += report.netns.length;
      totals.daemons += report.daemons;
      const problems = [...(await consistency(engine, 'k')), ...(await daemonProblems(stateDir))];
      assert.deepEqual(problems, [], `after kill ${k + 1} (seed and kill number reproduce it)`);
      // Keep the /24 from filling up: what survived is removed every 20 kills.
      if (k % 20 === 19)
        for (const s of await engine.listSandboxes()) await engine.removeSandbox(s.name);
    }
    console.log(`      torture counts: ${JSON.stringify(totals)}`);
    // The kills did land mid-operation: prune had work to do.
    assert.ok(totals.prunesWithWork > kills / 10, JSON.stringify(totals));
    // Everything removed, pruned by the CLI: no resolver daemon is left.
    for (const s of await engine.listSandboxes()) await engine.removeSandbox(s.name);
    await engine.removeNetwork('kk');
    await engine.removeNetwork('kk2');
    await run(process.execPath, [CLI, '--state-dir', stateDir, 'prune']);
    for (let i = 0; i < 50 && (await daemons(stateDir)).length > 0; i++) await sleep(100);
    assert.deepEqual(await daemons(stateDir), [], 'no resolver daemon outlives its networks');
    assert.deepEqual(await consistency(engine, 'k'), []);
  });

  it('four processes creating, connecting, publishing from one port pool and removing at once: no address or port twice, no update lost', async () => {
    await engine.createNetwork({ name: 'cc', subnet: '10.60.0.0/24' });
    await engine.createNetwork({ name: 'cc2', subnet: '10.63.0.0/24' });
    interface Held {
      name: string;
      ips: string[];
      ports: number[];
    }
    const runOne = (prefix: string, seed: number): Promise<{ held: Held[]; refused: number }> =>
      new Promise((resolve, reject) => {
        const p = spawn(process.execPath, [WORKER, 'mixed', stateDir, 'cc', prefix, String(seed)], {
          stdio: ['ignore', 'pipe', 'inherit'],
        });
        let out = '';
        p.stdout.on('data', (d: Buffer) => (out += d.toString()));
        p.on('exit', (code) => {
          if (code === 0) resolve(JSON.parse(out) as { held: Held[]; refused: number });
          else reject(new Error(`worker ${prefix} exited ${code}`));
        });
      });
    const results = await Promise.all(['ca', 'cb', 'cc', 'cd'].map((p, i) => runOne(p, i + 7)));
    const held = results.flatMap((r) => r.held);
    const ips = held.flatMap((h) => h.ips);
    const ports = held.flatMap((h) => h.ports);
    assert.equal(new Set(ips).size, ips.length, 'no address handed out twice');
    assert.equal(new Set(ports).size, ports.length, 'no host port published twice');
    assert.ok(
      results.some((r) => r.refused > 0),
      'the shared port pool produced conflicts to refuse',
    );
    // No lost update: the records are exactly what the workers say they hold.
    const records = await engine.listSandboxes();
    assert.deepEqual(records.map((s) => s.name).sort(), held.map((h) => h.name).sort());
    for (const s of records) {
      const h = held.find((x) => x.name === s.name)!;
      assert.deepEqual(
        s.endpoints.map((e) => `${e.network}/${e.ip}`).sort(),
        [...h.ips].sort(),
        s.name,
      );
    }
    const elements = [...(await run('nft', ['list', 'ruleset'])).stdout.matchAll(/sbx=c/g)].length;
    assert.equal(elements, ports.length, 'one DNAT element per publication');
    assert.deepEqual(await consistency(engine, 'c'), []);
  });
});
