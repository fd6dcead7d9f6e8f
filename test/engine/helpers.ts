/** Engine test helpers: a fresh state directory per test, and oracles. */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile, readdir, rm } from 'node:fs/promises';
import path from 'node:path';

import { Engine, type EngineOptions } from '../../lib';
import { ROOT, ipJson, run, sleep, untilReady } from '../helpers';

let counter = 0;

/**
 * Resolver daemons (the CLI's) serving `stateDir`, by pid: a test that runs
 * a CLI command against an engine's state directory starts one.
 */
export async function daemons(stateDir: string): Promise<number[]> {
  const out: number[] = [];
  for (const d of await readdir('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const args = (await readFile(`/proc/${d}/cmdline`, 'utf8').catch(() => '')).split('\0');
    if (args.includes('dns-daemon') && args.includes(stateDir)) out.push(Number(d));
  }
  return out;
}

/**
 * Stops the resolver daemons of `stateDir` and waits until they have exited:
 * one still polling the directory writes into it while it is being removed.
 */
export async function stopDaemons(stateDir: string): Promise<void> {
  let pids = await daemons(stateDir);
  for (const pid of pids) process.kill(pid, 'SIGTERM');
  for (let i = 0; i < 100 && pids.length > 0; i++) {
    await sleep(50);
    pids = await daemons(stateDir);
  }
  if (pids.length > 0) throw new Error(`resolver daemons ${pids.join(', ')} did not exit`);
}

/** An engine with its own state directory under the sandbox's private /run. */
export async function openEngine(
  opts: EngineOptions = {},
): Promise<{ engine: Engine; stateDir: string; dispose: () => Promise<void> }> {
  const stateDir = `/run/np-test-${process.pid}-${++counter}`;
  const engine = await Engine.open({ stateDir, ...opts });
  return {
    engine,
    stateDir,
    dispose: async () => {
      // Remove what the test left (also after a failure), then the state.
      for (const s of await engine.listSandboxes().catch(() => []))
        await engine.removeSandbox(s.name).catch(() => undefined);
      for (const n of await engine.listNetworks().catch(() => []))
        await engine.removeNetwork(n.name).catch(() => undefined);
      await engine.prune().catch(() => undefined);
      await engine.close();
      await stopDaemons(stateDir);
      await rm(stateDir, { recursive: true, force: true });
    },
  };
}

export interface IpAddrInfo {
  ifname: string;
  mtu: number;
  address: string;
  flags: string[];
  addr_info: { family: string; local: string; prefixlen: number }[];
}

export async function addrsIn(netns: string): Promise<Map<string, IpAddrInfo>> {
  const list = await ipJson<IpAddrInfo[]>(['addr', 'show'], netns);
  return new Map(list.map((l) => [l.ifname, l]));
}

export async function ping(from: string, to: string): Promise<boolean> {
  try {
    await run('ip', ['netns', 'exec', from, 'ping', '-c', '1', '-W', '2', to]);
    return true;
  } catch {
    return false;
  }
}

/** A map of the engine's nftables table as `nft -j` prints it (e.g. dnat4_any, its published ports). */
export async function natMap(engine: Engine, map: string): Promise<string> {
  return (await run('nft', ['-j', 'list', 'map', 'inet', `netplumb_${engine.tag}`, map])).stdout;
}

/** Named namespaces right now (ip netns list). */
export async function netnsNames(): Promise<string[]> {
  return (await readdir('/run/netns')).sort();
}

/** Links in the test sandbox's root namespace, by name. */
export async function rootLinks(): Promise<string[]> {
  const list = await ipJson<{ ifname: string }[]>(['link', 'show']);
  return list.map((l) => l.ifname).sort();
}

const NET_TOOL = path.join(ROOT, 'dist', 'test', 'engine', 'net-tool.js');

/** An echo server inside `netns` (or this namespace when undefined); resolves once it listens. */
export async function serve(
  netns: string | undefined,
  proto: 'tcp' | 'udp',
  port: number,
  address?: string,
): Promise<ChildProcess> {
  const argv = [NET_TOOL, 'serve', proto, String(port), ...(address ? [address] : [])];
  const child = netns
    ? spawn('ip', ['netns', 'exec', netns, process.execPath, ...argv], {
        stdio: ['ignore', 'pipe', 'inherit'],
      })
    : spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'inherit'] });
  return untilReady(child);
}

export interface Attempt {
  ok: boolean;
  reply?: string;
  error?: string;
}

/** One bounded connection attempt from `netns` (this namespace when undefined). */
export async function attempt(
  netns: string | undefined,
  proto: 'tcp' | 'udp',
  host: string,
  port: number,
  ms = 1500,
  localPort?: number,
): Promise<Attempt> {
  const argv = [
    NET_TOOL,
    'connect',
    proto,
    host,
    String(port),
    String(ms),
    ...(localPort !== undefined ? [String(localPort)] : []),
  ];
  const { stdout } = netns
    ? await run('ip', ['netns', 'exec', netns, process.execPath, ...argv])
    : await run(process.execPath, argv);
  return JSON.parse(stdout) as Attempt;
}

/** Checks that state and kernel agree; returns a list of problems (empty: consistent). */
export async function consistency(engine: Engine, prefix: string): Promise<string[]> {
  const problems: string[] = [];
  const sandboxes = (await engine.listSandboxes()).filter((s) => s.name.startsWith(prefix));
  const allRecords = await readdir(path.join(engine.state.dir, 'sandboxes'));
  for (const f of allRecords) if (!f.endsWith('.json')) problems.push(`stray state file ${f}`);
  if (allRecords.length !== (await engine.listSandboxes()).length)
    problems.push('records not ready');
  const links = await ipJson<{ ifname: string; ifalias?: string }[]>(['link', 'show']);
  const names = new Set(links.map((l) => l.ifname));
  const netns = new Set(await readdir('/run/netns'));
  const hostEnds = new Set<string>();
  const held = new Set<string>();
  for (const s of sandboxes) {
    if (s.netns && !netns.has(s.netns)) problems.push(`${s.name}: namespace missing`);
    for (const e of s.endpoints) {
      hostEnds.add(e.hostIfname);
      held.add(`${e.network}/${e.ip}`);
      if (!names.has(e.hostIfname)) problems.push(`${s.name}: veth ${e.hostIfname} missing`);
    }
  }
  for (const l of links) {
    if (l.ifalias?.startsWith(`netplumb:${engine.tag}:ep:`) && !hostEnds.has(l.ifname))
      problems.push(`orphan veth ${l.ifname} (${l.ifalias})`);
  }
  for (const n of netns) {
    if (n.startsWith(prefix) && !sandboxes.some((s) => s.netns === n))
      problems.push(`orphan namespace ${n}`);
  }
  for (const net of await engine.listNetworks()) {
    for (const [addr, owner] of await engine.state.addresses(net.name)) {
      if (!held.has(`${net.name}/${addr}`))
        problems.push(`address ${net.name}/${addr} held by ${owner}, no sandbox has it`);
    }
  }
  const owners = new Set(sandboxes.map((s) => s.name));
  const ruleset = (await run('nft', ['list', 'ruleset'])).stdout;
  for (const m of ruleset.matchAll(/comment "sbx=([^"]+)"/g)) {
    if (!owners.has(m[1]!)) problems.push(`orphan nft element of ${m[1]}`);
  }
  return problems;
}
