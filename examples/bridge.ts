/**
 * Bridge mode on the default network, like `docker run` with no --network:
 * the sandbox gets its own namespace, a veth to the bridge np0, an address
 * from 172.17.0.0/16 (or the next free pool) and a default route through
 * the bridge; its traffic out is masqueraded.
 *
 *   npm run build && sudo node dist/examples/bridge.js
 */
import { createServer } from 'node:net';
import { once } from 'node:events';

import { Engine } from 'netplumb';

import { OPTIONS, sh } from './shell';

async function main(): Promise<void> {
  const engine = await Engine.open(OPTIONS);
  // The default network is made on first use and kept, as Docker keeps its
  // `bridge`; this example removes it again only if it made it.
  const hadDefault = (await engine.listNetworks()).some((n) => n.default);
  // A TCP server in the host namespace, to show the sandbox reaching the host.
  const server = createServer((c) => c.end('hello from the host\n'));
  try {
    // docker run --name ex-bridge ...
    const sbx = await engine.createSandbox({ name: 'ex-bridge' });
    const ep = sbx.endpoints[0]!;
    console.log(`sandbox ${sbx.name}: mode ${sbx.mode}, network ${ep.network}`);
    console.log(`address ${ep.ip}/${ep.prefixlen} on ${ep.ifname}, gateway ${ep.gateway}`);
    console.log(`host end of the veth: ${ep.hostIfname}`);

    // What the kernel has, seen by `ip` inside the sandbox.
    console.log(`routes inside:\n${(await sh(['ip', '-4', 'route'], sbx.netns)).trimEnd()}`);

    server.listen(0, ep.gateway);
    await once(server, 'listening');
    const port = (server.address() as { port: number }).port;
    const got = await sh(
      [
        process.execPath,
        '-e',
        `require('node:net').connect(${port}, '${ep.gateway}').pipe(process.stdout)`,
      ],
      sbx.netns,
    );
    console.log(`the sandbox reached ${ep.gateway}:${port}: ${got.trim()}`);
  } finally {
    server.close();
    // docker rm ex-bridge
    await engine.removeSandbox('ex-bridge').catch(() => undefined);
    if (!hadDefault) await engine.removeNetwork('bridge').catch(() => undefined);
    await engine.close();
  }
  console.log('removed');
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
