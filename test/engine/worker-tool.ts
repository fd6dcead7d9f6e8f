/**
 * A separate engine process for the crash and concurrency tests:
 *   node worker-tool.js create STATEDIR NETWORK PREFIX COUNT
 *       creates COUNT sandboxes, prints their addresses as JSON
 *   node worker-tool.js churn STATEDIR NETWORK PREFIX SEED
 *       creates, publishes, connects and removes sandboxes forever (until killed)
 */
import { Engine } from '../../lib';

const [mode, stateDir, network, prefix, arg] = process.argv.slice(2);

async function main(): Promise<void> {
  const engine = await Engine.open({ stateDir: stateDir!, dns: false });
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
  let seed = Number(arg) >>> 0 || 1;
  const rnd = (n: number): number => {
    seed ^= seed << 13;
    seed >>>= 0;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    seed >>>= 0;
    return seed % n;
  };
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
