/**
 * Simulated hosts for the overlay tests and bench, all inside the test's
 * private namespace:
 *
 *   etcd on 127.0.0.1 (free ports, a temp data dir; stopped by its pid)
 *   an underlay "switch": bridge npul0, and per host a namespace npoh-I with
 *   eth0 = 192.168.77.(I+10)/24 joined to the switch by a veth
 *   per host an engine with hostNetns = that namespace and its own
 *   stateDir, netnsDir and etcDir
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { Etcd3 } from 'etcd3';

import { Engine, type NetworkSpec, type OverlayOptions } from '../../lib';
import { ROOT, ipJson, run, sleep, untilReady } from '../helpers';

export const ETCD = '/usr/bin/etcd';
export const UNDERLAY_BRIDGE = 'npul0';
export const CLUSTER = '10.244.0.0/16';

/** A port nobody listens on right now (on loopback). */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => {
        resolve(port);
      });
    });
  });
}

export interface EtcdServer {
  endpoint: string;
  pid: number;
  /** SIGTERM to our etcd (by pid), wait for it, remove its data */
  stop(): Promise<void>;
}

/** Starts a one-member etcd on loopback; resolves once it answers. */
export async function startEtcd(): Promise<EtcdServer> {
  const dir = await mkdtemp(path.join(tmpdir(), 'np-etcd-'));
  const [client, peer] = [await freePort(), await freePort()];
  const endpoint = `http://127.0.0.1:${client}`;
  const peerUrl = `http://127.0.0.1:${peer}`;
  const proc: ChildProcess = spawn(
    ETCD,
    [
      '--name',
      'np-test',
      '--data-dir',
      dir,
      '--listen-client-urls',
      endpoint,
      '--advertise-client-urls',
      endpoint,
      '--listen-peer-urls',
      peerUrl,
      '--initial-advertise-peer-urls',
      peerUrl,
      '--initial-cluster',
      `np-test=${peerUrl}`,
      '--log-level',
      'error',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  proc.stderr!.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const exited = new Promise<void>((resolve) =>
    proc.once('exit', () => {
      resolve();
    }),
  );
  const stop = async (): Promise<void> => {
    if (proc.exitCode === null && proc.signalCode === null) {
      process.kill(proc.pid!, 'SIGTERM');
      await exited;
    }
    await rm(dir, { recursive: true, force: true });
  };
  const probe = new Etcd3({ hosts: endpoint, dialTimeout: 1000 });
  try {
    const end = Date.now() + 30_000;
    for (;;) {
      if (proc.exitCode !== null) throw new Error(`etcd exited: ${stderr}`);
      try {
        await probe.get('np-probe').string();
        break;
      } catch {
        if (Date.now() > end) throw new Error(`etcd did not answer: ${stderr}`);
        await sleep(100);
      }
    }
  } catch (err) {
    probe.close();
    await stop();
    throw err;
  }
  probe.close();
  return { endpoint, pid: proc.pid!, stop };
}

export interface SimHost {
  /** 1-based */
  i: number;
  /** the host's namespace under /run/netns */
  ns: string;
  /** underlay address */
  ip: string;
  stateDir: string;
  netnsDir: string;
  etcDir: string;
}

export const hostIp = (i: number): string => `192.168.77.${i + 10}`;

/** The underlay switch (once per run). */
export async function makeUnderlay(): Promise<() => Promise<void>> {
  await run('ip', ['link', 'add', UNDERLAY_BRIDGE, 'type', 'bridge']);
  await run('ip', ['link', 'set', UNDERLAY_BRIDGE, 'up']);
  return async () => {
    await run('ip', ['link', 'del', UNDERLAY_BRIDGE]);
  };
}

/** One simulated host: namespace, underlay port, temp dirs. Returns it and its remover. */
export async function makeHost(i: number, tag: string): Promise<[SimHost, () => Promise<void>]> {
  const ns = `npoh-${tag}${i}`;
  const port = `npul${tag}${i}`;
  await run('ip', ['netns', 'add', ns]);
  await run('ip', ['link', 'add', port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
  await run('ip', ['link', 'set', port, 'master', UNDERLAY_BRIDGE, 'up']);
  await run('ip', ['-n', ns, 'addr', 'add', `${hostIp(i)}/24`, 'dev', 'eth0']);
  await run('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
  await run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
  const base = await mkdtemp(path.join('/run', `np-ovl-${ns}-`));
  const h: SimHost = {
    i,
    ns,
    ip: hostIp(i),
    stateDir: path.join(base, 'state'),
    netnsDir: path.join(base, 'netns'),
    etcDir: path.join(base, 'etc'),
  };
  await run('mkdir', ['-p', h.netnsDir, h.etcDir]);
  return [
    h,
    async () => {
      // Sandbox namespaces still mounted (a killed engine's) go first.
      const left = (await run('ls', [h.netnsDir]).catch(() => ({ stdout: '' }))).stdout
        .split('\n')
        .filter((x) => x);
      for (const n of left) await run('umount', [path.join(h.netnsDir, n)]).catch(() => undefined);
      // The engine made the directory a (shared) mount point of its own, as `ip netns` does.
      while (
        await run('umount', [h.netnsDir]).then(
          () => true,
          () => false,
        )
      );
      await run('ip', ['link', 'del', port]).catch(() => undefined);
      await run('ip', ['netns', 'del', ns]);
      await rm(base, { recursive: true, force: true });
    },
  ];
}

export function overlaySpec(
  endpoint: string,
  prefix: string,
  more: Partial<OverlayOptions> = {},
  cluster = CLUSTER,
): NetworkSpec {
  return {
    name: 'pods',
    driver: 'overlay',
    subnet: cluster,
    overlay: {
      etcd: { endpoints: [endpoint], prefix, ttl: 3 },
      underlay: { interface: 'eth0' },
      ...more,
    },
  };
}

export async function openHostEngine(h: SimHost): Promise<Engine> {
  return Engine.open({
    hostNetns: h.ns,
    stateDir: h.stateDir,
    netnsDir: h.netnsDir,
    etcDir: h.etcDir,
    dns: false,
  });
}

/** Removes what an in-process engine made on its host, then closes it. */
export async function disposeEngine(engine: Engine): Promise<void> {
  for (const s of await engine.listSandboxes().catch(() => []))
    await engine.removeSandbox(s.name).catch(() => undefined);
  for (const n of await engine.listNetworks().catch(() => []))
    await engine.removeNetwork(n.name).catch(() => undefined);
  await engine.close();
}

// ---- oracles (iproute2, in the host's namespace) ----

export interface IpRoute {
  dst: string;
  gateway?: string;
  dev?: string;
  flags?: string[];
}

export async function routesIn(ns: string): Promise<IpRoute[]> {
  return ipJson<IpRoute[]>(['-4', 'route', 'show'], ns);
}

export interface IpNeigh {
  dst: string;
  dev?: string;
  lladdr?: string;
  state?: string[];
}

export async function neighIn(ns: string, dev: string): Promise<IpNeigh[]> {
  return ipJson<IpNeigh[]>(['-4', 'neigh', 'show', 'dev', dev], ns);
}

export interface FdbEntry {
  mac: string;
  dst?: string;
  ifname?: string;
  flags?: string[];
  state?: string;
}

export async function fdbIn(ns: string, dev: string): Promise<FdbEntry[]> {
  const { stdout } = await run('bridge', ['-n', ns, '-j', 'fdb', 'show', 'dev', dev]);
  return JSON.parse(stdout.trim() === '' ? '[]' : stdout) as FdbEntry[];
}

/** A route to `subnet` in `ns`, or undefined. */
export async function routeTo(ns: string, subnet: string): Promise<IpRoute | undefined> {
  return (await routesIn(ns)).find((r) => r.dst === subnet);
}

/** Polls until `fn` holds; fails with `what` after `ms`. (A wait, not a timing assertion.) */
export async function until(what: string, fn: () => Promise<boolean>, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    if (await fn()) return;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

// ---- traffic (nsenter into a sandbox by its file: each engine has its own netnsDir) ----

const NET_TOOL = path.join(ROOT, 'dist', 'test', 'engine', 'net-tool.js');

export async function serveIn(nsFile: string, port: number): Promise<ChildProcess> {
  const child = spawn(
    'nsenter',
    [`--net=${nsFile}`, process.execPath, NET_TOOL, 'serve', 'tcp', String(port)],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  return untilReady(child);
}

/** Stops a process this test started, by its pid. */
export async function stopChild(
  child: ChildProcess,
  signal: NodeJS.Signals = 'SIGTERM',
): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise<void>((resolve) =>
    child.once('exit', () => {
      resolve();
    }),
  );
  process.kill(child.pid!, signal);
  await gone;
}

export async function tcpFrom(
  nsFile: string,
  host: string,
  port: number,
): Promise<{ ok: boolean; reply?: string; error?: string }> {
  const { stdout } = await run('nsenter', [
    `--net=${nsFile}`,
    process.execPath,
    NET_TOOL,
    'connect',
    'tcp',
    host,
    String(port),
    '3000',
  ]);
  return JSON.parse(stdout) as { ok: boolean; reply?: string; error?: string };
}

// ---- a host engine in its own process (so it can be SIGKILLed) ----

const HOST_TOOL = path.join(ROOT, 'dist', 'test', 'overlay', 'host-tool.js');

export interface HostProcess {
  child: ChildProcess;
  /** what the engine reported once its network was up */
  info: { hostSubnet: string; status: string; remotes: number };
}

export async function spawnHost(h: SimHost, spec: NetworkSpec): Promise<HostProcess> {
  const child = spawn(
    process.execPath,
    [HOST_TOOL, h.ns, h.stateDir, h.netnsDir, h.etcDir, JSON.stringify(spec)],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const info = await new Promise<HostProcess['info']>((resolve, reject) => {
    let buf = '';
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      const nl = buf.indexOf('\n');
      if (nl >= 0) resolve(JSON.parse(buf.slice(0, nl)) as HostProcess['info']);
    });
    child.once('exit', (code, sig) => {
      reject(new Error(`host tool exited ${code ?? sig}`));
    });
  });
  return { child, info };
}
