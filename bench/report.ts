/**
 * Turns the JSON lines of a bench run into the table the README shows:
 * medians (min-max) per peer and N, ms per sandbox, and how many times
 * faster netplumb is than each peer in the same run.
 *   node dist/bench/report.js RAW.jsonl OUT_PREFIX
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus, release } from 'node:os';

interface Row {
  peer: string;
  variant: string;
  n: number;
  rep: number;
  setup: { wall_s: number };
  teardown: { wall_s: number };
  ok: boolean;
  loop_delay_ms?: { p99: number; max: number };
  first_tenth_ms?: number;
  last_tenth_ms?: number;
  /** single creations, ms (bench/engine.ts) */
  each_ms?: { p50: number; p90: number; p99: number; max: number };
}

interface Micro {
  bench: string;
  [k: string]: unknown;
}

const [rawFile, outPrefix] = process.argv.slice(2);
const lines = readFileSync(rawFile!, 'utf8')
  .split('\n')
  .filter((l) => l.trim().startsWith('{'));
const rows: Row[] = [];
const micro: Micro[] = [];
for (const l of lines) {
  const o = JSON.parse(l) as Row | Micro;
  if ('bench' in o) micro.push(o);
  else if (o.ok && o.setup && typeof o.setup.wall_s === 'number') rows.push(o);
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

interface Agg {
  peer: string;
  variant: string;
  n: number;
  reps: number;
  setup: { min: number; median: number; max: number };
  teardown: { min: number; median: number; max: number };
  extra: Partial<Row>;
}

const groups = new Map<string, Row[]>();
for (const r of rows) {
  const k = `${r.variant}|${r.n}|${r.peer}`;
  groups.set(k, [...(groups.get(k) ?? []), r]);
}
const aggs: Agg[] = [];
for (const rs of groups.values()) {
  const per = (f: (r: Row) => number): { min: number; median: number; max: number } => {
    const xs = rs.map((r) => (f(r) * 1000) / Math.max(r.n, 1));
    return { min: Math.min(...xs), median: median(xs), max: Math.max(...xs) };
  };
  const last = rs[rs.length - 1]!;
  aggs.push({
    peer: last.peer,
    variant: last.variant,
    n: last.n,
    reps: rs.length,
    setup: per((r) => r.setup.wall_s),
    teardown: per((r) => r.teardown.wall_s),
    extra: {
      ...(last.loop_delay_ms
        ? {
            loop_delay_ms: {
              p99: median(rs.map((r) => r.loop_delay_ms!.p99)),
              max: Math.max(...rs.map((r) => r.loop_delay_ms!.max)),
            },
          }
        : {}),
      ...(last.first_tenth_ms !== undefined
        ? {
            first_tenth_ms: median(rs.map((r) => r.first_tenth_ms!)),
            last_tenth_ms: median(rs.map((r) => r.last_tenth_ms!)),
          }
        : {}),
      ...(last.each_ms
        ? {
            each_ms: {
              p50: median(rs.map((r) => r.each_ms!.p50)),
              p90: median(rs.map((r) => r.each_ms!.p90)),
              p99: median(rs.map((r) => r.each_ms!.p99)),
              max: Math.max(...rs.map((r) => r.each_ms!.max)),
            },
          }
        : {}),
    },
  });
}

const f2 = (x: number): string => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
const out: string[] = [];
const date = new Date().toISOString().slice(0, 16).replace('T', ' ');
out.push(
  `Measured ${date} UTC on ${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, Linux ${release()}, Node ${process.version}.`,
);
out.push(
  'ms per sandbox, median of the repetitions (min-max); ×: how many times longer the peer took than netplumb in the same run (× warm: than netplumb-warm, measured in a process that had made and removed sandboxes before: see bench/engine.ts --warmup).',
);
for (const variant of ['port', 'plain']) {
  const vs = aggs.filter((a) => a.variant === variant);
  if (vs.length === 0) continue;
  const ns = [...new Set(vs.map((a) => a.n))].sort((a, b) => a - b);
  const base = 'netplumb';
  const warmBase = 'netplumb-warm';
  const anyWarm = vs.some((a) => a.peer === warmBase);
  out.push('');
  out.push(
    variant === 'port'
      ? '### One published port per sandbox (engine.createSandbox; peers: veth + bridge + DNAT + masquerade)'
      : '### Plain plumbing (netns, veth, bridge port, address, route; netplumb: the low-level Rtnl API)',
  );
  out.push('');
  out.push(
    `| peer | N | setup ms | teardown ms | setup × | teardown × |${anyWarm ? ' setup × warm |' : ''}`,
  );
  out.push(`|---|---:|---:|---:|---:|---:|${anyWarm ? '---:|' : ''}`);
  for (const n of ns) {
    const ref = vs.find((a) => a.n === n && a.peer === base);
    const warm = vs.find((a) => a.n === n && a.peer === warmBase);
    for (const a of vs.filter((x) => x.n === n).sort((x, y) => x.setup.median - y.setup.median)) {
      const ratio = (x: number, r: number | undefined): string =>
        r ? `${(x / r).toFixed(1)}×` : '';
      const warmCell = anyWarm ? ` ${ratio(a.setup.median, warm?.setup.median)} |` : '';
      out.push(
        `| ${a.peer} | ${n} | ${f2(a.setup.median)} (${f2(a.setup.min)}-${f2(a.setup.max)}) | ${f2(a.teardown.median)} (${f2(a.teardown.min)}-${f2(a.teardown.max)}) | ${a.peer === base ? '1.0×' : ratio(a.setup.median, ref?.setup.median)} | ${a.peer === base ? '1.0×' : ratio(a.teardown.median, ref?.teardown.median)} |${warmCell}`,
      );
    }
  }
  const extras = vs.filter((a) => a.extra.loop_delay_ms || a.extra.first_tenth_ms !== undefined);
  if (extras.length > 0) {
    out.push('');
    out.push(
      'Medians of the repetitions; the maxima are the largest of any. One creation: the time of single createSandbox calls (with 8 in flight, each one waits for the others).',
    );
    out.push('');
    out.push(
      '| run | N | event-loop delay p99 / max ms | first tenth ms | last tenth ms | last ÷ first | one creation p50 / p90 / p99 / max ms |',
    );
    out.push('|---|---:|---:|---:|---:|---:|---:|');
    for (const a of extras.sort((x, y) => x.n - y.n || x.peer.localeCompare(y.peer))) {
      const lag = a.extra.loop_delay_ms;
      const first = a.extra.first_tenth_ms;
      const last = a.extra.last_tenth_ms;
      const each = a.extra.each_ms;
      out.push(
        `| ${a.peer} | ${a.n} | ${lag ? `${f2(lag.p99)} / ${f2(lag.max)}` : '–'} | ${first !== undefined ? f2(first) : '–'} | ${last !== undefined ? f2(last) : '–'} | ${first && last !== undefined ? (last / first).toFixed(2) : '–'} | ${each ? [each.p50, each.p90, each.p99, each.max].map(f2).join(' / ') : '–'} |`,
      );
    }
  }
}
if (micro.length > 0) {
  out.push('');
  out.push('### Micro benchmarks');
  out.push('');
  for (const m of micro) {
    const { bench, ...rest } = m;
    out.push(
      `- **${bench}**: ${Object.entries(rest)
        .map(
          ([k, v]) =>
            `${k} ${typeof v === 'number' ? f2(v) : typeof v === 'string' ? v : JSON.stringify(v)}`,
        )
        .join(', ')}`,
    );
  }
}
const text = `${out.join('\n')}\n`;
process.stdout.write(text);
writeFileSync(`${outPrefix!}.md`, text);
writeFileSync(
  `${outPrefix!}.json`,
  `${JSON.stringify({ date, aggregates: aggs, micro }, null, 2)}\n`,
);
