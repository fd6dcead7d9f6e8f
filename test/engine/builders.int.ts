/**
 * Sandbox builders (lib/engine/plumbing.ts SandboxBuilders): threads that
 * each build one sandbox at a time, go back to the host namespace after it,
 * and unshare the next sandbox's namespace while they wait. What a user
 * relies on: every sandbox gets a fresh namespace prepared like one made on
 * the spot (lo up), no thread stays inside a sandbox's namespace,
 * a failed job leaves the builder able to build, and closing the engine
 * gives back the namespace made ahead.
 */
import assert from 'node:assert/strict';
import { readFile, stat } from 'node:fs/promises';
import type { Engine } from '../../lib';
import {
  Cleanup,
  inNs,
  ipJson,
  madeAhead,
  requireSandbox,
  run,
  threadsAway,
  waitFor,
} from '../helpers';
import { addrsIn, openEngine, ping } from './helpers';

async function sysctlIn(netns: string, key: string): Promise<string> {
  return (await inNs(netns, 'cat', [`/proc/sys/${key}`])).stdout.trim();
}

describe('engine: sandbox builders reuse their threads and make namespaces ahead', function () {
  this.timeout(60000);
  before(requireSandbox);
  const cleanup = new Cleanup();
  let engine: Engine;
  let dispose: () => Promise<void>;
  beforeEach(async () => {
    const e = await openEngine();
    engine = e.engine;
    dispose = e.dispose;
    cleanup.add('dispose engine', () => dispose());
    await engine.createNetwork({ name: 'bn', subnet: '10.214.0.0/24' });
  });
  afterEach(() => cleanup.run());

  it('the next sandbox gets the namespace made ahead, prepared as if made on the spot; no thread stays inside', async () => {
    await engine.createSandbox({ name: 'ba', network: 'bn' });
    let ahead: number[] = [];
    await waitFor('a namespace made ahead', async () => {
      ahead = await madeAhead();
      return ahead.length === 1;
    });
    const b = await engine.createSandbox({ name: 'bb', network: 'bn', publish: ['18181:80'] });
    assert.equal(
      (await stat('/run/netns/bb')).ino,
      ahead[0],
      'bb lives in the namespace made ahead',
    );
    for (const name of ['ba', 'bb']) {
      const links = await addrsIn(name);
      assert.ok(links.get('lo')!.flags.includes('UP'), `lo up in ${name}`);
      assert.ok(links.get('eth0')!.flags.includes('UP'), `eth0 up in ${name}`);
      // MACs derived from the address: no announcement (see networks.int.ts).
      assert.equal(await sysctlIn(name, 'net/ipv4/conf/eth0/arp_notify'), '0');
    }
    // One queue each way on both veth ends (see ONE_QUEUE in plumbing.ts).
    const queues = async (dev: string, netns?: string): Promise<number[]> => {
      const [l] = await ipJson<{ num_tx_queues: number; num_rx_queues: number }[]>(
        ['-d', 'link', 'show', 'dev', dev],
        netns,
      );
      return [l!.num_tx_queues, l!.num_rx_queues];
    };
    assert.deepEqual(await queues('eth0', 'bb'), [1, 1]);
    assert.deepEqual(await queues(b.endpoints[0]!.hostIfname), [1, 1]);
    assert.deepEqual(
      (await addrsIn('bb'))
        .get('eth0')!
        .addr_info.filter((a) => a.family === 'inet')
        .map((a) => `${a.local}/${a.prefixlen}`),
      [`${b.endpoints[0]!.ip}/24`],
    );
    const routes = await ipJson<{ dst: string; gateway?: string }[]>(['route', 'show'], 'bb');
    assert.ok(routes.some((r) => r.dst === 'default' && r.gateway === '10.214.0.1'));
    assert.ok(await ping('bb', (await engine.inspectSandbox('ba')).endpoints[0]!.ip));
    // Every thread is back in the host namespace (or was never elsewhere).
    assert.deepEqual(await threadsAway(), [], 'no thread left in a sandbox namespace');
    // Closing the engine gives back the namespace made ahead.
    await dispose();
    dispose = () => Promise.resolve();
    assert.deepEqual(await madeAhead(), [], 'nothing made ahead is held after close()');
  });

  it('a job that fails on a name clash leaves the builder ready: the next sandbox is made and works', async () => {
    await run('ip', ['netns', 'add', 'bclash']);
    cleanup.add('delete bclash', () => run('ip', ['netns', 'delete', 'bclash']));
    const clashIno = (await stat('/run/netns/bclash')).ino;
    await engine.createSandbox({ name: 'bok1', network: 'bn' });
    const linksBefore = (await ipJson<{ ifname: string }[]>(['link', 'show'])).map((l) => l.ifname);
    await assert.rejects(engine.createSandbox({ name: 'bclash', network: 'bn' }));
    assert.equal((await stat('/run/netns/bclash')).ino, clashIno, 'the foreign namespace stays');
    assert.deepEqual(
      (await ipJson<{ ifname: string }[]>(['link', 'show'])).map((l) => l.ifname),
      linksBefore,
      'no host end left behind',
    );
    assert.deepEqual(
      (await engine.listSandboxes()).map((s) => s.name),
      ['bok1'],
    );
    const ok2 = await engine.createSandbox({ name: 'bok2', network: 'bn' });
    assert.ok(await ping('bok1', ok2.endpoints[0]!.ip));
    assert.ok((await addrsIn('bok2')).get('lo')!.flags.includes('UP'));
  });

  it('40 sandboxes in a row on an IPv4-only network: IPv6 off on each eth0, on for lo, and no procfs mount left in the mount table', async () => {
    // The builders open each namespace's /proc/sys through a procfs
    // instance of their own, mounted nowhere, a new one every 32 sandboxes
    // (native/netns.h OpenPrivateProc): the writes must land in the right
    // namespace across that change, and nothing may show up mounted.
    const mounts = async (): Promise<string[]> =>
      (await readFile('/proc/self/mountinfo', 'utf8'))
        .split('\n')
        .filter((l) => / - proc /.test(l))
        .sort();
    const before = await mounts();
    const names = Array.from({ length: 40 }, (_, i) => `bv${i}`);
    for (const name of names) await engine.createSandbox({ name, network: 'bn' });
    for (const name of names) {
      assert.equal(await sysctlIn(name, 'net/ipv6/conf/eth0/disable_ipv6'), '1', `eth0 in ${name}`);
      assert.equal(await sysctlIn(name, 'net/ipv6/conf/lo/disable_ipv6'), '0', `lo in ${name}`);
    }
    assert.deepEqual(await mounts(), before);
  });

  it('with the trace option a creation reports its job in parts, measured on the builder thread', async () => {
    const seen: { phase: string; ms: number }[][] = [];
    let current: { phase: string; ms: number }[] = [];
    const traced = await openEngine({
      trace: (op, phase, ms) => {
        if (op === 'create') current.push({ phase, ms });
      },
    });
    cleanup.add('dispose the traced engine', () => traced.dispose());
    await traced.engine.createNetwork({ name: 'bt', subnet: '10.215.0.0/24' });
    for (let i = 0; i < 4; i++) {
      current = [];
      await traced.engine.createSandbox({
        name: `bt${i}`,
        network: 'bt',
        publish: [`${18200 + i}:80`],
      });
      seen.push(current);
    }
    current = [];
    await traced.engine.createSandbox({ name: 'bt-none', network: 'none' });
    const none = current;
    const parts = [
      'queued',
      'reserve',
      'netns',
      'veth',
      'ipv6',
      'bridge',
      'nft',
      'eth0',
      'aside',
      'files',
    ];
    for (const phases of seen) {
      const names = phases.map((p) => p.phase);
      for (const part of parts)
        assert.equal(
          names.filter((n) => n === `job.${part}`).length,
          1,
          `job.${part} once in ${names.join(' ')}`,
        );
      for (const p of phases) assert.ok(Number.isFinite(p.ms) && p.ms >= 0, `${p.phase}: ${p.ms}`);
      const ms = (name: string): number => phases.find((p) => p.phase === name)!.ms;
      // Kernel work and file writes take time: a clock that was not read would give 0.
      for (const part of ['veth', 'bridge', 'netns', 'aside'])
        assert.ok(ms(`job.${part}`) > 0, `job.${part} > 0`);
      // Disjoint stretches of the builder's time, all inside the job; the
      // aside files were written on another thread within it.
      const sum = phases
        .filter((p) => p.phase.startsWith('job.') && p.phase !== 'job.aside')
        .reduce((a, p) => a + p.ms, 0);
      assert.ok(
        sum <= ms('job') + 0.01,
        `parts ${sum.toFixed(3)} ms within the job's ${ms('job').toFixed(3)} ms`,
      );
      assert.ok(ms('job.aside') <= ms('job'), 'the aside files within the job');
    }
    // No endpoint: no veth, bridge port, eth0 or DNAT to measure.
    const noneNames = none.map((p) => p.phase).filter((n) => n.startsWith('job.'));
    assert.deepEqual(
      noneNames.filter((n) =>
        ['job.veth', 'job.bridge', 'job.eth0', 'job.nft', 'job.ipv6'].includes(n),
      ),
      [],
    );
    assert.ok(
      noneNames.includes('job.netns') && noneNames.includes('job.reserve'),
      noneNames.join(' '),
    );
  });

  it('12 creations in flight: each sandbox in its own namespace, none mode too, all reachable', async () => {
    const names = Array.from({ length: 12 }, (_, i) => `bp${i}`);
    const made = await Promise.all([
      ...names.map((name) => engine.createSandbox({ name, network: 'bn' })),
      engine.createSandbox({ name: 'bnone', network: 'none' }),
    ]);
    const inodes = await Promise.all(
      [...names, 'bnone'].map(async (n) => (await stat(`/run/netns/${n}`)).ino),
    );
    assert.equal(new Set(inodes).size, inodes.length, 'a namespace each');
    const none = await addrsIn('bnone');
    assert.deepEqual([...none.keys()], ['lo']);
    assert.ok(none.get('lo')!.flags.includes('UP'));
    for (let i = 0; i < names.length; i++) {
      const eth0 = (await addrsIn(names[i]!)).get('eth0')!;
      assert.equal(
        eth0.addr_info.find((a) => a.family === 'inet')?.local,
        made[i]!.endpoints[0]!.ip,
      );
    }
    assert.ok(await ping(names[0]!, made[11]!.endpoints[0]!.ip));
    assert.ok(await ping(names[11]!, made[5]!.endpoints[0]!.ip));
  });
});
