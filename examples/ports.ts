/**
 * Port publishing, like `docker run -p 8080:80 -P --expose 9090`: a server
 * in a sandbox on the default bridge network, reached from the host through
 * the published ports: on 127.0.0.1 and on the host's own addresses. -P
 * picks a free port from the kernel's ephemeral range.
 *
 *   npm run build && sudo node dist/examples/ports.js
 */
import type { ChildProcess } from 'node:child_process';

import { Engine } from 'netplumb';

import { OPTIONS, httpServer, stop } from './shell';

async function get(url: string): Promise<string> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
  return (await res.text()).trim();
}

async function main(): Promise<void> {
  const engine = await Engine.open(OPTIONS);
  const hadDefault = (await engine.listNetworks()).some((n) => n.default);
  const servers: ChildProcess[] = [];
  try {
    // docker run -p 8080:80 -P --expose 9090 --name ex-ports ...
    const sbx = await engine.createSandbox({
      name: 'ex-ports',
      publish: ['8080:80'],
      publishAll: true,
      expose: [9090],
    });
    const ep = sbx.endpoints[0]!;
    for (const p of ep.ports)
      console.log(
        `published ${p.hostIp}:${p.hostPort} -> ${ep.ip}:${p.containerPort}/${p.protocol}`,
      );
    servers.push(await httpServer('ex-ports', 80, 'port 80 of ex-ports'));
    servers.push(await httpServer('ex-ports', 9090, 'port 9090 of ex-ports'));

    // From the host: localhost, and the host's address on the bridge.
    console.log(`GET http://127.0.0.1:8080/ -> ${await get('http://127.0.0.1:8080/')}`);
    console.log(`GET http://${ep.gateway}:8080/ -> ${await get(`http://${ep.gateway}:8080/`)}`);
    const random = ep.ports.find((p) => p.containerPort === 9090)!.hostPort;
    console.log(
      `GET http://127.0.0.1:${random}/ (-P) -> ${await get(`http://127.0.0.1:${random}/`)}`,
    );
  } finally {
    for (const s of servers) await stop(s);
    await engine.removeSandbox('ex-ports').catch(() => undefined);
    if (!hadDefault) await engine.removeNetwork('bridge').catch(() => undefined);
    await engine.close();
  }
  console.log('removed');
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
