/**
 * Overlay convergence: N simulated hosts (namespaces on an underlay bridge,
 * one engine each, hostNetns) and a real etcd on loopback. Must run inside
 * the bench sandbox.
 *
 *   node dist/bench/overlay.js N REPS [vxlan|direct]
 *
 * cold:  all N engines create the overlay network at once; time until every
 *        createNetwork returned, and until every host's kernel holds a route
 *        to every other host's subnet (N*(N-1) routes), from the start.
 * join:  one more host creates it; time until all N+1 hosts route to each other.
 * leave: that host removes it (its lease is revoked); time until no host
 *        routes to its subnet any more.
 * Routes are read from each host's kernel (route dumps every 5 ms), not
 * from the engines. Prints one JSON line per repetition.
 */
import { Rtnl, NetNS, type Engine } from '../lib';
import {
  disposeEngine,
  makeHost,
  makeUnderlay,
  openHostEngine,
  overlaySpec,
  startEtcd,
  type SimHost,
} from '../test/overlay/cluster';

const N = Number(process.argv[2] ?? 3);
const REPS = Number(process.argv[3] ?? 3);
const BACKEND = (process.argv[4] ?? 'vxlan') as 'vxlan' | 'direct';

const ms = (t0: bigint): number => Number(process.hrtime.bigint() - t0) / 1e6;
const sleep = (t: number): Promise<void> => new Promise((r) => setTimeout(r, t));

interface Probe {
  rt: Rtnl;
  ns: NetNS;
}

/** Routes into the cluster CIDR with a next hop (one per remote host), per host. */
async function remoteRoutes(p: Probe): Promise<Set<string>> {
  const out = new Set<string>();
  for (const r of await p.rt.routes.list({ family: 4 }))
    if (r.dst.startsWith('10.244.') && r.gateway) out.add(r.dst);
  return out;
}

async function until(fn: () => Promise<boolean>, limitMs = 120_000): Promise<void> {
  const end = Date.now() + limitMs;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error('did not converge');
    await sleep(5);
  }
}

async function main(): Promise<void> {
  if (process.env.NETPLUMB_BENCH_SANDBOX !== '1') throw new Error('run inside bench/sandbox.sh');
  const cleanup: (() => Promise<unknown>)[] = [];
  const etcd = await startEtcd();
  cleanup.push(() => etcd.stop());
  try {
    cleanup.push(await makeUnderlay());
    const hosts: SimHost[] = [];
    const probes: Probe[] = [];
    for (let i = 1; i <= N + 1; i++) {
      const [h, remove] = await makeHost(i, 'b');
      hosts.push(h);
      cleanup.push(remove);
      const ns = await NetNS.open(h.ns);
      probes.push({ ns, rt: await Rtnl.open(ns) });
    }
    cleanup.push(async () => {
      for (const p of probes) {
        await p.rt.close();
        await p.ns.close();
      }
    });
    for (let rep = 1; rep <= REPS; rep++) {
      const spec = overlaySpec(etcd.endpoint, `/np-bench/r${rep}`, { backend: BACKEND });
      const engines: Engine[] = [];
      for (const h of hosts) engines.push(await openHostEngine(h));
      try {
        const t0 = process.hrtime.bigint();
        const nets = await Promise.all(engines.slice(0, N).map((e) => e.createNetwork(spec)));
        const created = ms(t0);
        await until(async () => {
          for (const p of probes.slice(0, N))
            if ((await remoteRoutes(p)).size < N - 1) return false;
          return true;
        });
        const converged = ms(t0);
        const subnets = new Set(nets.map((n) => n.overlay!.hostSubnet));
        if (subnets.size !== N) throw new Error('two hosts got one subnet');

        const t1 = process.hrtime.bigint();
        const joined = await engines[N]!.createNetwork(spec);
        await until(async () => {
          for (const p of probes) if ((await remoteRoutes(p)).size < N) return false;
          return true;
        });
        const join = ms(t1);

        const t2 = process.hrtime.bigint();
        await engines[N]!.removeNetwork('pods');
        const gone = joined.overlay!.hostSubnet;
        await until(async () => {
          for (const p of probes.slice(0, N)) if ((await remoteRoutes(p)).has(gone)) return false;
          return true;
        });
        const leave = ms(t2);
        console.log(
          JSON.stringify({
            bench: `overlay-${BACKEND}`,
            hosts: N,
            rep,
            create_all_ms: created,
            converge_ms: converged,
            join_ms: join,
            leave_ms: leave,
          }),
        );
      } finally {
        for (const e of engines) await disposeEngine(e);
      }
    }
  } finally {
    for (const step of cleanup.reverse())
      await step().catch((e: unknown) => {
        console.error(e);
      });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
