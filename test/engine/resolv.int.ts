/**
 * Sandboxes' resolv.conf made from the host's, as Docker makes it. The
 * host's files are fakes under this run's private /run (the engine takes
 * their paths): the real /etc/resolv.conf is never read or written.
 */
import assert from 'node:assert/strict';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';

import type { Engine } from '../../lib';
import { Cleanup, requireSandbox, sleep } from '../helpers';
import { openEngine } from './helpers';

describe('engine: resolv.conf from the host', () => {
  before(requireSandbox);
  const cleanup = new Cleanup();
  const dir = `/run/np-test-resolv-${process.pid}`;
  const hostFile = `${dir}/etc-resolv.conf`;
  const resolvedFile = `${dir}/systemd-resolv.conf`;
  let engine: Engine;
  beforeEach(async () => {
    await mkdir(dir, { recursive: true });
    cleanup.add('remove fake resolv.conf files', () => rm(dir, { recursive: true, force: true }));
    const e = await openEngine({ resolvConf: hostFile, resolvedConf: resolvedFile });
    engine = e.engine;
    cleanup.add('dispose engine', e.dispose);
  });
  afterEach(() => cleanup.run());

  /** Writes the host's files; the engine looks at them at most once a second. */
  const host = async (etc: string, resolved?: string): Promise<void> => {
    await sleep(1100);
    await writeFile(hostFile, etc);
    if (resolved === undefined) await rm(resolvedFile, { force: true });
    else await writeFile(resolvedFile, resolved);
  };
  const resolvOf = (name: string): Promise<string> =>
    readFile(`/etc/netns/${name}/resolv.conf`, 'utf8');

  it("default bridge on a systemd-resolved host: resolved's upstreams, or Docker's defaults with a warning when no nameserver is left", async () => {
    // Only the stub: the upstreams come from systemd-resolved's own file.
    await host(
      'nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch corp.example\n',
      'nameserver 192.0.2.10\nnameserver 192.0.2.11\nsearch lan.example\n',
    );
    const a = await engine.createSandbox({ name: 'ra' });
    assert.equal(
      await resolvOf('ra'),
      'nameserver 192.0.2.10\nnameserver 192.0.2.11\nsearch lan.example\n',
    );
    assert.deepEqual(a.warnings, []);
    // Only loopback nameservers: none reachable from a sandbox, Docker's defaults.
    await host('nameserver 127.0.0.1\nnameserver ::1\nsearch corp.example\noptions edns0\n');
    const b = await engine.createSandbox({ name: 'rb' });
    assert.equal(
      await resolvOf('rb'),
      'nameserver 8.8.8.8\nnameserver 8.8.4.4\nsearch corp.example\noptions edns0\n',
    );
    assert.equal(b.warnings.length, 1);
    assert.match(b.warnings[0]!, /default external servers 8\.8\.8\.8, 8\.8\.4\.4/);
    assert.deepEqual((await engine.inspectSandbox('rb')).warnings, b.warnings, 'kept');
    // The stub, and systemd-resolved's file missing: the defaults too.
    await host('nameserver 127.0.0.53\n');
    const c = await engine.createSandbox({ name: 'rc' });
    assert.equal(await resolvOf('rc'), 'nameserver 8.8.8.8\nnameserver 8.8.4.4\n');
    assert.equal(c.warnings.length, 1);
    // The stub beside a real nameserver: the host's file, loopback dropped.
    await host('nameserver 127.0.0.53\nnameserver 192.0.2.20\n', 'nameserver 192.0.2.10\n');
    await engine.createSandbox({ name: 'rd' });
    assert.equal(await resolvOf('rd'), 'nameserver 192.0.2.20\n');
  });

  it("user-defined networks: the network's resolver, with the host's search and options lines (ndots:0 unless the host sets a valid ndots)", async () => {
    await engine.createNetwork({ name: 'rnet', subnet: '10.109.0.0/24' });
    await host('nameserver 192.0.2.1\nsearch corp.example\noptions edns0 timeout:2\n');
    await engine.createSandbox({ name: 'ru1', network: 'rnet' });
    assert.equal(
      await resolvOf('ru1'),
      'nameserver 10.109.0.1\nsearch corp.example\noptions edns0 timeout:2\noptions ndots:0\n',
    );
    await host('nameserver 192.0.2.1\noptions ndots:3 rotate\n');
    await engine.createSandbox({ name: 'ru2', network: 'rnet' });
    assert.equal(await resolvOf('ru2'), 'nameserver 10.109.0.1\noptions ndots:3 rotate\n');
    await host('nameserver 192.0.2.1\noptions ndots:x\noptions attempts:3\n');
    await engine.createSandbox({ name: 'ru3', network: 'rnet' });
    assert.equal(
      await resolvOf('ru3'),
      'nameserver 10.109.0.1\noptions attempts:3\noptions ndots:0\n',
    );
  });
});
