/**
 * Raw plumbing benchmark: N "containers" made with the low-level API the way
 * a user of the library would, matching ../shared/bench/peers' layout:
 *
 *   netns bnch-cI; veth bnchvI <-> eth0 (born in the netns); bnchvI a port of
 *   bridge bnch0 (10.88.0.1/16), up; eth0 10.88.0.(I+1)/16, up; default via
 *   10.88.0.1; lo up.
 *
 * Teardown deletes the namespaces and waits until the kernel has destroyed
 * every veth, then removes the bridge. Must run in a private namespace
 * (bench/run.sh). Prints one JSON line per repetition.
 *   node dist/bench/plumbing.js N [REPS]
 */
import { readdirSync } from 'node:fs';

import { NetNS, Rtnl } from '../lib';
import { waitIdle } from './idle';

const N = Number(process.argv[2] ?? 100);
const REPS = Number(process.argv[3] ?? 3);

function ip(i: number): string {
  const h = i + 1;
  return `10.88.${h >> 8}.${h & 255}`;
}

async function setup(host: Rtnl, hostNs: NetNS, bridge: number, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    // ip netns add bnch-cI, and the rest in the same round trip:
    const ns = await host.createNetns(`bnch-c${i}`, (inside, here) => {
      // ip -n bnch-cI link set lo up
      // ip -n bnch-cI link add eth0 index 2 type veth peer name bnchvI netns HOST
      inside.linkSet(1, { up: true }).linkAdd({
        kind: 'veth',
        name: 'eth0',
        index: 2,
        peer: { name: `bnchv${i}`, netns: hostNs },
      });
      // ip link set bnchvI master bnch0 up
      here.linkSet(`bnchv${i}`, { master: bridge, up: true });
      // ip -n bnch-cI: addr add; link set eth0 up; route add default
      inside
        .addrAdd(2, `${ip(i)}/16`)
        .linkSet(2, { up: true })
        .routeAdd({ dst: 'default', gateway: '10.88.0.1' });
    });
    await ns.close();
  }
}

async function teardown(n: number): Promise<void> {
  await Promise.all(
    Array.from({ length: n }, (_, i) => NetNS.open(`bnch-c${i}`).then((ns) => ns.delete())),
  );
  // Wait until the kernel has really destroyed the veths.
  for (;;) {
    if (!readdirSync('/sys/class/net').some((l) => l.startsWith('bnchv'))) return;
    await new Promise((r) => setTimeout(r, 1));
  }
}

async function main(): Promise<void> {
  const host = await Rtnl.open();
  const hostNs = await NetNS.host();
  for (let rep = 1; rep <= REPS; rep++) {
    const bridge = (await host.links.add({ kind: 'bridge', name: 'bnch0', up: true })).index;
    await host.addrs.add(bridge, '10.88.0.1/16');
    await waitIdle();
    const c0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    await setup(host, hostNs, bridge, N);
    const setupEnd = process.hrtime.bigint();
    const setupCpu = process.cpuUsage();
    await waitIdle();
    const c1 = process.cpuUsage();
    const t1 = process.hrtime.bigint();
    await teardown(N);
    const t2 = process.hrtime.bigint();
    const c2 = process.cpuUsage();
    await host.links.del('bnch0');
    const cpu = (a: NodeJS.CpuUsage, b: NodeJS.CpuUsage): number =>
      (b.user - a.user + b.system - a.system) / 1000;
    console.log(
      JSON.stringify({
        peer: 'netplumb',
        variant: 'plain',
        n: N,
        rep,
        setup: { wall_s: Number(setupEnd - t0) / 1e9, cpu_ms: cpu(c0, setupCpu) },
        teardown: { wall_s: Number(t2 - t1) / 1e9, cpu_ms: cpu(c1, c2) },
        ok: true,
      }),
    );
  }
  await host.close();
  await hostNs.close();
}

void main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
