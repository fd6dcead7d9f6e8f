/**
 * Multi-host networking against a real etcd and three simulated hosts
 * (namespaces on an underlay bridge, each with its own engine):
 * VXLAN and direct routing carry TCP between sandboxes on host 1 and host 3
 * with their own source addresses; a killed host's entries go when its lease
 * expires and it gets its subnet back when it returns; hosts starting
 * together never share a subnet.
 */
import assert from 'node:assert/strict';
import path from 'node:path';

import { Etcd3 } from 'etcd3';

import { ConflictError, ValidationError, type Engine, type Network } from '../../lib';
import { Cleanup, requireSandbox, run } from '../helpers';
import {
  disposeEngine,
  fdbIn,
  makeHost,
  makeUnderlay,
  neighIn,
  openHostEngine,
  overlaySpec,
  routeTo,
  routesIn,
  serveIn,
  spawnHost,
  startEtcd,
  stopChild,
  tcpFrom,
  until,
  type EtcdServer,
  type HostProcess,
  type SimHost,
} from './cluster';

const vtepOf = (subnet: string): string => subnet.split('/')[0]!;

describe('overlay: multi-host networks over etcd', function () {
  this.timeout(180_000);
  const suite = new Cleanup();
  let etcd: EtcdServer;
  let kv: Etcd3;

  before(async function () {
    requireSandbox();
    etcd = await startEtcd();
    suite.add('etcd', () => etcd.stop());
    kv = new Etcd3({ hosts: etcd.endpoint });
    suite.add('etcd client', () => {
      kv.close();
      return Promise.resolve();
    });
    suite.add('underlay', await makeUnderlay());
  });
  after(() => suite.run());

  for (const backend of ['vxlan', 'direct'] as const) {
    describe(`three hosts, ${backend} backend`, function () {
      const cleanup = new Cleanup();
      const hosts: SimHost[] = [];
      const engines = new Map<number, Engine>();
      let h2: HostProcess | undefined;
      const prefix = `/np-test/${backend}`;
      const spec = (): ReturnType<typeof overlaySpec> =>
        overlaySpec(etcd.endpoint, prefix, { backend });
      let nets: Map<number, Network>;

      before(async function () {
        for (const i of [1, 2, 3]) {
          const [h, remove] = await makeHost(i, backend[0]!);
          hosts.push(h);
          cleanup.add(`host ${i}`, remove);
        }
        nets = new Map();
        for (const i of [1, 3]) {
          const e = await openHostEngine(hosts[i - 1]!);
          engines.set(i, e);
          cleanup.add(`engine ${i}`, () => disposeEngine(e));
        }
        cleanup.add('host 2 engine', async () => {
          if (h2) await stopChild(h2.child);
        });
        const [n1, started2, n3] = await Promise.all([
          engines.get(1)!.createNetwork(spec()),
          spawnHost(hosts[1]!, spec()),
          engines.get(3)!.createNetwork(spec()),
        ]);
        h2 = started2;
        nets.set(1, n1).set(3, n3);
      });
      after(() => cleanup.run());

      const subnetOf = (i: number): string =>
        i === 2 ? h2!.info.hostSubnet : nets.get(i)!.overlay!.hostSubnet;

      it('leases three distinct subnets of the cluster CIDR, recorded in etcd', async function () {
        const subnets = [1, 2, 3].map(subnetOf);
        assert.equal(new Set(subnets).size, 3, subnets.join(' '));
        for (const s of subnets) assert.match(s, /^10\.244\.\d+\.0\/24$/);
        const keys = await kv.getAll().prefix(`${prefix}/pods/subnets/`).strings();
        assert.deepEqual(
          Object.keys(keys)
            .map((k) => k.slice(`${prefix}/pods/subnets/`.length))
            .sort(),
          subnets.map((s) => s.replace('/', '-')).sort(),
        );
        for (const i of [1, 2, 3]) {
          const v = JSON.parse(
            keys[`${prefix}/pods/subnets/${subnetOf(i).replace('/', '-')}`]!,
          ) as {
            publicIp: string;
            vtepMac: string;
          };
          assert.equal(v.publicIp, hosts[i - 1]!.ip);
          assert.match(v.vtepMac, /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
        }
        // The host's subnet is on its bridge, in its own namespace (not ours).
        const n1 = nets.get(1)!;
        const addrs = await run('ip', ['-n', hosts[0]!.ns, '-j', 'addr', 'show', 'dev', n1.bridge]);
        assert.match(addrs.stdout, new RegExp(`"local":"${n1.gateway}","prefixlen":24`));
        assert.equal(
          (await run('ip', ['-j', 'link', 'show'])).stdout.includes(n1.bridge),
          false,
          'the bridge is not in the test namespace',
        );
      });

      it('programs every remote host (oracle: ip -j route/neigh, bridge -j fdb)', async function () {
        for (const i of [1, 3]) {
          const h = hosts[i - 1]!;
          await until(`host ${i} routes`, async () => {
            for (const j of [1, 2, 3])
              if (j !== i && !(await routeTo(h.ns, subnetOf(j)))) return false;
            return true;
          });
          const net = nets.get(i)!;
          for (const j of [1, 2, 3]) {
            if (j === i) continue;
            const r = (await routeTo(h.ns, subnetOf(j)))!;
            if (backend === 'vxlan') {
              assert.equal(r.gateway, vtepOf(subnetOf(j)));
              assert.equal(r.dev, net.overlay!.vxlan);
              assert.ok(r.flags?.includes('onlink'), JSON.stringify(r));
            } else {
              assert.equal(r.gateway, hosts[j - 1]!.ip);
              assert.equal(r.dev, 'eth0');
            }
          }
          if (backend === 'vxlan') {
            const vx = net.overlay!.vxlan!;
            const link = JSON.parse(
              (await run('ip', ['-n', h.ns, '-j', '-d', 'link', 'show', 'dev', vx])).stdout,
            ) as {
              mtu: number;
              linkinfo: { info_data: { id: number; learning: boolean; port: number } };
            }[];
            assert.equal(link[0]!.mtu, 1450, 'underlay MTU 1500 less 50');
            assert.equal(link[0]!.linkinfo.info_data.id, 1);
            assert.equal(link[0]!.linkinfo.info_data.learning, false);
            assert.equal(link[0]!.linkinfo.info_data.port, 4789);
            const neigh = await neighIn(h.ns, vx);
            const fdb = (await fdbIn(h.ns, vx)).filter((f) => f.mac !== '00:00:00:00:00:00');
            for (const j of [1, 2, 3]) {
              if (j === i) continue;
              const n = neigh.find((x) => x.dst === vtepOf(subnetOf(j)));
              assert.ok(
                n?.state?.includes('PERMANENT'),
                `ARP for host ${j}: ${JSON.stringify(neigh)}`,
              );
              const f = fdb.find((x) => x.mac === n?.lladdr);
              assert.equal(f?.dst, hosts[j - 1]!.ip, `FDB for host ${j}: ${JSON.stringify(fdb)}`);
              assert.ok(f.flags?.includes('self'), JSON.stringify(f));
            }
            assert.equal(neigh.length, 2);
            assert.equal(fdb.length, 2);
          } else {
            assert.equal(net.overlay!.vxlan, undefined);
            assert.equal(net.mtu, 1500);
          }
        }
      });

      it('carries TCP between sandboxes on host 1 and host 3 with their own source addresses', async function () {
        const [e1, e3] = [engines.get(1)!, engines.get(3)!];
        const s1 = await e1.createSandbox({ name: 'web1', network: 'pods' });
        const s3 = await e3.createSandbox({ name: 'web3', network: 'pods' });
        const ip1 = s1.endpoints[0]!.ip;
        const ip3 = s3.endpoints[0]!.ip;
        assert.ok(ip1.startsWith(vtepOf(subnetOf(1)).replace(/\.0$/, '.')), ip1);
        assert.ok(ip3.startsWith(vtepOf(subnetOf(3)).replace(/\.0$/, '.')), ip3);
        const f1 = path.join(hosts[0]!.netnsDir, 'web1');
        const f3 = path.join(hosts[2]!.netnsDir, 'web3');
        const srv3 = await serveIn(f3, 8080);
        const srv1 = await serveIn(f1, 8080);
        try {
          const a = await tcpFrom(f1, ip3, 8080);
          assert.deepEqual(a, { ok: true, reply: `from ${ip1}` });
          const b = await tcpFrom(f3, ip1, 8080);
          assert.deepEqual(b, { ok: true, reply: `from ${ip3}` });
        } finally {
          await stopChild(srv1);
          await stopChild(srv3);
        }
        // Masquerade only for what leaves the cluster CIDR.
        const ruleset = (await run('ip', ['netns', 'exec', hosts[0]!.ns, 'nft', 'list', 'ruleset']))
          .stdout;
        assert.match(
          ruleset,
          new RegExp(
            `ip saddr ${subnetOf(1)} ip daddr != 10\\.244\\.0\\.0/16 oifname != "[^"]+" masquerade`,
          ),
        );
        await e1.removeSandbox('web1');
        await e3.removeSandbox('web3');
      });

      it("removes a killed host's route, ARP and FDB entries when its lease expires; it gets its subnet back", async function () {
        const dead = subnetOf(2);
        const deadMac = async (ns: string, vx: string): Promise<string | undefined> =>
          (await neighIn(ns, vx)).find((n) => n.dst === vtepOf(dead))?.lladdr;
        const mac =
          backend === 'vxlan'
            ? await deadMac(hosts[0]!.ns, nets.get(1)!.overlay!.vxlan!)
            : undefined;
        if (backend === 'vxlan') assert.ok(mac);
        // The host dies: no goodbye, no revoke; etcd expires the lease after its TTL (3 s).
        await stopChild(h2!.child, 'SIGKILL');
        for (const i of [1, 3]) {
          const h = hosts[i - 1]!;
          await until(`host ${i} forgetting host 2`, async () => !(await routeTo(h.ns, dead)));
          if (backend === 'vxlan') {
            const vx = nets.get(i)!.overlay!.vxlan!;
            await until(`host ${i} ARP/FDB`, async () => (await deadMac(h.ns, vx)) === undefined);
            assert.equal(
              (await fdbIn(h.ns, vx)).some((f) => f.mac === mac),
              false,
            );
            assert.equal((await neighIn(h.ns, vx)).length, 1);
          }
          // The other live host is still there.
          assert.ok(await routeTo(h.ns, subnetOf(i === 1 ? 3 : 1)));
        }
        // Host 2 still has its bridge and routes (its kernel did not die) ...
        assert.ok((await routesIn(hosts[1]!.ns)).some((r) => r.dst === dead));
        // ... and its engine, restarted on the same state directory, reclaims its subnet.
        h2 = await spawnHost(hosts[1]!, spec());
        assert.equal(h2.info.hostSubnet, dead);
        assert.equal(h2.info.status, 'up');
        for (const i of [1, 3])
          await until(
            `host ${i} learning host 2 again`,
            async () => !!(await routeTo(hosts[i - 1]!.ns, dead)),
          );
        if (backend === 'vxlan')
          assert.equal(
            await deadMac(hosts[0]!.ns, nets.get(1)!.overlay!.vxlan!),
            mac,
            'same VTEP MAC',
          );
      });

      it('a removed network gives its lease back at once and leaves no kernel state', async function () {
        const e3 = engines.get(3)!;
        const vx = nets.get(3)!.overlay!.vxlan;
        await e3.removeNetwork('pods');
        await until(
          'host 1 forgetting host 3',
          async () => !(await routeTo(hosts[0]!.ns, subnetOf(3))),
        );
        const left = (await routesIn(hosts[2]!.ns)).filter((r) => r.dst.startsWith('10.244.'));
        assert.deepEqual(left, []);
        if (vx) {
          const links = (await run('ip', ['-n', hosts[2]!.ns, '-j', 'link', 'show'])).stdout;
          assert.equal(links.includes(vx), false);
        }
        const ruleset = (await run('ip', ['netns', 'exec', hosts[2]!.ns, 'nft', 'list', 'ruleset']))
          .stdout;
        assert.equal(ruleset.includes('10.244.'), false, ruleset);
      });
    });
  }

  describe('lease contention', function () {
    const cleanup = new Cleanup();
    after(() => cleanup.run());

    it('engines starting at once never get the same subnet; one too many is refused', async function () {
      const N = 8;
      const hosts: SimHost[] = [];
      for (let i = 1; i <= N + 1; i++) {
        const [h, remove] = await makeHost(i, 'c');
        hosts.push(h);
        cleanup.add(`host ${i}`, remove);
      }
      const engines: Engine[] = [];
      for (const h of hosts) {
        const e = await openHostEngine(h);
        engines.push(e);
        cleanup.add(`engine ${h.i}`, () => disposeEngine(e));
      }
      // A /21 holds exactly eight /24s: all eight hosts race for all of them.
      const spec = overlaySpec(etcd.endpoint, '/np-test/contention', {}, '10.245.0.0/21');
      const nets = await Promise.all(engines.slice(0, N).map((e) => e.createNetwork(spec)));
      const subnets = nets.map((n) => n.overlay!.hostSubnet);
      assert.equal(new Set(subnets).size, N, subnets.join(' '));
      const keys = await kv.getAll().prefix('/np-test/contention/pods/subnets/').keys();
      assert.equal(keys.length, N);
      await assert.rejects(engines[N]!.createNetwork(spec), (err: unknown) => {
        assert.ok(err instanceof ConflictError, String(err));
        assert.equal(err.field, 'subnet');
        return true;
      });
      // The refused host left nothing behind.
      assert.deepEqual(await engines[N]!.listNetworks(), []);
      // Every host reaches every other: 7 routes each.
      for (const h of hosts.slice(0, N)) {
        await until(`routes on ${h.ns}`, async () => {
          const r = await routesIn(h.ns);
          return r.filter((x) => x.dst.startsWith('10.245.') && x.gateway).length === N - 1;
        });
      }
    });
  });

  describe('validation and agreement', function () {
    const cleanup = new Cleanup();
    let engine: Engine;
    let host: SimHost;
    before(async function () {
      const [h, remove] = await makeHost(1, 'x');
      host = h;
      cleanup.add('host', remove);
      engine = await openHostEngine(h);
      cleanup.add('engine', () => disposeEngine(engine));
    });
    after(() => cleanup.run());

    it('refuses bad specs naming the field, before etcd or the kernel', async function () {
      const base = overlaySpec('http://127.0.0.1:1', '/np-test/bad');
      const bad: [string, Record<string, unknown>][] = [
        ['subnet', { subnet: undefined }],
        ['subnet', { subnet: '10.244.0.1/16' }],
        ['overlay', { overlay: undefined }],
        ['overlay.backend', { overlay: { ...base.overlay, backend: 'geneve' } }],
        ['overlay.vni', { overlay: { ...base.overlay, vni: 1 << 24 } }],
        ['overlay.port', { overlay: { ...base.overlay, port: 0 } }],
        ['overlay.hostSubnetLength', { overlay: { ...base.overlay, hostSubnetLength: 16 } }],
        ['overlay.etcd.endpoints', { overlay: { ...base.overlay, etcd: { endpoints: [] } } }],
        [
          'overlay.etcd.endpoints[0]',
          { overlay: { ...base.overlay, etcd: { endpoints: ['etcd:2379'] } } },
        ],
        [
          'overlay.etcd.ttl',
          { overlay: { ...base.overlay, etcd: { endpoints: ['http://a:1'], ttl: 1 } } },
        ],
        [
          'overlay.etcd.prefix',
          { overlay: { ...base.overlay, etcd: { endpoints: ['http://a:1'], prefix: 'x/' } } },
        ],
        [
          'overlay.underlay.interface',
          { overlay: { ...base.overlay, underlay: { interface: 'a/b' } } },
        ],
        ['gateway', { gateway: '10.244.0.1' }],
        ['internal', { internal: true }],
        ['ipv6', { ipv6: true }],
        ['driver', { driver: 'macvlan' }],
      ];
      for (const [field, patch] of bad) {
        await assert.rejects(engine.createNetwork({ ...base, ...patch }), (err: unknown) => {
          assert.ok(err instanceof ValidationError, `${field}: ${String(err)}`);
          assert.equal(err.field, field);
          return true;
        });
      }
      await assert.rejects(
        engine.createNetwork({ name: 'b', subnet: '10.9.0.0/24', overlay: base.overlay }),
        (err: unknown) => err instanceof ValidationError && err.field === 'overlay',
      );
      // A missing underlay interface is found out by reading the host, still before anything is made.
      await assert.rejects(
        engine.createNetwork(
          overlaySpec(etcd.endpoint, '/np-test/bad2', { underlay: { interface: 'nope0' } }),
        ),
        (err: unknown) =>
          err instanceof ValidationError && err.field === 'overlay.underlay.interface',
      );
      assert.deepEqual(await engine.listNetworks(), []);
      assert.deepEqual(
        (await routesIn(host.ns)).map((r) => r.dst),
        ['192.168.77.0/24'],
      );
    });

    it('refuses settings that disagree with the cluster in etcd', async function () {
      await kv.put('/np-test/agree/pods/config').value(
        JSON.stringify({
          cluster: '10.244.0.0/16',
          hostSubnetLength: 24,
          backend: 'vxlan',
          vni: 7,
          port: 4789,
        }),
      );
      await assert.rejects(
        engine.createNetwork(overlaySpec(etcd.endpoint, '/np-test/agree')),
        (err: unknown) => err instanceof ConflictError && err.field === 'overlay.vni',
      );
      assert.deepEqual(await engine.listNetworks(), []);
    });
  });
});
