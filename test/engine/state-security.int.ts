/**
 * The state directory is private and nothing planted in it is followed:
 * created 0700 (files 0600); a symlink in place of a record, a directory of
 * addresses or ports, a sharing mark, a lock, a file of the DNS daemon or
 * an /etc/netns directory makes the operation fail with a typed error (or
 * is passed over), and whatever the link points to is never read, written
 * or removed. Names that would leave their directory never reach the
 * filesystem.
 */
import assert from 'node:assert/strict';
import {
  chown,
  lstat,
  mkdir,
  readFile,
  readdir,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { watch } from 'node:fs';
import path from 'node:path';

import { ConflictError, Engine, NetlinkError, NotFoundError, ValidationError } from '../../lib';
import { StateStore } from '../../lib/engine/state';
import { Cleanup, requireSandbox } from '../helpers';
import { netnsNames, openEngine } from './helpers';

const OUTSIDE = `/run/np-outside-${process.pid}`;

/** Everything under `dir`: relative path -> file content ('<dir>' for directories). */
async function snapshot(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  async function walk(d: string): Promise<void> {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) {
        out.set(path.relative(dir, p), '<dir>');
        await walk(p);
      } else out.set(path.relative(dir, p), await readFile(p, 'utf8'));
    }
  }
  await walk(dir);
  return out;
}

/** A netplumb error a program can branch on. */
function typed(err: unknown): boolean {
  return (
    err instanceof NetlinkError ||
    err instanceof ValidationError ||
    err instanceof ConflictError ||
    err instanceof NotFoundError
  );
}

async function refusedTyped(p: Promise<unknown>, what: string): Promise<Error> {
  let caught: unknown;
  try {
    await p;
  } catch (err) {
    caught = err;
  }
  assert.ok(caught !== undefined, `${what}: expected a refusal`);
  assert.ok(typed(caught), `${what}: not a typed error: ${String((caught as Error).stack)}`);
  return caught as Error;
}

describe('engine: the state directory is private and follows no planted symlink', function () {
  this.timeout(60000);
  before(requireSandbox);
  const cleanup = new Cleanup();
  let engine: Engine;
  let stateDir: string;
  let outside: Map<string, string>;

  beforeEach(async () => {
    await mkdir(path.join(OUTSIDE, 'dir'), { recursive: true });
    await writeFile(path.join(OUTSIDE, 'canary'), 'do not touch\n');
    await writeFile(path.join(OUTSIDE, 'dir', 'canary'), 'do not touch either\n');
    await writeFile(
      path.join(OUTSIDE, 'dir', '.tmp.999999.1'),
      'a dead writer left this? no: not ours\n',
    );
    cleanup.add('remove the outside', () => rm(OUTSIDE, { recursive: true, force: true }));
    outside = await snapshot(OUTSIDE);
    const e = await openEngine();
    engine = e.engine;
    stateDir = e.stateDir;
    cleanup.add('dispose engine', e.dispose);
  });
  afterEach(async () => {
    // Whatever happened, nothing outside changed.
    try {
      assert.deepEqual(await snapshot(OUTSIDE), outside, 'the target of a planted symlink changed');
    } finally {
      await cleanup.run();
    }
  });

  it('is created 0700, its directories too; records are 0600', async () => {
    await engine.createNetwork({ name: 'sec0', subnet: '10.120.0.0/24' });
    await engine.createSandbox({ name: 'sec0s', network: 'sec0' });
    for (const d of ['', 'networks', 'sandboxes', 'ipam', 'ports', 'locks', 'joins', 'ipam/sec0']) {
      const st = await lstat(path.join(stateDir, d));
      assert.ok(st.isDirectory(), d);
      assert.equal(st.mode & 0o777, 0o700, `${d || stateDir} is ${(st.mode & 0o777).toString(8)}`);
    }
    for (const f of ['networks/sec0.json', 'sandboxes/sec0s.json']) {
      assert.equal((await stat(path.join(stateDir, f))).mode & 0o777, 0o600, f);
    }
  });

  it('addresses appear under their final names only, complete; modes hold under a narrow umask', async () => {
    await engine.createNetwork({ name: 'sec9', subnet: '10.129.0.0/24' });
    await engine.createSandbox({ name: 'sec9w', network: 'sec9', publish: ['18299:80'] });
    const ipam = path.join(stateDir, 'ipam', 'sec9');
    const seen: string[] = [];
    const watcher = watch(ipam, (_event, name) => seen.push(String(name)));
    const old = process.umask(0o077);
    try {
      await engine.createSandbox({ name: 'sec9s', network: 'sec9', publish: ['18300:80'] });
      await new Promise((r) => setTimeout(r, 100)); // inotify events are delivered asynchronously
    } finally {
      process.umask(old);
      watcher.close();
    }
    // The address file is written unnamed (O_TMPFILE) and linked in whole;
    // the one temporary name is the cursor's, which is replaced by rename(2).
    assert.equal(
      new Set(seen.filter((n) => n.startsWith('.tmp.'))).size,
      1,
      `temporary names seen: ${seen.join(', ')}`,
    );
    assert.ok(seen.includes('.cursor4'), `the cursor was replaced: ${seen.join(', ')}`);
    assert.ok(seen.includes('10.129.0.3'), `the address file appeared: ${seen.join(', ')}`);
    assert.equal(await readFile(path.join(ipam, '10.129.0.3'), 'utf8'), 'sec9s');
    assert.equal((await stat(path.join(ipam, '10.129.0.3'))).mode & 0o777, 0o600);
    const owner = path.join(stateDir, 'ports', 'tcp_18300', '0.0.0.0');
    assert.equal(await readFile(owner, 'utf8'), 'sec9s');
    // The /etc/netns files are 0644 whatever the umask: processes of the sandbox read them.
    assert.equal((await stat('/etc/netns/sec9s/hosts')).mode & 0o777, 0o644);
  });

  it('an existing state directory of ours is tightened to 0700; one of another user is refused', async () => {
    const mine = `/run/np-sec-loose-${process.pid}`;
    const theirs = `/run/np-sec-theirs-${process.pid}`;
    cleanup.add('remove the test directories', async () => {
      await rm(mine, { recursive: true, force: true });
      await rm(theirs, { recursive: true, force: true });
    });
    await mkdir(path.join(mine, 'sandboxes'), { recursive: true, mode: 0o777 });
    await new StateStore(mine).init();
    assert.equal((await stat(mine)).mode & 0o777, 0o700);
    assert.equal((await stat(path.join(mine, 'sandboxes'))).mode & 0o777, 0o700);

    await mkdir(theirs, { mode: 0o700 });
    await chown(theirs, 65534, 65534);
    const err = await refusedTyped(Engine.open({ stateDir: theirs }), 'a foreign state directory');
    assert.ok(err instanceof ValidationError && err.field === 'stateDir', err.message);
  });

  it('a state directory reached through a symlink is refused', async () => {
    const link = `/run/np-sec-link-${process.pid}`;
    await symlink(path.join(OUTSIDE, 'dir'), link);
    cleanup.add('remove the link', () => rm(link, { force: true }));
    const err = await refusedTyped(Engine.open({ stateDir: link }), 'a symlinked state directory');
    assert.ok(err instanceof ValidationError && err.field === 'stateDir');
  });

  it('a symlink in place of a sandbox record: creating, inspecting, removing and pruning refuse or skip it', async () => {
    await engine.createNetwork({ name: 'sec1', subnet: '10.121.0.0/24' });
    await symlink(path.join(OUTSIDE, 'canary'), path.join(stateDir, 'sandboxes', 'evil.json'));
    await refusedTyped(engine.createSandbox({ name: 'evil', network: 'sec1' }), 'create');
    await refusedTyped(engine.inspectSandbox('evil'), 'inspect');
    await refusedTyped(engine.removeSandbox('evil'), 'remove');
    await refusedTyped(engine.listSandboxes(), 'list');
    await engine.prune().catch((err: unknown) => {
      assert.ok(typed(err), String(err));
    });
    assert.ok(!(await netnsNames()).includes('evil'), 'no namespace was made for it');
    await rm(path.join(stateDir, 'sandboxes', 'evil.json'));
  });

  it('a symlink in place of a network record', async () => {
    await symlink(path.join(OUTSIDE, 'canary'), path.join(stateDir, 'networks', 'evil.json'));
    await refusedTyped(engine.createNetwork({ name: 'evil', subnet: '10.122.0.0/24' }), 'create');
    await refusedTyped(engine.inspectNetwork('evil'), 'inspect');
    await refusedTyped(engine.removeNetwork('evil'), 'remove');
    await rm(path.join(stateDir, 'networks', 'evil.json'));
  });

  it("a symlink in place of a network's address directory: allocation, removal and prune never write or delete through it", async () => {
    await engine.createNetwork({ name: 'sec3', subnet: '10.123.0.0/24' });
    const ipam = path.join(stateDir, 'ipam', 'sec3');
    await rm(ipam, { recursive: true });
    await symlink(path.join(OUTSIDE, 'dir'), ipam);
    await refusedTyped(engine.createSandbox({ name: 'sec3s', network: 'sec3' }), 'create');
    await refusedTyped(
      engine.createSandbox({ name: 'sec3t', network: 'sec3', ip: '10.123.0.9' }),
      'static',
    );
    await refusedTyped(engine.removeNetwork('sec3'), 'remove network');
    await engine.prune().catch((err: unknown) => {
      assert.ok(typed(err), String(err));
    });
    assert.deepEqual(
      (await netnsNames()).filter((n) => n.startsWith('sec3')),
      [],
      'no sandbox was half made',
    );
    await rm(ipam);
    await mkdir(ipam, { mode: 0o700 });
  });

  it("a symlink in place of a host port's directory", async () => {
    await engine.createNetwork({ name: 'sec4', subnet: '10.124.0.0/24' });
    await symlink(path.join(OUTSIDE, 'dir'), path.join(stateDir, 'ports', 'tcp_18080'));
    await refusedTyped(
      engine.createSandbox({ name: 'sec4s', network: 'sec4', publish: ['18080:80'] }),
      'publish',
    );
    await engine.prune().catch((err: unknown) => {
      assert.ok(typed(err), String(err));
    });
    await rm(path.join(stateDir, 'ports', 'tcp_18080'));
    // The port is free again, for real this time.
    const s = await engine.createSandbox({ name: 'sec4s', network: 'sec4', publish: ['18080:80'] });
    assert.equal(s.endpoints[0]!.ports[0]!.hostPort, 18080);
  });

  it('a symlink in place of a lock file', async () => {
    await rm(path.join(stateDir, 'locks', 'networks'), { force: true });
    await symlink(path.join(OUTSIDE, 'canary'), path.join(stateDir, 'locks', 'networks'));
    const err = await refusedTyped(
      engine.createNetwork({ name: 'sec5', subnet: '10.125.0.0/24' }),
      'lock',
    );
    assert.ok(err instanceof NetlinkError && err.code === 'ELOOP', err.message);
    await rm(path.join(stateDir, 'locks', 'networks'));
  });

  it('a symlink in place of a sharing mark directory: prune passes it over', async () => {
    await symlink(path.join(OUTSIDE, 'dir'), path.join(stateDir, 'joins', 'ghost'));
    await engine.prune();
    await rm(path.join(stateDir, 'joins', 'ghost'));
  });

  it("symlinks in place of the DNS daemon's files are replaced, never written through; reading them is refused", async () => {
    const state = new StateStore(stateDir);
    for (const f of ['dns.pid', 'dns.ack', 'dns.reload']) {
      await symlink(path.join(OUTSIDE, 'canary'), path.join(stateDir, f));
      await refusedTyped(state.readFile(f), `read ${f}`);
      await state.writeFile(f, 'token');
      const st = await lstat(path.join(stateDir, f));
      assert.ok(st.isFile() && !st.isSymbolicLink(), `${f} is a plain file now`);
      assert.equal(await readFile(path.join(stateDir, f), 'utf8'), 'token');
    }
  });

  it("a symlink in place of a sandbox's /etc/netns directory: creation fails cleanly, nothing is written through it", async () => {
    await engine.createNetwork({ name: 'sec6', subnet: '10.126.0.0/24' });
    await mkdir('/etc/netns', { recursive: true });
    await symlink(path.join(OUTSIDE, 'dir'), '/etc/netns/sec6s');
    cleanup.add('remove the /etc/netns link', () => rm('/etc/netns/sec6s', { force: true }));
    await refusedTyped(engine.createSandbox({ name: 'sec6s', network: 'sec6' }), 'create');
    assert.ok(!(await netnsNames()).includes('sec6s'), 'the namespace was rolled back');
    await engine.prune();
    assert.ok(
      (await lstat('/etc/netns/sec6s')).isSymbolicLink(),
      'prune leaves a foreign link alone',
    );
  });

  it('names that would leave their directory are refused before any file is touched', async () => {
    await engine.createNetwork({ name: 'sec7', subnet: '10.127.0.0/24' });
    const run = (await readdir('/run')).sort();
    const state = await snapshot(stateDir);
    const etc = (await readdir('/etc/netns').catch(() => [])).sort();
    const netns = await netnsNames();
    const bad = [
      '../x',
      '../../etc/passwd',
      'a/b',
      '..',
      '.',
      '',
      'x\0y',
      '/abs',
      '.hidden',
      '-rf',
    ];
    for (const name of bad) {
      await refusedTyped(
        engine.createSandbox({ name, network: 'sec7' }),
        `sandbox ${JSON.stringify(name)}`,
      );
      await refusedTyped(
        engine.createNetwork({ name, subnet: '10.128.0.0/24' }),
        `network ${JSON.stringify(name)}`,
      );
      await refusedTyped(engine.removeSandbox(name), `remove ${JSON.stringify(name)}`);
      await refusedTyped(engine.inspectNetwork(name), `inspect ${JSON.stringify(name)}`);
      await refusedTyped(
        engine.createSandbox({ name: 'ok', network: name }),
        `network ${JSON.stringify(name)}`,
      );
      await refusedTyped(
        engine.createSandbox({ name: 'ok', network: `container:${name}` }),
        'container',
      );
      await refusedTyped(engine.connect(name, 'sec7'), `connect ${JSON.stringify(name)}`);
      await refusedTyped(engine.disconnect('ok', name), `disconnect ${JSON.stringify(name)}`);
    }
    assert.deepEqual((await readdir('/run')).sort(), run, 'nothing appeared in /run');
    assert.deepEqual(await snapshot(stateDir), state, 'the state directory did not change');
    assert.deepEqual((await readdir('/etc/netns').catch(() => [])).sort(), etc);
    assert.deepEqual(await netnsNames(), netns);
    assert.deepEqual(await engine.listSandboxes(), []);
  });
});
