import assert from 'node:assert/strict';
import { existsSync, readlinkSync } from 'node:fs';

import { NetNS, ValidationError } from '../lib';
import { Cleanup, requireSandbox, run, waitFor } from './helpers';

describe('NetNS', () => {
  before(requireSandbox);
  const cleanup = new Cleanup();
  afterEach(() => cleanup.run());

  it('create is visible to `ip netns list`, open by name/path/pid finds the same namespace, delete removes it', async () => {
    const ns = await NetNS.create('np-ns1');
    cleanup.add('delete', () =>
      existsSync('/run/netns/np-ns1') ? run('ip', ['netns', 'del', 'np-ns1']) : Promise.resolve(),
    );
    const listed = (await run('ip', ['netns', 'list'])).stdout;
    assert.match(listed, /^np-ns1\b/m);
    assert.deepEqual(await NetNS.list(), ['np-ns1']);

    const byName = await NetNS.open('np-ns1');
    const byPath = await NetNS.open({ path: '/run/netns/np-ns1' });
    assert.ok(byName.sameAs(ns));
    assert.ok(byPath.sameAs(ns));
    const host = await NetNS.host();
    assert.ok(!host.sameAs(ns));
    const byPid = await NetNS.open({ pid: process.pid });
    assert.ok(byPid.sameAs(host));
    // The identity is the nsfs inode `ip netns identify` / readlink shows.
    assert.equal(readlinkSync('/proc/self/ns/net'), `net:[${host.identity().ino}]`);
    await Promise.all([byName.close(), byPath.close(), host.close(), byPid.close()]);

    await ns.delete();
    assert.equal(existsSync('/run/netns/np-ns1'), false);
    assert.doesNotMatch((await run('ip', ['netns', 'list'])).stdout, /np-ns1/);
  });

  it('a namespace made by `ip netns add` opens; one opened by pid cannot be deleted', async () => {
    await run('ip', ['netns', 'add', 'np-ns2']);
    cleanup.add('ip netns del', () => run('ip', ['netns', 'del', 'np-ns2']));
    const ns = await NetNS.open('np-ns2');
    cleanup.add('close', () => ns.close());
    const byPid = await NetNS.open({ pid: process.pid });
    cleanup.add('close pid ns', () => byPid.close());
    await assert.rejects(byPid.delete(), ValidationError);
  });

  it('refuses bad names before touching the filesystem', async () => {
    for (const bad of ['', '.', '..', 'a/b', '../x', 'x\0y']) {
      await assert.rejects(
        NetNS.create(bad),
        (e: unknown) => e instanceof ValidationError && e.field === 'name',
        bad,
      );
    }
    assert.deepEqual(await NetNS.list(), []);
  });

  it('create of an existing name fails with EEXIST and leaves the first one intact', async () => {
    const ns = await NetNS.create('np-ns3');
    cleanup.add('delete', () => ns.delete());
    await assert.rejects(NetNS.create('np-ns3'), { name: 'NetlinkError', code: 'EEXIST' });
    assert.deepEqual(await NetNS.list(), ['np-ns3']);
  });

  it('open of a missing name fails with ENOENT; open of a file that is no namespace is refused', async () => {
    await assert.rejects(NetNS.open('np-missing'), { code: 'ENOENT' });
    await assert.rejects(NetNS.open({ path: '/proc/self/status' }), { code: 'EINVAL' });
  });

  it('deleting a namespace destroys its links (the kernel reaps them)', async () => {
    const ns = await NetNS.create('np-ns4');
    await run('ip', [
      'link',
      'add',
      'np4h',
      'type',
      'veth',
      'peer',
      'name',
      'np4p',
      'netns',
      'np-ns4',
    ]);
    cleanup.add('del veth', () => run('ip', ['link', 'del', 'np4h']).catch(() => undefined));
    await ns.delete();
    await waitFor(
      'the veth to go with its namespace',
      async () => !(await run('ip', ['link', 'show'])).stdout.includes('np4h'),
    );
  });
});
