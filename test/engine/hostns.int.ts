/**
 * An engine whose host is another namespace (hostNetns): bridges, veth host
 * ends, the firewall table, sysctls and published ports all land there, and
 * nothing in the process's own namespace.
 */
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';

import { Engine, ValidationError } from '../../lib';
import { Cleanup, ipJson, requireSandbox, run } from '../helpers';
import { attempt, serve } from './helpers';

const HOST = 'nphostns';

describe('engine: a host namespace other than its own (hostNetns)', function () {
  this.timeout(60_000);
  const cleanup = new Cleanup();
  let engine: Engine;
  const stateDir = `/run/np-test-hostns-${process.pid}`;

  before(async function () {
    requireSandbox();
    await run('ip', ['netns', 'add', HOST]);
    cleanup.add('host netns', () => run('ip', ['netns', 'del', HOST]));
    await run('ip', ['-n', HOST, 'link', 'set', 'lo', 'up']);
    engine = await Engine.open({ hostNetns: HOST, stateDir });
    cleanup.add('engine', async () => {
      for (const s of await engine.listSandboxes()) await engine.removeSandbox(s.name);
      for (const n of await engine.listNetworks()) await engine.removeNetwork(n.name);
      await engine.close();
      await rm(stateDir, { recursive: true, force: true });
    });
  });
  after(() => cleanup.run());

  it('refuses dns: true there (the resolver binds in this process), naming the field', async function () {
    await assert.rejects(
      Engine.open({ hostNetns: HOST, stateDir: `${stateDir}-dns`, dns: true }),
      (err: unknown) => err instanceof ValidationError && err.field === 'dns',
    );
    await assert.rejects(
      Engine.open({ hostNetns: 'no/such', stateDir: `${stateDir}-bad` }),
      (err: unknown) => err instanceof ValidationError && err.field === 'hostNetns',
    );
  });

  it('builds networks, sandboxes, firewall and published ports in that namespace only', async function () {
    const ours = await ipJson<{ ifname: string }[]>(['link', 'show']);
    const net = await engine.createNetwork({ name: 'hn', subnet: '10.70.0.0/24' });
    const sbx = await engine.createSandbox({ name: 'hs1', network: 'hn', publish: ['8080:80'] });
    const ep = sbx.endpoints[0]!;
    // Oracle: ip and nft inside the host namespace, and in ours.
    const there = await ipJson<{ ifname: string; master?: string }[]>(['link', 'show'], HOST);
    assert.ok(there.some((l) => l.ifname === net.bridge));
    assert.equal(there.find((l) => l.ifname === ep.hostIfname)?.master, net.bridge);
    assert.deepEqual(
      (await ipJson<{ ifname: string }[]>(['link', 'show'])).map((l) => l.ifname),
      ours.map((l) => l.ifname),
      'nothing new in the process namespace',
    );
    const tables = (await run('ip', ['netns', 'exec', HOST, 'nft', 'list', 'tables'])).stdout;
    assert.match(tables, new RegExp(`table inet netplumb_${engine.tag}`));
    assert.equal((await run('nft', ['list', 'tables'])).stdout.includes(engine.tag), false);
    const fwd = await run('ip', ['netns', 'exec', HOST, 'cat', '/proc/sys/net/ipv4/ip_forward']);
    assert.equal(fwd.stdout.trim(), '1');
    // Traffic, inside the host namespace: straight to the sandbox and through the published port.
    const srv = await serve(sbx.netns, 'tcp', 80);
    try {
      assert.deepEqual(await attempt(HOST, 'tcp', ep.ip, 80), {
        ok: true,
        reply: `from ${net.gateway}`,
      });
      assert.equal((await attempt(HOST, 'tcp', net.gateway, 8080)).ok, true);
    } finally {
      srv.kill('SIGTERM');
    }
    await engine.removeSandbox('hs1');
    await engine.removeNetwork('hn');
    const after = await ipJson<{ ifname: string }[]>(['link', 'show'], HOST);
    assert.deepEqual(
      after.map((l) => l.ifname),
      ['lo'],
    );
    assert.equal(
      (await run('ip', ['netns', 'exec', HOST, 'nft', 'list', 'tables'])).stdout.includes(
        engine.tag,
      ),
      false,
    );
  });
});
