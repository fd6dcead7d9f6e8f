/**
 * Handles hold kernel resources (netlink sockets, namespace fds, a thread).
 * close() gives them all back at once; a handle the program forgets does not
 * keep the process alive, and once collected its fds are closed too. Counted
 * in /proc/<pid>/fd, before and after.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdir, readlink, rm } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

import { Conntrack, Engine, NetNS, Nft, Rtnl } from '../lib';
import { Cleanup, ROOT, requireSandbox } from './helpers';

const execFileP = promisify(execFile);

async function openFds(): Promise<string[]> {
  const out: string[] = [];
  for (const fd of await readdir('/proc/self/fd'))
    out.push(`${fd} ${await readlink(`/proc/self/fd/${fd}`).catch(() => '?')}`);
  return out.sort();
}

/** Runs `body` in a fresh Node process with the library as `lib`; returns what it printed and how long it took. */
async function child(
  body: string,
  nodeArgs: string[] = [],
  wrap: string[] = [],
): Promise<{ stdout: string; ms: number }> {
  const script = `const lib = require(${JSON.stringify(path.join(ROOT, 'dist', 'lib'))});
const fs = require('node:fs');
const fds = () => fs.readdirSync('/proc/self/fd').length;
(async () => {
${body}
})().catch((e) => { console.error(e); process.exit(1); });`;
  const t0 = performance.now();
  const argv = [...wrap, process.execPath, ...nodeArgs, '-e', script];
  const { stdout } = await execFileP(argv[0]!, argv.slice(1), { timeout: 20000 });
  return { stdout, ms: performance.now() - t0 };
}

describe('handles: closed deterministically, forgotten ones neither keep the process alive nor leak', function () {
  this.timeout(60000);
  before(requireSandbox);
  const cleanup = new Cleanup();
  after(() => cleanup.run());

  it('a closed Rtnl refuses createNetns and monitor with the EBADF of its other calls, opening nothing', async () => {
    const rt = await Rtnl.open();
    await rt.close();
    const netnsBefore = await readdir('/run/netns');
    const fdsBefore = await openFds();
    const tasksBefore = (await readdir('/proc/self/task')).length;
    const other = await rt.links.list().then(
      () => assert.fail('links.list on a closed handle'),
      (e: unknown) => e as { name: string; code: string; errno: number; syscall: string },
    );
    assert.equal(other.code, 'EBADF');
    for (let i = 0; i < 3; i++) {
      for (const call of [
        () => rt.createNetns(`closed-rtnl-${i}`, (inside) => inside.linkSet(1, { up: true })),
        () => rt.monitor(['link']),
      ]) {
        await assert.rejects(call(), (e: unknown) => {
          const { name, code, errno, syscall } = e as typeof other;
          assert.deepEqual(
            { name, code, errno, syscall },
            { name: other.name, code: other.code, errno: other.errno, syscall: other.syscall },
          );
          return true;
        });
      }
    }
    assert.deepEqual(await readdir('/run/netns'), netnsBefore);
    // Nothing new (handles earlier tests forgot may close meanwhile, as they are collected).
    const fdsAfter = await openFds();
    assert.deepEqual(
      fdsAfter.filter((fd) => !fdsBefore.includes(fd)),
      [],
    );
    assert.ok((await readdir('/proc/self/task')).length <= tasksBefore);
  });

  it('close() gives back every fd: 30 rounds of namespace, rtnl, nft, conntrack, monitor and engine', async () => {
    const stateDir = `/run/np-handles-${process.pid}`;
    cleanup.add('remove the state directory', () => rm(stateDir, { recursive: true, force: true }));
    // Warm up what is opened once per process and kept: the addon, the
    // handle thread pool, libuv's inotify fd (the engine watches its records).
    const warm = await Engine.open({ stateDir });
    await warm.listNetworks();
    await warm.close();
    // (the pool keeps one fd for good: its threads' home namespace)
    const warmRt = await Rtnl.open();
    await warmRt.links.list();
    await warmRt.close();
    const before = await openFds();
    for (let i = 0; i < 30; i++) {
      const ns = await NetNS.create(`np-fd-${i}`);
      cleanup.add(`delete np-fd-${i}`, () => ns.delete().catch(() => undefined));
      const rt = await Rtnl.open(ns);
      const nft = await Nft.open(ns);
      const ct = await Conntrack.open(ns);
      const mon = await rt.monitor(['link']);
      await rt.links.list();
      await nft.list();
      await ct.list();
      const engine = await Engine.open({ stateDir });
      await engine.listNetworks();
      await engine.close();
      // A handle closed before any use: no thread starts at all.
      await (await Rtnl.open()).close();
      await mon.return();
      await ct.close();
      await nft.close();
      await rt.close();
      await ns.delete();
    }
    assert.deepEqual(await openFds(), before, 'the same fds are open as before');
  });

  it('a program that forgets its handles still exits by itself', async () => {
    const stateDir = `/run/np-forget-${process.pid}`;
    cleanup.add('remove the state directory', () => rm(stateDir, { recursive: true, force: true }));
    for (const name of ['np-forget', 'np-forget2'])
      cleanup.add(`delete ${name}`, () =>
        NetNS.open(name)
          .then((ns) => ns.delete())
          .catch(() => undefined),
      );
    const { stdout, ms } = await child(`
      const ns = await lib.NetNS.create('np-forget');
      const rt = await lib.Rtnl.open(ns);
      const nft = await lib.Nft.open(ns);
      const ct = await lib.Conntrack.open();
      const host = await lib.Rtnl.open();
      const engine = await lib.Engine.open({ stateDir: ${JSON.stringify(stateDir)} });
      // Never used: its thread has not started (it starts with the first job).
      const idle = await lib.Rtnl.open();
      await Promise.all([rt.links.list(), nft.list(), ct.list(), host.links.list(), engine.listNetworks()]);
      // A createNetns thread, idle with the next namespace made ahead.
      await host.createNetns('np-forget2', () => undefined);
      console.log(fds());
      // nothing closed: the event loop must still run dry`);
    assert.ok(Number(stdout.trim()) > 0, `the child worked: ${stdout}`);
    // Exiting is bounded by the child timeout; under a second when nothing
    // holds the loop (recorded, not asserted: timing flakes on a shared machine).
    console.log(`      forgetful child exited after ${ms.toFixed(0)} ms`);
  });

  it('a handle that cannot get a thread fails its call with EAGAIN; the process carries on', async () => {
    // A user with a small process limit (RLIMIT_NPROC counts threads, as a
    // cgroup's pids.max does): some handle's first call finds no thread.
    const { stdout } = await child(
      `
      const served = [];
      let failed;
      for (let i = 0; i < 200 && !failed; i++) {
        const rt = await lib.Rtnl.open();
        try {
          await rt.links.list();
          served.push(rt);
        } catch (e) {
          failed = { code: e.code, syscall: e.syscall, closed: await rt.close().then(() => true) };
        }
      }
      for (const rt of served) await rt.close();
      // With the threads given back, a new handle is served again.
      const again = await lib.Rtnl.open();
      const links = (await again.links.list()).length;
      await again.close();
      console.log(JSON.stringify({ served: served.length, failed, links }));`,
      [],
      ['prlimit', '--nproc=40', 'setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'],
    );
    const r = JSON.parse(stdout) as {
      served: number;
      failed?: { code: string; syscall: string; closed: boolean };
      links: number;
    };
    assert.ok(r.served > 0, `some handles were served before the limit (${r.served})`);
    assert.deepEqual(r.failed, { code: 'EAGAIN', syscall: 'pthread_create', closed: true });
    assert.ok(r.links >= 1, 'a handle opened after closing the others works');
  });

  it('forgotten handles are collected: their sockets and eventfds are closed', async () => {
    const { stdout } = await child(
      `
      const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
      const settle = async () => { for (let i = 0; i < 5; i++) { global.gc(); await sleep(50); } };
      const warm = await lib.Rtnl.open(); await warm.links.list(); await warm.close();
      await settle();
      const before = fds();
      let during = 0;
      await (async () => {
        const held = [];
        for (let i = 0; i < 40; i++) {
          const rt = await lib.Rtnl.open();
          const nft = await lib.Nft.open();
          await rt.links.list();
          await nft.list();
          // and one never used, whose thread never started
          held.push(rt, nft, await lib.Rtnl.open());
        }
        during = fds();
      })();
      // The handles are unreachable now: collection closes them.
      for (let i = 0; i < 20 && fds() > before; i++) await settle();
      console.log(JSON.stringify({ before, during, after: fds() }));`,
      ['--expose-gc'],
    );
    const { before, during, after } = JSON.parse(stdout) as {
      before: number;
      during: number;
      after: number;
    };
    assert.ok(
      during >= before + 120,
      `120 handles held at least 120 more fds (${before} -> ${during})`,
    );
    assert.equal(after, before, `collected handles closed their fds (${before} -> ${after})`);
  });
});
