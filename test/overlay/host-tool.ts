/**
 * One simulated host's engine in a process of its own, so a test can kill it:
 *   node host-tool.js HOSTNS STATEDIR NETNSDIR ETCDIR SPEC_JSON
 * opens the engine (resuming what its state directory holds), creates the
 * network unless it is there already, prints { hostSubnet, status, remotes }
 * and keeps renewing its lease until killed. SIGTERM removes the network and
 * exits; SIGKILL is a host dying.
 */
import { Engine, type NetworkSpec } from '../../lib';

const [hostNetns, stateDir, netnsDir, etcDir, specJson] = process.argv.slice(2);

async function main(): Promise<void> {
  const spec = JSON.parse(specJson!) as NetworkSpec;
  const engine = await Engine.open({
    hostNetns: hostNetns!,
    stateDir: stateDir!,
    netnsDir: netnsDir!,
    etcDir: etcDir!,
    dns: false,
  });
  const known = (await engine.listNetworks()).find((n) => n.name === spec.name);
  const net = known ?? (await engine.createNetwork(spec));
  const o = net.overlay!;
  console.log(
    JSON.stringify({
      hostSubnet: o.hostSubnet,
      status: o.status,
      remotes: o.remotes.length,
      error: o.error,
    }),
  );
  const keep = setInterval(() => undefined, 1 << 30);
  process.once('SIGTERM', () => {
    void (async () => {
      clearInterval(keep);
      for (const s of await engine.listSandboxes()) await engine.removeSandbox(s.name);
      await engine.removeNetwork(spec.name);
      await engine.close();
      process.exit(0);
    })();
  });
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
