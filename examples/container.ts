/**
 * Container mode, like `docker run --network container:NAME`: a second
 * sandbox joins the first one's namespace (same interfaces, same address,
 * same localhost). The namespace lives while either uses it. Publishing
 * ports from the joining sandbox is refused, as Docker refuses it.
 *
 *   npm run build && sudo node dist/examples/container.js
 */
import type { ChildProcess } from 'node:child_process';

import { Engine, ValidationError } from 'netplumb';

import { OPTIONS, httpGet, httpServer, sh, stop } from './shell';

async function main(): Promise<void> {
  const engine = await Engine.open(OPTIONS);
  let server: ChildProcess | undefined;
  try {
    // docker network create ex-pod; docker run --network ex-pod --name ex-main ...
    await engine.createNetwork({ name: 'ex-pod', subnet: '10.89.9.0/24' });
    const main = await engine.createSandbox({ name: 'ex-main', network: 'ex-pod' });
    // docker run --network container:ex-main --name ex-sidecar ...
    const side = await engine.createSandbox({ name: 'ex-sidecar', network: 'container:ex-main' });
    console.log(`ex-sidecar: mode ${side.mode}, shares the namespace of ${side.container}`);

    const links = async (ns: string): Promise<string> =>
      (await sh(['ip', '-4', '-br', 'addr'], ns)).trim().replace(/\s+/g, ' ');
    console.log(`ex-main sees:    ${await links(main.netns!)}`);
    console.log(`ex-sidecar sees: ${await links(side.netns!)}`);

    // A server in ex-main answers the sidecar on localhost.
    server = await httpServer(main.netns!, 9000, 'hello from ex-main');
    console.log(
      `from ex-sidecar: GET http://127.0.0.1:9000/ -> ${(await httpGet('http://127.0.0.1:9000/', side.netns!)).trim()}`,
    );

    // docker run --network container:ex-main -p 80 ... is refused
    try {
      await engine.createSandbox({ name: 'ex-bad', network: 'container:ex-main', publish: ['80'] });
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      console.log(`refused: ${err.message}`);
    }
  } finally {
    await stop(server);
    for (const s of ['ex-sidecar', 'ex-main']) await engine.removeSandbox(s).catch(() => undefined);
    await engine.removeNetwork('ex-pod').catch(() => undefined);
    await engine.close();
  }
  console.log('removed');
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
