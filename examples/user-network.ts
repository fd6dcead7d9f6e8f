/**
 * A user-defined network, like `docker network create`: sandboxes on it find
 * each other by name and alias through the embedded DNS resolver (what
 * Docker's `--link` used to do), other networks stay out of reach until a
 * sandbox is connected to them, and disconnect takes that back.
 *
 *   npm run build && sudo node dist/examples/user-network.js
 */
import type { ChildProcess } from 'node:child_process';

import { Engine } from 'netplumb';

import { OPTIONS, httpGet, httpServer, sh, stop } from './shell';

/** `getent hosts NAME` inside `netns`: the address, or 'not found'. */
async function lookup(netns: string, name: string): Promise<string> {
  try {
    return (await sh(['getent', 'hosts', name], netns)).trim().split(/\s+/)[0]!;
  } catch {
    return 'not found';
  }
}

async function main(): Promise<void> {
  const engine = await Engine.open(OPTIONS);
  let server: ChildProcess | undefined;
  try {
    // docker network create --subnet 10.89.7.0/24 ex-app
    const app = await engine.createNetwork({ name: 'ex-app', subnet: '10.89.7.0/24' });
    console.log(`network ${app.name}: bridge ${app.bridge}, ${app.subnet}, gateway ${app.gateway}`);
    // docker run --network ex-app --network-alias frontend --name ex-web ...
    const web = await engine.createSandbox({
      name: 'ex-web',
      network: 'ex-app',
      aliases: ['frontend'],
    });
    // docker run --network ex-app --name ex-db ...
    const db = await engine.createSandbox({ name: 'ex-db', network: 'ex-app' });
    console.log(`ex-web ${web.endpoints[0]!.ip}, ex-db ${db.endpoints[0]!.ip}`);

    // Names and aliases resolve inside the network (the resolver listens on the gateway).
    console.log(`from ex-db: ex-web is ${await lookup('ex-db', 'ex-web')}`);
    console.log(`from ex-db: frontend is ${await lookup('ex-db', 'frontend')}`);
    server = await httpServer('ex-web', 8080, 'hello from ex-web');
    console.log(
      `from ex-db: GET http://ex-web:8080/ -> ${(await httpGet('http://ex-web:8080/', 'ex-db')).trim()}`,
    );

    // A second network: its sandboxes are neither reachable nor resolvable from ex-db ...
    await engine.createNetwork({ name: 'ex-other', subnet: '10.89.8.0/24' });
    await engine.createSandbox({ name: 'ex-cache', network: 'ex-other' });
    console.log(`from ex-db: ex-cache is ${await lookup('ex-db', 'ex-cache')}`);
    // ... until ex-db joins it: docker network connect ex-other ex-db
    const ep = await engine.connect('ex-db', 'ex-other');
    console.log(`connected ex-db to ex-other as ${ep.ifname} ${ep.ip}`);
    console.log(`from ex-db: ex-cache is ${await lookup('ex-db', 'ex-cache')}`);
    // docker network disconnect ex-other ex-db
    await engine.disconnect('ex-db', 'ex-other');
    console.log(`disconnected; from ex-db: ex-cache is ${await lookup('ex-db', 'ex-cache')}`);
  } finally {
    await stop(server);
    for (const s of ['ex-web', 'ex-db', 'ex-cache'])
      await engine.removeSandbox(s).catch(() => undefined);
    for (const n of ['ex-app', 'ex-other']) await engine.removeNetwork(n).catch(() => undefined);
    await engine.close();
  }
  console.log('removed');
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
