/**
 * Host mode, like `docker run --network host`: no namespace of its own; the
 * sandbox is the host's network stack. Published ports mean nothing there,
 * so they are dropped with a warning, as Docker does.
 *
 *   npm run build && sudo node dist/examples/host.js
 */
import { Engine, NetNS } from 'netplumb';

import { OPTIONS } from './shell';

async function main(): Promise<void> {
  const engine = await Engine.open(OPTIONS);
  try {
    // docker run --network host -p 8080:80 --name ex-host ...
    const sbx = await engine.createSandbox({
      name: 'ex-host',
      network: 'host',
      publish: ['8080:80'],
    });
    console.log(`sandbox ${sbx.name}: mode ${sbx.mode}, endpoints ${sbx.endpoints.length}`);
    console.log(`its namespace: ${sbx.netns ?? 'none of its own (the host namespace)'}`);
    console.log(`named namespaces now: [${(await NetNS.list()).join(', ')}]`);
    for (const w of sbx.warnings) console.log(`warning: ${w}`);
    // A program "in" this sandbox is simply started on the host.
  } finally {
    await engine.removeSandbox('ex-host').catch(() => undefined);
    await engine.close();
  }
  console.log('removed');
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
