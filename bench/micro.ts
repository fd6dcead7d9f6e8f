/**
 * Micro benchmarks, each printing one JSON line ({ bench, ... }) that
 * bench/report.ts lists under the main table. Must run inside the bench
 * sandbox (bench/run.sh does):   node dist/bench/micro.js [NAME...]
 *
 *  lone       where the time of one createSandbox / removeSandbox goes
 *             (median per phase, from the engine's trace option)
 *  sequential the same for 200 createSandbox calls one after the other, as
 *             the main table's sequential run makes them
 *  scale      each phase of a creation among the first and the last 100 of
 *             1,000 made one after the other (does the 1,000th cost more?)
 *  publish    cost of adding the k-th published port: a map element
 *             (netplumb's way) versus a rule per port (iptables' way)
 *  elements   10,000 map elements in one batch versus one per transaction
 *  dns        queries per second and p99 latency of the embedded resolver,
 *             asked from inside a sandbox
 *  routes     100,000 routes listed by streaming versus `ip -j route show`,
 *             with the peak memory of each
 *  rss        RSS across create/remove cycles (BENCH_RSS_CYCLES, default 10000)
 *  handoff    round trip of one small request awaited from JS, beside two C
 *             threads handing work back and forth (bench/floor/handoff.c,
 *             NETPLUMB_BENCH_HANDOFF); each also pinned to one CPU
 *  cli        the netplumb command, one process per sandbox as a script (or
 *             a runtime that spawns netavark or a CNI plugin) would use it:
 *             `sandbox create` with one published port and `sandbox rm`,
 *             beside the start of a bare `node -e 0`
 */
import { execFile, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';

import { Engine, NetNS, Nft, Rtnl } from '../lib';
import type { Request } from '../lib/channel';
import type { ChainSpec, RuleSpec, SetElement, SetSpec } from '../lib/nft/types';

const run = promisify(execFile);
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? 0 : s[s.length >> 1]!;
};
const emit = (o: object): void => {
  console.log(JSON.stringify(o));
};
const gc = (): void => {
  (globalThis as { gc?: () => void }).gc?.();
};

/** An engine whose trace option collects each phase's times, by operation. */
async function tracedEngine(): Promise<{
  engine: Engine;
  phases: Record<'create' | 'remove', Map<string, number[]>>;
}> {
  const phases = { create: new Map<string, number[]>(), remove: new Map<string, number[]>() };
  const engine = await Engine.open({
    stateDir: '/run/np-micro',
    trace: (op, phase, ms) => {
      const m = phases[op];
      const times = m.get(phase);
      if (times) times.push(ms);
      else m.set(phase, [ms]);
    },
  });
  return { engine, phases };
}

/** Median of each phase. */
const medians = (m: Map<string, number[]>): Record<string, number> =>
  Object.fromEntries([...m].map(([k, v]) => [k, median(v)]));

async function lone(): Promise<void> {
  const { engine, phases } = await tracedEngine();
  await engine.createNetwork({ name: 'lone', subnet: '10.89.0.0/24' });
  const totals = { create: [] as number[], remove: [] as number[] };
  for (let i = 0; i < 30; i++) {
    const t0 = performance.now();
    await engine.createSandbox({ name: `l${i}`, network: 'lone', publish: [`${30000 + i}:80`] });
    const t1 = performance.now();
    await engine.removeSandbox(`l${i}`);
    const t2 = performance.now();
    if (i >= 5) {
      totals.create.push(t1 - t0);
      totals.remove.push(t2 - t1);
    } else {
      phases.create.clear();
      phases.remove.clear();
    }
  }
  await engine.removeNetwork('lone');
  await engine.close();
  for (const op of ['create', 'remove'] as const) {
    emit({
      bench: `lone ${op} (ms, median of 25)`,
      total: median(totals[op]),
      ...medians(phases[op]),
    });
  }
}

/**
 * `n` sandboxes with one published port each, made one after the other on a
 * network of their own after 20 that warm up (not counted), then removed:
 * each creation's time and each phase's times, in creation order.
 */
async function createInTurn(
  n: number,
): Promise<{ totals: number[]; phases: Map<string, number[]> }> {
  const { engine, phases } = await tracedEngine();
  await engine.createNetwork({ name: 'turns', subnet: '10.89.0.0/16' });
  const totals: number[] = [];
  for (let i = 0; i < n + 20; i++) {
    if (i === 20) phases.create.clear();
    const t0 = performance.now();
    await engine.createSandbox({ name: `s${i}`, network: 'turns', publish: [`${30000 + i}:80`] });
    if (i >= 20) totals.push(performance.now() - t0);
  }
  await Promise.all(Array.from({ length: n + 20 }, (_, i) => engine.removeSandbox(`s${i}`)));
  await engine.removeNetwork('turns');
  await engine.close();
  return { totals, phases: phases.create };
}

async function sequential(): Promise<void> {
  const N = 200;
  const { totals, phases } = await createInTurn(N);
  emit({
    bench: `sequential create (ms, median of ${N} made one after the other)`,
    total: median(totals),
    ...medians(phases),
  });
}

/**
 * Does the 1,000th sandbox (and its published port, `job.nft`) cost what the
 * 10th did? 1,000 made one after the other on one network, each phase timed
 * by the trace option: the median of the first hundred against that of the
 * last hundred (medians: about one creation in ten waits milliseconds for a
 * CPU, see bench/engine.ts). Phases of the engine's own work should stay
 * flat; the kernel's bridge step grows with the bridge's ports.
 */
async function scale(): Promise<void> {
  const N = 1000;
  const { totals, phases } = await createInTurn(N);
  const out: Record<string, string> = {};
  for (const [phase, times] of [...phases, ['total', totals] as const]) {
    const first = median(times.slice(0, 100));
    const last = median(times.slice(-100));
    out[phase] = `${first.toFixed(3)} → ${last.toFixed(3)} (${(last / first).toFixed(2)}×)`;
  }
  emit({
    bench: `scale: a sandbox among the first and the last 100 of ${N} (ms, medians, first → last)`,
    ...out,
  });
}

/**
 * The k-th published port, by the number already published. Each method has
 * a table of its own, as the engine's map has (its table holds no rule per
 * port): the map bound by one DNAT rule that looks it up, as the engine's
 * `publish` chain does; the rules one per port. Each size is timed over 100
 * additions (one transaction each), after 50 additions and deletions of a
 * spare element that warm the path up, so that the first size does not pay
 * for the first calls.
 */
async function publish(): Promise<void> {
  const nft = await Nft.open();
  const mapTable = { family: 'inet' as const, name: 'micro_map' };
  const ruleTable = { family: 'inet' as const, name: 'micro_rules' };
  const map: SetSpec = {
    family: 'inet',
    table: mapTable.name,
    name: 'ports',
    key: ['inet_proto', 'inet_service'],
    map: ['ipv4_addr', 'inet_service'],
  };
  // A prerouting NAT chain "pre" in `table`, and a rule in it.
  const chain = (table: string): ChainSpec => ({
    family: 'inet',
    table,
    name: 'pre',
    type: 'nat',
    hook: 'prerouting',
    priority: -100,
  });
  const ruleIn = (table: string, expr: RuleSpec['expr']): RuleSpec => ({
    family: 'inet',
    table,
    chain: 'pre',
    expr,
  });
  const perPort = (port: number): RuleSpec =>
    ruleIn(ruleTable.name, [
      { match: 'tcp dport', value: port },
      { nat: 'dnat', family: 'ip', addr: '10.89.0.2', port: 80 },
    ]);
  const element = (port: number): SetElement => ({
    key: ['tcp', port],
    value: ['10.89.0.2', 80],
  });
  await nft
    .transaction()
    .addTable(mapTable)
    .addSet(map)
    .addChain(chain(mapTable.name))
    .addRule(
      ruleIn(mapTable.name, [
        { match: 'meta nfproto', value: 'ipv4' },
        { match: 'meta l4proto', value: 'tcp' },
        { nat: 'dnat', family: 'ip', map: { key: ['meta l4proto', 'th dport'], set: map.name } },
      ]),
    )
    .addTable(ruleTable)
    .addChain(chain(ruleTable.name))
    .commit();
  const SPARE = 9999;
  for (let i = 0; i < 50; i++) {
    await nft
      .transaction()
      .addElements(map, [element(SPARE)])
      .commit();
    await nft
      .transaction()
      .deleteElements(map, [element(SPARE)])
      .commit();
  }
  const at = [1, 10, 100, 1000, 5000];
  const SAMPLES = 100;
  const mapCost: Record<string, number> = {};
  const ruleCost: Record<string, number> = {};
  let n = 0;
  for (const k of at) {
    // Fill up to k-1, then time SAMPLES additions from that size on.
    while (n < k - 1) {
      const tx = nft.transaction();
      const upto = Math.min(k - 1, n + 500);
      for (; n < upto; n++) {
        tx.addElements(map, [element(10000 + n)]);
        tx.addRule(perPort(10000 + n));
      }
      await tx.commit();
    }
    const tm: number[] = [];
    const tr: number[] = [];
    for (let j = 0; j < SAMPLES; j++, n++) {
      let t = performance.now();
      await nft
        .transaction()
        .addElements(map, [element(10000 + n)])
        .commit();
      tm.push(performance.now() - t);
      t = performance.now();
      await nft
        .transaction()
        .addRule(perPort(10000 + n))
        .commit();
      tr.push(performance.now() - t);
    }
    mapCost[`at ${k}`] = median(tm);
    ruleCost[`at ${k}`] = median(tr);
  }
  await nft.transaction().deleteTable(mapTable).deleteTable(ruleTable).commit();
  await nft.close();
  emit({ bench: 'publish one port: map element (ms, by entries already there)', ...mapCost });
  emit({ bench: 'publish one port: rule per port, iptables-style (ms)', ...ruleCost });
}

async function elements(): Promise<void> {
  const nft = await Nft.open();
  const map: SetSpec = {
    family: 'inet',
    table: 'micro2',
    name: 'published',
    key: ['ipv4_addr', 'inet_service'],
    map: ['ipv4_addr', 'inet_service'],
  };
  await nft.transaction().addTable({ family: 'inet', name: 'micro2' }).addSet(map).commit();
  const el = (i: number): { key: [string, number]; value: [string, number] } => ({
    key: [`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, 8080],
    value: ['172.17.0.2', 80],
  });
  let t = performance.now();
  const tx = nft.transaction();
  for (let i = 0; i < 10000; i++) tx.addElements(map, [el(i)]);
  await tx.commit();
  const batch = ((performance.now() - t) * 1000) / 10000;
  t = performance.now();
  for (let i = 10000; i < 11000; i++)
    await nft
      .transaction()
      .addElements(map, [el(i)])
      .commit();
  const single = ((performance.now() - t) * 1000) / 1000;
  await nft.transaction().deleteTable({ family: 'inet', name: 'micro2' }).commit();
  await nft.close();
  emit({
    bench: 'nft map elements (µs per element)',
    'one batch of 10,000': batch,
    'one per transaction': single,
  });
}

async function dns(): Promise<void> {
  const engine = await Engine.open({ stateDir: '/run/np-micro-dns' });
  await engine.createNetwork({ name: 'dnsb', subnet: '10.90.0.0/24' });
  const expect: string[] = [];
  for (let i = 0; i < 50; i++) {
    const s = await engine.createSandbox({
      name: `d${i}`,
      network: 'dnsb',
      aliases: [`svc${i}`],
    });
    expect.push(`svc${i}=${s.endpoints[0]!.ip}`);
  }
  const gw = (await engine.inspectNetwork('dnsb')).gateway;
  const tool = `${__dirname}/../test/dns/query-tool.js`;
  const out = await new Promise<string>((resolve, reject) => {
    const p = spawn(
      'ip',
      ['netns', 'exec', 'd0', process.execPath, tool, gw, '--load', '20000', '16', ...expect],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let text = '';
    p.stdout.on('data', (d: Buffer) => (text += d.toString()));
    p.on('error', reject);
    p.on('exit', () => {
      resolve(text);
    });
  });
  const r = JSON.parse(out) as { ok: number; wrong: number; lost: number; ms: number; p99: number };
  for (let i = 0; i < 50; i++) await engine.removeSandbox(`d${i}`);
  await engine.removeNetwork('dnsb');
  await engine.close();
  emit({
    bench: 'embedded DNS, 20,000 A queries from a sandbox, 16 in flight',
    qps: Math.round((r.ok * 1000) / r.ms),
    'p99 ms': r.p99,
    wrong: r.wrong,
    lost: r.lost,
  });
}

async function routes(): Promise<void> {
  const COUNT = 100_000;
  const ns = await NetNS.create('np-routes');
  const rt = await Rtnl.open(ns);
  try {
    await rt.links.add({ kind: 'bridge', name: 'rtbr', up: true });
    await rt.addrs.add('rtbr', '10.0.0.1/8');
    for (let i = 0; i < COUNT; i += 2000) {
      const reqs: Request[] = [];
      for (let j = i; j < Math.min(COUNT, i + 2000); j++) {
        reqs.push(
          await rt.routes.request(
            { dst: `20.${(j >> 16) & 255}.${(j >> 8) & 255}.${j & 255}/32`, gateway: '10.0.0.2' },
            'add',
          ),
        );
      }
      await rt.channel.send(reqs);
    }
    gc();
    const rss0 = process.memoryUsage().rss;
    let peak = rss0;
    const sample = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().rss);
    }, 5);
    let t = performance.now();
    let seen = 0;
    for await (const r of rt.routes.stream()) if (r.dst !== undefined) seen++;
    const streamMs = performance.now() - t;
    clearInterval(sample);
    peak = Math.max(peak, process.memoryUsage().rss);
    t = performance.now();
    const { stdout } = await run('ip', ['-n', 'np-routes', '-j', 'route', 'show'], {
      maxBuffer: 1 << 30,
    });
    const parsed = (JSON.parse(stdout) as unknown[]).length;
    const ipMs = performance.now() - t;
    const { stderr } = await run(
      '/usr/bin/time',
      ['-f', '%M', 'ip', '-n', 'np-routes', '-j', 'route', 'show'],
      {
        maxBuffer: 1 << 30,
      },
    ).catch(() => ({ stderr: '' }));
    emit({
      bench: `list ${COUNT.toLocaleString('en')} routes`,
      'netplumb stream ms': streamMs,
      'ip -j + JSON.parse ms': ipMs,
      'ip ÷ netplumb': ipMs / streamMs,
      'netplumb RSS growth MB': (peak - rss0) / 1048576,
      'ip max RSS MB': Number(stderr.trim().split('\n').pop()) / 1024 || null,
      counted: seen,
      'ip counted': parsed,
    });
  } finally {
    await rt.close();
    await ns.delete();
    await ns.close();
  }
}

async function rss(): Promise<void> {
  const cycles = Number(process.env.BENCH_RSS_CYCLES ?? 10000);
  const engine = await Engine.open({ stateDir: '/run/np-micro-rss' });
  await engine.createNetwork({ name: 'rss', subnet: '10.91.0.0/16' });
  const marks: Record<string, number> = {};
  const C = 8;
  let done = 0;
  const t0 = performance.now();
  const checkpoints = new Set([0, 1000, Math.floor(cycles / 2), cycles]);
  const record = (): void => {
    gc();
    marks[`after ${done}`] = process.memoryUsage().rss / 1048576;
  };
  record();
  while (done < cycles) {
    const batch = Math.min(C, cycles - done);
    await Promise.all(
      Array.from({ length: batch }, async (_, i) => {
        const name = `r${i}`;
        await engine.createSandbox({ name, network: 'rss', publish: [`${31000 + i}:80`] });
        await engine.removeSandbox(name);
      }),
    );
    const before = done;
    done += batch;
    for (const c of checkpoints) if (c > before && c <= done) record();
  }
  const seconds = (performance.now() - t0) / 1000;
  await engine.removeNetwork('rss');
  await engine.close();
  emit({ bench: `RSS MB across ${cycles} create/remove cycles`, ...marks, seconds });
}

/** Mean round trip (µs) of `ip link set lo up` through rt.batch(), one awaited at a time. */
async function requestRtt(n = 3000): Promise<number> {
  const rt = await Rtnl.open();
  for (let i = 0; i < 300; i++) await rt.batch().linkSet(1, { up: true }).send();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await rt.batch().linkSet(1, { up: true }).send();
  const us = ((performance.now() - t0) * 1000) / n;
  await rt.close();
  return us;
}

/**
 * Every awaited call hands the work to a native thread and the answer back
 * (never a blocking call on the event loop): two thread wakeups. What that
 * costs here is what the C pair measures; pinned to one CPU, a wakeup is a
 * local context switch instead of waking the other, idle CPU.
 */
async function handoff(): Promise<void> {
  const cpu =
    /Cpus_allowed_list:\s*(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? '0';
  /** Runs `file` (pinned to one CPU, or not) and returns the figure its output ends with. */
  const measure = async (pin: boolean, file: string, args: string[] = []): Promise<number> => {
    const { stdout } = pin
      ? await run('taskset', ['-c', cpu, file, ...args])
      : await run(file, args);
    const v = Number(/(\d+(?:\.\d+)?)\s*$/.exec(stdout.trim())?.[1]);
    if (!Number.isFinite(v)) throw new Error(`${file}: no figure in ${JSON.stringify(stdout)}`);
    return v;
  };
  const out: Record<string, number | string> = {
    request: await requestRtt(),
    'request, one CPU': await measure(true, process.execPath, [__filename, '--request-rtt']),
  };
  const bin = process.env.NETPLUMB_BENCH_HANDOFF;
  if (bin) {
    out['C threads'] = await measure(false, bin);
    out['C threads, one CPU'] = await measure(true, bin);
  } else {
    out['C threads'] = 'not built (NETPLUMB_BENCH_HANDOFF unset)';
  }
  emit({ bench: 'handoff round trip (µs): one request awaited from JS; two C threads', ...out });
}

/**
 * The CLI, one process per command: `sandbox create NAME --net NET -p P:80`
 * and `sandbox rm NAME` for 20 sandboxes in turn, each timed from spawn to
 * exit, on a user-defined network (so each command also has the resolver
 * daemon reload, as in use). `node -e 0` is the runtime's own start.
 */
async function cli(): Promise<void> {
  const main = path.join(__dirname, '../lib/cli/main.js');
  const stateDir = '/run/np-micro-cli';
  const netplumb = (...args: string[]): Promise<{ stdout: string }> =>
    run(process.execPath, [main, '--state-dir', stateDir, ...args]);
  const timed = async (cmd: () => Promise<unknown>): Promise<number> => {
    const t0 = performance.now();
    await cmd();
    return performance.now() - t0;
  };
  const n = 20;
  await netplumb('network', 'create', 'clinet', '--subnet', '10.92.0.0/24');
  try {
    // The first command also starts the daemon: not counted.
    await netplumb('sandbox', 'create', 'cwarm', '--net', 'clinet');
    await netplumb('sandbox', 'rm', 'cwarm');
    const create: number[] = [];
    const remove: number[] = [];
    const bare: number[] = [];
    for (let i = 0; i < n; i++) {
      create.push(
        await timed(() =>
          netplumb('sandbox', 'create', `c${i}`, '--net', 'clinet', '-p', `${32000 + i}:80`),
        ),
      );
    }
    for (let i = 0; i < n; i++) remove.push(await timed(() => netplumb('sandbox', 'rm', `c${i}`)));
    for (let i = 0; i < n; i++) bare.push(await timed(() => run(process.execPath, ['-e', '0'])));
    emit({
      bench: `cli: one process per command (ms, median of ${n})`,
      'sandbox create -p': median(create),
      'sandbox rm': median(remove),
      'node -e 0': median(bare),
    });
  } finally {
    // What a failure above left too: the daemon outlives this process while
    // a network needs it.
    const left = JSON.parse((await netplumb('sandbox', 'ls', '--json')).stdout) as {
      name: string;
    }[];
    for (const { name } of left) await netplumb('sandbox', 'rm', name);
    await netplumb('network', 'rm', 'clinet');
    // Stops the resolver daemon, which has nothing left to serve.
    await netplumb('prune');
  }
}

const all: Record<string, () => Promise<void>> = {
  lone,
  sequential,
  scale,
  publish,
  elements,
  dns,
  routes,
  rss,
  handoff,
  cli,
};

async function main(): Promise<void> {
  if (process.argv[2] === '--request-rtt') {
    console.log(await requestRtt());
    return;
  }
  const names = process.argv.slice(2);
  for (const name of names.length > 0 ? names : Object.keys(all)) {
    const fn = all[name];
    if (!fn) throw new Error(`unknown micro benchmark ${name}`);
    await fn();
  }
}

void main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
