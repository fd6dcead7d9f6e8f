/**
 * None mode, like `docker run --network none`: a namespace of its own with
 * only the loopback interface, up. Nothing goes in or out.
 *
 *   npm run build && sudo node dist/examples/none.js
 */
import { Engine } from 'netplumb';

import { OPTIONS, sh } from './shell';

async function main(): Promise<void> {
  const engine = await Engine.open(OPTIONS);
  try {
    // docker run --network none --name ex-none ...
    const sbx = await engine.createSandbox({ name: 'ex-none', network: 'none' });
    console.log(`sandbox ${sbx.name}: mode ${sbx.mode}, namespace ${sbx.netns}`);
    console.log(
      `links inside: ${(await sh(['ip', '-br', 'link'], sbx.netns)).trim().replace(/\s+/g, ' ')}`,
    );
    const routes = (await sh(['ip', '-4', 'route'], sbx.netns)).trim();
    console.log(`routes inside: ${routes || '(none)'}`);
    try {
      await sh(['ping', '-c', '1', '-W', '1', '172.17.0.1'], sbx.netns);
      console.log('ping 172.17.0.1: answered');
    } catch (err) {
      console.log(
        `ping 172.17.0.1: ${/unreachable/i.test(String(err)) ? 'network is unreachable' : 'no answer'}`,
      );
    }
  } finally {
    await engine.removeSandbox('ex-none').catch(() => undefined);
    await engine.close();
  }
  console.log('removed');
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
