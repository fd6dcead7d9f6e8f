/**
 * The engine as an orchestrator uses it: N sandboxes on a bridge network,
 * one published port each. Must run inside the bench sandbox.
 *
 *   node dist/bench/engine.js N REPS [--concurrency C] [--warmup W]
 *
 * setup: createSandbox N times (C at a time; 1 = sequential), wall time.
 * teardown: removeSandbox for all of them at once, until the kernel has
 * destroyed every veth. Also reports event-loop delay (p99, max) during
 * setup, and the cost of the first and last tenth of the sandboxes (does the
 * 1,000th cost what the 10th did?), and the spread of single creations (p50,
 * p90, p99, max: on 2 vCPUs about one in ten takes 2-9 ms, see README,
 * "Why some creations take several ms"). Prints JSON lines. Each phase starts
 * once the machine is idle, as the peers' harness does (see idle.ts).
 *
 * --warmup W: first make and remove W sandboxes (C at a time, 200 at most
 * alive), as a long-running orchestrator has: V8 compiles a function called
 * once per sandbox only after many calls (about 1,500 creations here), and
 * until then its compiler threads share the CPUs with the builder. The rows
 * are then peer "netplumb-warm" ("netplumb-cC-warm").
 */
import { readdirSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';

import { Engine } from '../lib';
import { waitIdle } from './idle';

const args = process.argv.slice(2);
const N = Number(args[0] ?? 100);
const REPS = Number(args[1] ?? 3);
const ci = args.indexOf('--concurrency');
const C = ci >= 0 ? Number(args[ci + 1]) : 1;
const wi = args.indexOf('--warmup');
const WARMUP = wi >= 0 ? Number(args[wi + 1]) : 0;

function hostEnds(): number {
  return readdirSync('/sys/class/net').filter((l) => l.startsWith('npv')).length;
}

/** Makes `names` (C at a time); each one's time in `each` when given. */
async function createAll(engine: Engine, names: string[], each?: number[]): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: C }, async () => {
      while (next < names.length) {
        const i = next++;
        const s = process.hrtime.bigint();
        await engine.createSandbox({
          name: names[i]!,
          network: 'bench',
          publish: [`${20000 + i}:80`],
        });
        if (each) each[i] = Number(process.hrtime.bigint() - s) / 1e6;
      }
    }),
  );
}

/** Removes `names` at once, until the kernel has destroyed every veth. */
async function removeAll(engine: Engine, names: string[]): Promise<void> {
  await Promise.all(names.map((n) => engine.removeSandbox(n)));
  while (hostEnds() > 0) await new Promise((r) => setTimeout(r, 1));
}

/** One creation's time, ms: median, 90th and 99th percentiles, max. */
function spread(xs: number[]): { p50: number; p90: number; p99: number; max: number } {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q: number): number => s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
  return { p50: at(0.5), p90: at(0.9), p99: at(0.99), max: s[s.length - 1]! };
}

async function main(): Promise<void> {
  // As a user-defined network is used: with its embedded DNS resolver.
  const engine = await Engine.open({ stateDir: '/run/np-bench' });
  await engine.createNetwork({ name: 'bench', subnet: '10.88.0.0/16' });
  // One sandbox made and removed first: warm caches (first-use costs are not per sandbox).
  await engine.createSandbox({ name: 'warm', network: 'bench', publish: ['19999:80'] });
  await engine.removeSandbox('warm');
  for (let made = 0; made < WARMUP; made += 200) {
    const names = Array.from({ length: Math.min(200, WARMUP - made) }, (_, i) => `w${made + i}`);
    await createAll(engine, names);
    await removeAll(engine, names);
  }
  for (let rep = 1; rep <= REPS; rep++) {
    await waitIdle();
    const names = Array.from({ length: N }, (_, i) => `b${rep}x${i}`);
    const each: number[] = new Array<number>(N);
    const lag = monitorEventLoopDelay({ resolution: 1 });
    lag.enable();
    const c0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    await createAll(engine, names, each);
    const setupEnd = process.hrtime.bigint();
    lag.disable();
    const c1 = process.cpuUsage();
    await waitIdle();
    const t1 = process.hrtime.bigint();
    await removeAll(engine, names);
    const t2 = process.hrtime.bigint();
    const tenth = Math.max(1, Math.floor(N / 10));
    const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
    console.log(
      JSON.stringify({
        peer: `${C === 1 ? 'netplumb' : `netplumb-c${C}`}${WARMUP > 0 ? '-warm' : ''}`,
        variant: 'port',
        n: N,
        rep,
        setup: {
          wall_s: Number(setupEnd - t0) / 1e9,
          cpu_ms: (c1.user - c0.user + c1.system - c0.system) / 1000,
        },
        teardown: { wall_s: Number(t2 - t1) / 1e9 },
        loop_delay_ms: { p99: lag.percentile(99) / 1e6, max: lag.max / 1e6 },
        first_tenth_ms: mean(each.slice(0, tenth)),
        last_tenth_ms: mean(each.slice(N - tenth)),
        each_ms: spread(each),
        ok: true,
      }),
    );
  }
  await engine.removeNetwork('bench');
  await engine.close();
}

void main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
