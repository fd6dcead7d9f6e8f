/**
 * A sandbox job goes to its builder thread in two halves (runSandboxJob):
 * the namespace and the veth at once, the rest once the event loop has
 * prepared it; the thread holds the namespace in between. What a user
 * relies on: the halves make one sandbox, as one job did; a rest that cannot
 * be prepared takes back what the first half made; nothing else runs on a
 * thread while it holds a namespace, and no thread stays inside one.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { NetNS, Rtnl } from '../../lib';
import { native, type HandleNative } from '../../lib/binding';
import { runSandboxJob, SandboxBuilders, type NewSandboxPlan } from '../../lib/engine/plumbing';
import type { EndpointRecord, NetworkRecord } from '../../lib/engine/records';
import { Cleanup, inNs, ipJson, madeAhead, requireSandbox, threadsAway, waitFor } from '../helpers';
import { addrsIn, ping } from './helpers';

const NET: NetworkRecord = {
  name: 'hn',
  id: 'hn-test',
  bridge: 'nphbr0',
  subnet: '10.216.0.0/24',
  gateway: '10.216.0.1',
  mtu: 1500,
  internal: false,
  icc: true,
  labels: {},
  default: false,
  created: new Date(0).toISOString(),
  state: 'ready',
};

function endpoint(n: number): EndpointRecord {
  return {
    id: `ep${n}`,
    network: NET.name,
    ifname: 'eth0',
    hostIfname: `nph${n}`,
    ip: `10.216.0.${n + 10}`,
    prefixlen: 24,
    gateway: NET.gateway,
    mac: `02:42:0a:d8:00:${(n + 10).toString(16).padStart(2, '0')}`,
    aliases: [],
    ports: [],
  };
}

async function hostLinks(): Promise<string[]> {
  return (await ipJson<{ ifname: string }[]>(['link', 'show'])).map((l) => l.ifname);
}

/** Until sandbox n's first half has made its veth: the host end shows here. */
function firstHalfDone(n: number): Promise<void> {
  return waitFor(`the host end nph${n}, made by the first half`, async () =>
    (await hostLinks()).includes(`nph${n}`),
  );
}

/** Until both ends of sandbox n's veth are gone (the namespace took them along). */
function vethGone(n: number): Promise<void> {
  return waitFor(
    `both veth ends of nph${n} gone`,
    async () => !(await hostLinks()).includes(`nph${n}`),
  );
}

/** A failure of the second half is at this step: after the veth and the two IPv6 writes (host end, eth0). */
const SECOND_HALF_FIRST_STEP = 3;

describe('engine: a sandbox job in two halves, the namespace held in between', function () {
  this.timeout(60000);
  before(requireSandbox);
  const cleanup = new Cleanup();
  let host: Rtnl;
  let hostNs: NetNS;
  let builders: SandboxBuilders;
  let bridge: number;
  let stateDir: string;
  beforeEach(async () => {
    host = await Rtnl.open();
    cleanup.add('close host handle', () => host.close());
    hostNs = await NetNS.host();
    cleanup.add('close host namespace', () => hostNs.close());
    builders = new SandboxBuilders(host);
    cleanup.add('close builders', () => builders.close());
    bridge = (await host.links.add({ kind: 'bridge', name: NET.bridge, up: true })).index;
    cleanup.add('delete bridge', () => host.links.del(NET.bridge));
    await host.addrs.add(NET.bridge, `${NET.gateway}/24`);
    stateDir = await mkdtemp(path.join(tmpdir(), 'np-halves-'));
    cleanup.add('remove state dir', () => rm(stateDir, { recursive: true, force: true }));
  });
  afterEach(() => cleanup.run());

  /** Deletes the namespace `name` after the test, if it exists then. */
  function removeLater(name: string): void {
    cleanup.add(`delete namespace ${name}`, () =>
      native.netnsDelete(`/run/netns/${name}`).catch(() => undefined),
    );
  }

  /** A builder thread of the test's own, closed after it, as are the namespaces it makes. */
  function handleFor(namespaces: string[]): HandleNative {
    const h = new native.Handle();
    cleanup.add('close handle', () => h.close());
    namespaces.forEach(removeLater);
    return h;
  }

  function plan(n: number, rest: NewSandboxPlan['rest']): NewSandboxPlan {
    const name = `nph-sbx${n}`;
    removeLater(name);
    return {
      name,
      dir: '/run/netns',
      hostNs,
      endpoint: { ep: endpoint(n), net: NET },
      firewall: false,
      // The record first, as the engine writes it: its reservation.
      before: [{ fs: { op: 'create', path: path.join(stateDir, name), data: 'creating' } }],
      rest,
    };
  }

  const link = () => ({
    bridgeIndex: bridge,
    alias: 'netplumb-test',
    defaultRoute: true,
    announce: false,
    isolated: false,
    hairpin: false,
  });

  it('the veth is made while the rest is prepared; together they make a working sandbox', async () => {
    let seenWhilePreparing: string[] = [];
    const r = await runSandboxJob(
      host,
      builders,
      plan(1, async () => {
        // The first half runs meanwhile: its veth's host end shows up.
        await firstHalfDone(1);
        seenWhilePreparing = await hostLinks();
        return {
          link: link(),
          after: [{ op: 'replace', path: path.join(stateDir, 'nph-sbx1'), data: 'ready' }],
        };
      }),
    );
    assert.equal(r.failed, -1, `job failed: ${r.phase} ${r.failed} ${r.error?.message}`);
    assert.ok(seenWhilePreparing.includes('nph1'));
    const hostEnd = (
      await ipJson<{ ifname: string; master?: string; operstate: string }[]>([
        'link',
        'show',
        'nph1',
      ])
    )[0]!;
    assert.equal(hostEnd.master, NET.bridge, 'the second half enslaved the host end');
    const eth0 = (await addrsIn('nph-sbx1')).get('eth0')!;
    assert.ok(eth0.flags.includes('UP'));
    assert.deepEqual(
      eth0.addr_info.filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`),
      ['10.216.0.11/24'],
    );
    assert.ok(await ping('nph-sbx1', NET.gateway), 'the sandbox reaches its gateway');
    assert.equal(
      await readFile(path.join(stateDir, 'nph-sbx1'), 'utf8'),
      'ready',
      'the second half wrote the record',
    );
    assert.deepEqual(await threadsAway(), []);
  });

  it('a rest that cannot be prepared takes back the first half; the builder then builds', async () => {
    const r = await runSandboxJob(
      host,
      builders,
      plan(2, async () => {
        await firstHalfDone(2);
        throw new Error('no rest for this one');
      }),
    );
    assert.equal(r.phase, 'kernel');
    assert.equal(r.failed, SECOND_HALF_FIRST_STEP);
    assert.equal(r.error?.message, 'no rest for this one');
    await assert.rejects(stat('/run/netns/nph-sbx2'), { code: 'ENOENT' });
    await vethGone(2);
    // The `before` step ran (the caller takes it back, as for any failure).
    assert.deepEqual(r.before.length, 1);
    assert.deepEqual(await threadsAway(), [], 'the thread went home');
    const again = await runSandboxJob(
      host,
      builders,
      plan(3, () => Promise.resolve({ link: link(), after: [] })),
    );
    assert.equal(again.failed, -1, `${again.phase} ${again.failed} ${again.error?.message}`);
    assert.ok(await ping('nph-sbx3', NET.gateway));
  });

  it('a write step that fails fails its sequence there, reported like a refused request: what ran before is known', async () => {
    const h = handleFor([]);
    const made = path.join(stateDir, 'made-before');
    const r = await h.sequence([
      { fs: { op: 'create', path: made, data: 'x' } },
      { write: '/proc/sys/net/ipv6/conf/np-no-such-link/disable_ipv6', data: '1' },
      { fs: { op: 'create', path: path.join(stateDir, 'never'), data: 'x' } },
    ]);
    assert.equal(r.failed, 1);
    const c = (r.results[1] as { completions: { code?: string; extack?: string }[] })
      .completions[0]!;
    assert.equal(c.code, 'ENOENT');
    assert.match(c.extack ?? '', /np-no-such-link\/disable_ipv6/);
    assert.equal(await readFile(made, 'utf8'), 'x', 'the step before ran');
    await assert.rejects(stat(path.join(stateDir, 'never')), { code: 'ENOENT' });
    assert.equal((await h.sequence([])).failed, -1, 'the handle goes on serving');
  });

  it("an endpoint below IPv6's minimum MTU (no conf directory for its links) is made, and works", async () => {
    const low = { ...NET, mtu: 1279 };
    const p = plan(4, () => Promise.resolve({ link: link(), after: [] }));
    p.endpoint = { ep: endpoint(4), net: low };
    const r = await runSandboxJob(host, builders, p);
    assert.equal(r.failed, -1, `${r.phase} ${r.failed} ${r.error?.message}`);
    assert.equal((await addrsIn('nph-sbx4')).get('eth0')!.mtu, 1279);
    assert.ok(await ping('nph-sbx4', NET.gateway));
    await native.netnsDelete('/run/netns/nph-sbx4');
    await vethGone(4);
  });

  it('builders closed between the halves: the job fails and takes its namespace back', async () => {
    const r = await runSandboxJob(
      host,
      builders,
      plan(4, async () => {
        await firstHalfDone(4);
        await builders.close();
        return { link: link(), after: [] };
      }),
    );
    assert.equal(r.phase, 'kernel');
    assert.equal(r.failed, SECOND_HALF_FIRST_STEP, 'at the first step of the second half');
    assert.match(r.error?.message ?? '', /closed/);
    await assert.rejects(stat('/run/netns/nph-sbx4'), { code: 'ENOENT' });
    await vethGone(4);
  });

  it('a close queued while a namespace is held ends the hold; what was queued before it still runs', async () => {
    const h = handleFor(['nph-c1', 'nph-c2']);
    const one = h.enter({ create: '/run/netns/nph-c1', steps: [], reuse: true, hold: 1 });
    const two = h.enter({ create: '/run/netns/nph-c2', steps: [], reuse: true });
    const closed = h.close();
    await assert.rejects(h.release(1, []), /closed/, 'no release after a close');
    const [a, b] = await Promise.all([one, two]);
    a.ns?.close();
    b.ns?.close();
    assert.equal(b.failed, -1, 'the job queued before the close ran');
    await closed;
    assert.equal((await stat('/run/netns/nph-c2')).isFile(), true);
    await waitFor('the thread gone', async () => (await threadsAway()).length === 0);
  });

  it('a job queued behind a held namespace waits for its release, which runs there', async () => {
    const h = handleFor(['nph-q1', 'nph-q2']);
    const first = h.enter({ create: '/run/netns/nph-q1', steps: [], reuse: true, hold: 7 });
    let secondDone = false;
    const second = h
      .enter({ create: '/run/netns/nph-q2', steps: [], reuse: true })
      .finally(() => (secondDone = true));
    const held = await first;
    assert.equal(held.failed, -1);
    held.ns?.close();
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(secondDone, false, 'the queued job waits while the namespace is held');
    await assert.rejects(stat('/run/netns/nph-q2'), { code: 'ENOENT' });
    // Runs in the held namespace: its lo gets the setting, the host's not.
    const key = '/proc/sys/net/ipv4/conf/lo/arp_notify';
    const hostBefore = (await readFile(key, 'utf8')).trim();
    assert.equal(hostBefore, '0', 'the default, so a write here would show');
    const released = await h.release(7, [{ write: key, data: '1' }]);
    assert.equal(released.held, true);
    assert.equal(released.failed, -1);
    assert.equal((await inNs('nph-q1', 'cat', [key])).stdout.trim(), '1');
    assert.equal((await readFile(key, 'utf8')).trim(), hostBefore, "the host's lo untouched");
    const after = await second;
    assert.equal(after.failed, -1, 'the queued job ran after the release');
    after.ns?.close();
    assert.equal((await stat('/run/netns/nph-q2')).isFile(), true);
    // A release with nothing held runs nothing.
    const nothing = await h.release(7, [{ write: key, data: '1' }]);
    assert.equal(nothing.held, false);
    assert.deepEqual(nothing.results, []);
    assert.equal((await readFile(key, 'utf8')).trim(), hostBefore, 'that release wrote nothing');
    assert.deepEqual(await threadsAway(), []);
  });

  it('a release queued before its enter is done: both settle, the enter first, the release in the held namespace', async () => {
    // The thread then posts the enter's result with the release's (one wakeup
    // of the event loop); what callers see must not change.
    const h = handleFor(['nph-p1']);
    const key = '/proc/sys/net/ipv4/conf/lo/arp_notify';
    const hostBefore = (await readFile(key, 'utf8')).trim();
    const order: string[] = [];
    const entered = h
      .enter({ create: '/run/netns/nph-p1', steps: [], reuse: true, hold: 5 })
      .then((r) => (order.push('enter'), r));
    const released = h
      .release(5, [{ write: key, data: '1' }])
      .then((r) => (order.push('release'), r));
    const [a, b] = await Promise.all([entered, released]);
    a.ns?.close();
    assert.equal(a.failed, -1);
    assert.equal(b.held, true);
    assert.equal(b.failed, -1);
    assert.deepEqual(order, ['enter', 'release']);
    assert.equal((await inNs('nph-p1', 'cat', [key])).stdout.trim(), '1');
    assert.equal((await readFile(key, 'utf8')).trim(), hostBefore, "the host's lo untouched");
    // The thread went home and serves the next job.
    const next = await h.sequence([]);
    assert.equal(next.failed, -1);
    assert.deepEqual(await threadsAway(), []);
  });

  it('two builders, six sandboxes in flight: each finished in its own namespace, each builder then makes one ahead', async () => {
    // The default on this machine may be one builder (CPUs but the event
    // loop's): the token that ties a release to its enter matters most with two.
    const two = new SandboxBuilders(host, 2);
    cleanup.add('close the two builders', () => two.close());
    const ns = [11, 12, 13, 14, 15, 16];
    const results = await Promise.all(
      ns.map((n) =>
        runSandboxJob(
          host,
          two,
          plan(n, () => Promise.resolve({ link: link(), after: [] })),
        ),
      ),
    );
    results.forEach((r, i) => {
      assert.equal(r.failed, -1, `sandbox ${ns[i]}: ${r.error?.message}`);
    });
    for (const n of ns) {
      const eth0 = (await addrsIn(`nph-sbx${n}`)).get('eth0')!;
      assert.deepEqual(
        eth0.addr_info.filter((a) => a.family === 'inet').map((a) => a.local),
        [endpoint(n).ip],
      );
      assert.ok(await ping(`nph-sbx${n}`, NET.gateway), `nph-sbx${n} reaches the gateway`);
    }
    assert.deepEqual(await threadsAway(), []);
    await waitFor(
      'a namespace made ahead by each of the two builders',
      async () => (await madeAhead()).length === 2,
    );
  });

  it('releases that come in another order than their enters each finish their own namespace', async () => {
    const h = handleFor(['nph-r1', 'nph-r2']);
    const notify = '/proc/sys/net/ipv4/conf/lo/arp_notify';
    const martians = '/proc/sys/net/ipv4/conf/lo/log_martians';
    const one = h.enter({ create: '/run/netns/nph-r1', steps: [], reuse: true, hold: 1 });
    const two = h.enter({ create: '/run/netns/nph-r2', steps: [], reuse: true, hold: 2 });
    // The second sandbox's rest was ready first (as one with less to prepare).
    const releaseTwo = h.release(2, [{ write: martians, data: '1' }]);
    await new Promise((r) => setTimeout(r, 50));
    const releaseOne = h.release(1, [{ write: notify, data: '1' }]);
    const [a, b, ra, rb] = await Promise.all([one, two, releaseOne, releaseTwo]);
    a.ns?.close();
    b.ns?.close();
    assert.equal(ra.held, true);
    assert.equal(rb.held, true);
    const read = async (ns: string, key: string): Promise<string> =>
      (await inNs(ns, 'cat', [key])).stdout.trim();
    assert.deepEqual(
      [await read('nph-r1', notify), await read('nph-r1', martians)],
      ['1', '0'],
      'nph-r1 got its own release only',
    );
    assert.deepEqual(
      [await read('nph-r2', notify), await read('nph-r2', martians)],
      ['0', '1'],
      'nph-r2 got its own release only',
    );
    assert.deepEqual(await threadsAway(), []);
  });
});
