/**
 * A separate engine process for the crash and concurrency tests:
 *   node worker-tool.js create STATEDIR NETWORK PREFIX COUNT
 *       creates COUNT sandboxes, prints their addresses as JSON
 *   node worker-tool.js churn STATEDIR NETWORK PREFIX SEED
 *       prints "ready" once the engine is open, then creates, publishes,
 *       connects and removes sandboxes forever (until killed)
 *   node worker-tool.js mixed STATEDIR NETWORK PREFIX SEED
 *       30 rounds of create (publishing a port from a pool shared with the
 *       other workers), connect, remove; prints what it holds at the end as
 *       JSON: [{ name, ips, ports }], and how many publications were refused
 *   node worker-tool.js remove-hang STATEDIR NAME
 *       removes sandbox NAME, but stops for good at its firewall step
 *       (after the record is marked 'removing') and prints "marked" there:
 *       a removal to SIGKILL midway
 */
import { ConflictError, Engine } from '../../lib';

const [mode, stateDir, network, prefix, arg] = process.argv.slice(2);

async function main(): Promise<void> {
  const engine = await Engine.open({ stateDir: stateDir!, dns: false });
  if (mode === 'remove-hang') {
    const name = network!;
    engine.firewall!.unpublish = () => {
      process.stdout.write('marked\n');
      // Never settles; the timer keeps the process alive until it is killed.
      setInterval(() => undefined, 60_000);
      return new Promise<void>(() => undefined);
    };
    await engine.removeSandbox(name);
    return;
  }
  if (mode === 'create') {
    const out: string[] = [];
    for (let i = 0; i < Number(arg); i++)
      out.push(
        (await engine.createSandbox({ name: `${prefix}${i}`, network: network! })).endpoints[0]!.ip,
      );
    console.log(JSON.stringify(out));
    await engine.close();
    return;
  }
  if (mode === 'churn') process.stdout.write('ready\n');
  let seed = Number(arg) >>> 0 || 1;
  const rnd = (n: number): number => {
    seed ^= seed << 13;
    seed >>>= 0;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    seed >>>= 0;
    return seed % n;
  };
  if (mode === 'mixed') {
    const held = new Map<string, { ips: string[]; ports: number[] }>();
    let refused = 0;
    for (let i = 0; i < 30; i++) {
      const name = `${prefix}${i}`;
      const port = 18000 + rnd(40);
      try {
        const s = await engine.createSandbox({ name, network: network!, publish: [`${port}:80`] });
        held.set(name, {
          ips: s.endpoints.map((e) => `${e.network}/${e.ip}`),
          ports: s.endpoints.flatMap((e) => e.ports.map((p) => p.hostPort)),
        });
      } catch (err) {
        if (!(err instanceof ConflictError && err.field === 'publish')) throw err;
        refused++;
        const s = await engine.createSandbox({ name, network: network! });
        held.set(name, { ips: s.endpoints.map((e) => `${e.network}/${e.ip}`), ports: [] });
      }
      if (rnd(3) === 0) {
        const ep = await engine.connect(name, `${network!}2`);
        held.get(name)!.ips.push(`${ep.network}/${ep.ip}`);
      }
      if (rnd(2) === 0) {
        const victim = [...held.keys()][rnd(held.size)]!;
        await engine.removeSandbox(victim);
        held.delete(victim);
      }
    }
    console.log(JSON.stringify({ held: [...held].map(([name, h]) => ({ name, ...h })), refused }));
    await engine.close();
    return;
  }
  const live: string[] = [];
  // Each churning process publishes in its own port range.
  const base = 20000 + (Number(arg) % 40) * 200;
  for (let i = 0; ; i++) {
    const op = rnd(4);
    if (op < 2 || live.length === 0) {
      const name = `${prefix}${i}`;
      await engine.createSandbox({
        name,
        network: network!,
        ...(rnd(2) === 0
          ? { publish: [`${base + (i % 100)}:80`, `${base + 100 + (i % 100)}:53/udp`] }
          : {}),
      });
      live.push(name);
    } else if (op === 2 && live.length > 0) {
      const name = live.splice(rnd(live.length), 1)[0]!;
      await engine.removeSandbox(name);
    } else {
      const name = live[rnd(live.length)]!;
      const s = await engine.inspectSandbox(name);
      if (s.endpoints.length === 1) await engine.connect(name, `${network!}2`);
      else await engine.disconnect(name, `${network!}2`);
    }
  }
}

void main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
