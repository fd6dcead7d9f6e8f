/**
 * Engine: Docker's network model over netplumb's kernel API.
 *
 *   const engine = await Engine.open({ stateDir: '/run/netplumb' });
 *   await engine.createNetwork({ name: 'app', subnet: '10.89.0.0/24' });
 *   const web = await engine.createSandbox({ name: 'web', network: 'app', publish: ['8080:80'] });
 *
 * Every change is recorded in the state directory before the kernel is
 * touched, so a crash leaves a trace `prune` can finish; a failure halfway
 * rolls back what was made.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import { performance } from 'node:perf_hooks';

import type { FsOp, FsResult, NativeStep } from '../binding';
import { ConflictError, NotFoundError, ValidationError } from '../errors';
import { NETNS_RUN_DIR, NetNS } from '../netns';
import { Rtnl } from '../rtnl';
import * as sysctl from '../sysctl';
import { parseIp } from '../util/ip';
import { HostResolvConf, RESOLVED_CONF, removeSandboxFileOps, sandboxFileOps } from './files';
import type { Firewall } from './firewall';
import { openFirewall } from './nft-firewall';
import { parseExpose, parsePublish, releasePorts, reservePorts, type PortRequest } from './ports';
import {
  candidates,
  contains,
  fromBig,
  hostRange,
  ipToBig,
  overlaps,
  parseSubnet,
  pickSubnet,
  toBig,
  ulaFor,
  type Subnet,
} from './ipam';
import { listOf, validateHostname, validateLabels, validateName } from './names';
import {
  attachEndpoint,
  createBridge,
  runSandboxJob,
  SandboxBuilders,
  type EndpointPlan,
  type SandboxJobResult,
  type SandboxRest,
  deleteLink,
  deleteNetns,
  IPV6_MIN_MTU,
  openSandboxNetns,
  replaceDefaultRoute,
  type SandboxHandle,
} from './plumbing';
import {
  toNetwork,
  toSandbox,
  type EndpointRecord,
  type NetworkRecord,
  type SandboxRecord,
} from './records';
import { loadDnsService } from '../dns/load';
import type { DnsService } from '../dns/service';
import { OperationLocks } from './locks';
import { HOSTS_MARKER, prune } from './prune';
import { FsBatch, StateStore } from './state';
import type {
  ConnectOptions,
  Endpoint,
  Network,
  NetworkSpec,
  PortMapping,
  PruneReport,
  Sandbox,
  SandboxSpec,
} from './types';
import { LinkWatcher } from './watcher';
import { openHostNetns } from './hostns';
import { OverlayDriver } from './overlay/driver';
import { formatMac, macFromIpv4, parseUnicastMac } from '../util/ip';
import { Turns } from '../util/turns';
import { randomHex } from '../util/random';

/** How {@link Engine.open} sets up an engine. Every path must be absolute. */
export interface EngineOptions {
  /**
   * manage nftables (masquerade, isolation, port publishing); default true.
   * false is like Docker's `iptables: false`: ports cannot be published.
   */
  firewall?: boolean;
  /** where records live (default /run/netplumb) */
  stateDir?: string;
  /** where named namespaces live (default /run/netns, as `ip netns`) */
  netnsDir?: string;
  /** where per-sandbox /etc files live (default /etc/netns, as `ip netns exec`) */
  etcDir?: string;
  /**
   * run the embedded DNS resolver of user-defined networks in this process
   * (default true). false when another process serves it (the CLI's daemon).
   */
  dns?: boolean;
  /** the host resolver configuration: upstreams, search domains (default /etc/resolv.conf) */
  resolvConf?: string;
  /**
   * systemd-resolved's list of upstreams (default
   * /run/systemd/resolve/resolv.conf), which sandboxes' resolv.conf is
   * made from when `resolvConf` names only its stub, 127.0.0.53 (as Docker)
   */
  resolvedConf?: string;
  /**
   * called with the time each phase of a sandbox's creation or removal took,
   * in milliseconds (for profiling: see bench/micro.ts). A creation's `job`
   * phase is also reported in parts, as its builder thread measured them:
   * `job.queued`, `job.reserve`, `job.netns`, `job.veth`, `job.ipv6`,
   * `job.bridge`, `job.nft`, `job.eth0`, `job.files` (those that ran; what
   * `job` has beyond their sum is hand-overs between threads)
   */
  trace?: (op: 'create' | 'remove', phase: string, ms: number) => void;
  /**
   * The namespace this engine treats as the host: where bridges, the host
   * ends of veths, VXLAN devices, routes, the firewall table, sysctls and
   * port probes go. A NetNS, an `ip netns` name (under /run/netns) or an
   * absolute nsfs path; default this process's own. One process can so
   * drive several simulated hosts. The embedded DNS resolver binds its
   * sockets in this process's namespace, so with another host namespace
   * `dns` defaults to false and `dns: true` is refused.
   */
  hostNetns?: NetNS | string;
}

type Mark = (phase: string) => void;

/**
 * Docker's refusals on its default network (`docker run --network bridge
 * --ip/--ip6/--network-alias`, `docker network connect` alike): addresses
 * there are the IPAM's alone, and it has no DNS to hold an alias.
 */
function refuseOnDefault(spec: { ip?: unknown; ip6?: unknown }, aliases: readonly unknown[]): void {
  for (const field of ['ip', 'ip6'] as const) {
    if (spec[field] !== undefined)
      throw new ValidationError(
        field,
        'user specified IP address is supported on user defined networks only',
      );
  }
  if (aliases.length > 0)
    throw new ValidationError(
      'aliases',
      'network-scoped alias is supported only for containers in user defined networks',
    );
}
const noMark: Mark = () => undefined;

const RESERVED = new Set(['bridge', 'host', 'none', 'default']);
const DEFAULT_NETWORK = 'bridge';
const DEFAULT_BRIDGE = 'np0';
const DEFAULT_SUBNET = '172.17.0.0/16';
/** how long a removal waits for the kernel to reap a veth before deleting it itself */
const REAP_TIMEOUT_MS = 1000;

const newId = (): string => randomHex(16);

/** The address space a network claims on this host: an overlay claims its whole cluster CIDR. */
function subnetsOf(n: NetworkRecord): Subnet[] {
  if (n.overlay) return [parseSubnet(n.overlay.cluster, 'subnet')];
  return [
    parseSubnet(n.subnet, 'subnet'),
    ...(n.subnet6 ? [parseSubnet(n.subnet6, 'subnet6')] : []),
  ];
}
const now = (): string => new Date().toISOString();

type Undo = (() => Promise<unknown>)[];

/** An address being picked on a network (see Engine.reserve). */
interface AddressPick {
  family: 4 | 6;
  field: 'ip' | 'ip6';
  subnet: Subnet;
  /** candidates after the cursor; absent for a given address */
  gen?: Generator<bigint>;
  /** the candidates tried in this round */
  window: bigint[];
  /** index of this pick's operation in the round's batch */
  op: number;
  got?: string;
}

/** A reservation step of a sandbox job, with what takes it back. */
interface JobStep {
  step: NativeStep;
  undo?: FsOp;
}

async function unwind(undo: Undo): Promise<void> {
  for (const step of undo.reverse()) {
    try {
      await step();
    } catch {
      // Best effort: prune finishes what rollback could not.
    }
  }
}

/**
 * Docker's network model over netplumb's kernel calls: networks (a bridge,
 * its subnet and firewall state), sandboxes (network namespaces) in the
 * bridge, host, container and none modes, endpoints joining them, published
 * ports and DNS by name. State lives in `stateDir`; several processes may
 * share it. Open with {@link Engine.open}.
 */
export class Engine {
  /** @internal */ readonly state: StateStore;
  /** @internal */ readonly netnsDir: string;
  /** @internal */ readonly etcDir: string;
  /** short tag naming this engine's objects in link aliases and rule comments */
  readonly tag: string;
  /** network id -> its bridge's ifindex */
  private readonly bridgeIndex = new Map<string, number>();
  /**
   * ready networks by name, as last read: createSandbox's fast path trusts
   * them, and its job reads the record again to check
   */
  private readonly networkCache = new Map<string, NetworkRecord>();
  /** creations in flight together start in turns of the event loop of their own */
  private readonly turns = new Turns();
  /** network id/family -> last address handed out by this process */
  private readonly cursors = new Map<string, bigint | undefined>();
  private readonly parsedSubnets = new Map<string, { subnet: Subnet; gateway: bigint }>();
  /** networks (name -> id) whose cursor moved since it was last persisted */
  private readonly dirtyCursors = new Map<string, string>();
  private readonly resolv: HostResolvConf;
  private readonly watcher: LinkWatcher;
  private closed = false;
  /**
   * Operations on sandboxes, one at a time per sandbox, and none while a
   * prune runs, across every engine on the state directory (see locks.ts)
   * @internal
   */
  readonly locks: OperationLocks;
  /** the embedded resolver, when this process runs it (see lib/dns) @internal */
  dns: DnsService | undefined;
  /** multi-host networks (driver 'overlay'): subnet leases and the data plane @internal */
  readonly overlay: OverlayDriver;
  /** the threads that build sandboxes */
  private readonly builders: SandboxBuilders;

  private constructor(
    /** @internal */ readonly host: Rtnl,
    /** @internal the namespace this engine treats as the host */ readonly hostNs: NetNS,
    /** @internal */ readonly firewall: Firewall | undefined,
    opts: Required<Omit<EngineOptions, 'hostNetns' | 'trace'>>,
    private readonly trace?: EngineOptions['trace'],
  ) {
    this.state = new StateStore(opts.stateDir);
    this.locks = new OperationLocks(this.state);
    this.netnsDir = opts.netnsDir;
    this.etcDir = opts.etcDir;
    this.tag = createHash('sha256').update(path.resolve(opts.stateDir)).digest('hex').slice(0, 8);
    this.watcher = new LinkWatcher(host);
    this.builders = new SandboxBuilders(host);
    this.resolv = new HostResolvConf(opts.resolvConf, opts.resolvedConf);
    this.overlay = new OverlayDriver(this);
  }

  /** Opens (creating if needed) the state directory and the kernel handles. */
  static async open(opts: EngineOptions = {}): Promise<Engine> {
    const full: Required<Omit<EngineOptions, 'hostNetns' | 'trace'>> = {
      firewall: opts.firewall !== false,
      dns: opts.dns !== false,
      resolvConf: opts.resolvConf ?? '/etc/resolv.conf',
      resolvedConf: opts.resolvedConf ?? RESOLVED_CONF,
      stateDir: opts.stateDir ?? '/run/netplumb',
      netnsDir: opts.netnsDir ?? NETNS_RUN_DIR,
      etcDir: opts.etcDir ?? '/etc/netns',
    };
    for (const k of ['stateDir', 'netnsDir', 'etcDir', 'resolvConf', 'resolvedConf'] as const) {
      if (typeof full[k] !== 'string' || !path.isAbsolute(full[k]))
        throw new ValidationError(k, 'must be an absolute path');
    }
    // Sandboxes' paths are these with a slash and a name (see StateStore.root).
    full.netnsDir = path.resolve(full.netnsDir);
    full.etcDir = path.resolve(full.etcDir);
    const { ns: hostNs, foreign } = await openHostNetns(opts.hostNetns);
    let host: Rtnl | undefined;
    let firewall: Firewall | undefined;
    let engine: Engine | undefined;
    try {
      if (foreign) {
        if (opts.dns === true)
          throw new ValidationError(
            'dns',
            "the embedded resolver binds in this process's namespace, not in hostNetns: use dns: false (or run one per host namespace, like the CLI's daemon)",
          );
        full.dns = false;
      }
      // A foreign host namespace: every handle is opened there (handle-at-namespace).
      host = await Rtnl.open(foreign ? hostNs : undefined);
      if (full.firewall) {
        firewall = await openFirewall(
          createHash('sha256').update(path.resolve(full.stateDir)).digest('hex').slice(0, 8),
          path.resolve(full.stateDir) === '/run/netplumb',
          foreign ? hostNs : undefined,
        );
      }
      engine = new Engine(host, hostNs, firewall, full, opts.trace);
      await engine.state.init();
      await engine.locks.open();
      if (full.dns) {
        engine.dns = new (loadDnsService())(engine.state, { resolvConf: full.resolvConf });
        await engine.dns.start();
      }
      await engine.overlay.resume();
      return engine;
    } catch (err) {
      if (engine) await engine.close();
      else {
        await firewall?.close();
        await host?.close();
        await hostNs.close();
      }
      throw err;
    }
  }

  /** Whether br_netfilter is loaded, as the host namespace sees it (its sysctls exist). */
  private async brNetfilter(): Promise<boolean> {
    try {
      await sysctl.get(
        'net.bridge.bridge-nf-call-iptables',
        this.host.netns ? { netns: this.hostNs } : {},
      );
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Sets a sysctl as the host namespace sees it. Equivalent to
   * `ip netns exec HOST sysctl -w KEY=VALUE`. @internal
   */
  async hostSysctl(key: string, value: string): Promise<void> {
    await sysctl.set(key, value, this.host.netns ? { netns: this.hostNs } : {});
  }

  /** Releases the kernel handles. State and kernel objects stay. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.overlay.close();
    await this.watcher.close();
    await this.dns?.close();
    await this.firewall?.close();
    await this.builders.close();
    await this.host.close();
    await this.hostNs.close();
    this.locks.close();
  }

  // ---- owners ----

  /** @internal */ aliasOf(kind: 'net' | 'ep', ...parts: string[]): string {
    return ['netplumb', this.tag, kind, ...parts].join(':');
  }

  // ---- networks ----

  /** Equivalent to `docker network create [--subnet] [--gateway] [-o mtu] [--internal] [--ipv6] NAME`. */
  async createNetwork(spec: NetworkSpec): Promise<Network> {
    const rec = this.validateNetwork(spec);
    if (RESERVED.has(rec.name))
      throw new ValidationError('name', `"${rec.name}" is a predefined network name`);
    const unlock = await this.state.lock('networks', true);
    try {
      const built = await this.buildNetwork(rec, spec.subnet === undefined, spec.mtu !== undefined);
      return toNetwork(built, [], this.overlay.info(built));
    } finally {
      unlock();
    }
  }

  private validateNetwork(spec: NetworkSpec): NetworkRecord {
    if (typeof spec !== 'object' || spec === null)
      throw new ValidationError('network', 'must be an object');
    const name = validateName(spec.name, 'name');
    const id = newId();
    const mtu = spec.mtu === undefined ? 1500 : spec.mtu;
    if (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535)
      throw new ValidationError('mtu', 'must be an integer from 68 to 65535');
    for (const f of ['internal', 'icc', 'ipv6'] as const) {
      if (spec[f] !== undefined && typeof spec[f] !== 'boolean')
        throw new ValidationError(f, 'must be true or false');
    }
    const rec: NetworkRecord = {
      name,
      id,
      bridge: `np-${id.slice(0, 8)}`,
      subnet: '',
      gateway: '',
      mtu,
      internal: spec.internal === true,
      icc: spec.icc !== false,
      labels: validateLabels(spec.labels, 'labels'),
      default: false,
      created: now(),
      state: 'creating',
    };
    const driver = spec.driver ?? 'bridge';
    if (driver !== 'bridge' && driver !== 'overlay')
      throw new ValidationError('driver', "must be 'bridge' or 'overlay'");
    if (driver === 'overlay') {
      this.overlay.validate(spec, rec);
      return rec;
    }
    if (spec.overlay !== undefined)
      throw new ValidationError('overlay', "overlay options need driver: 'overlay'");
    if (spec.subnet !== undefined) {
      const s = parseSubnet(spec.subnet, 'subnet', 4);
      rec.subnet = s.text;
      rec.gateway = this.gatewayFor(s, spec.gateway, 'gateway');
    } else if (spec.gateway !== undefined) {
      throw new ValidationError('gateway', 'needs a subnet');
    }
    if (spec.ipv6 === true || spec.subnet6 !== undefined) {
      if (mtu < IPV6_MIN_MTU)
        throw new ValidationError('mtu', `must be at least ${IPV6_MIN_MTU} on a network with IPv6`);
      const s6 = spec.subnet6 !== undefined ? parseSubnet(spec.subnet6, 'subnet6', 6) : ulaFor(id);
      rec.subnet6 = s6.text;
      rec.gateway6 = this.gatewayFor(s6, spec.gateway6, 'gateway6');
    } else if (spec.gateway6 !== undefined) {
      throw new ValidationError('gateway6', 'needs ipv6 and subnet6');
    }
    return rec;
  }

  private gatewayFor(s: Subnet, given: string | undefined, field: string): string {
    if (given === undefined) return fromBig(hostRange(s).first, s.family);
    const g = ipToBig(given, field);
    const { first, last } = hostRange(s);
    if (g.family !== s.family || g.value < first || g.value > last) {
      throw new ValidationError(field, `${given} is not a host address of ${s.text}`);
    }
    return fromBig(g.value, s.family);
  }

  /** Subnets in use: other networks', and (for picked ones) the host's routes. @internal */
  private async takenSubnets(withHostRoutes: boolean): Promise<Subnet[]> {
    const taken: Subnet[] = [];
    for (const n of await this.state.all<NetworkRecord>('networks')) taken.push(...subnetsOf(n));
    if (withHostRoutes) {
      for (const r of await this.host.routes.list({ family: 4 })) {
        if (r.dst !== 'default' && r.dstLen > 0) {
          const [addr] = r.dst.split('/');
          const v = toBig(parseIp(addr, 'route').bytes);
          const size = 1n << BigInt(32 - r.dstLen);
          taken.push({ family: 4, base: v - (v % size), prefixlen: r.dstLen, text: r.dst });
        }
      }
    }
    return taken;
  }

  /** Records, then builds the bridge and firewall; rolls back on failure. Caller holds the networks lock. */
  private async buildNetwork(
    rec: NetworkRecord,
    pickSubnetFromPools: boolean,
    mtuGiven = true,
  ): Promise<NetworkRecord> {
    const taken = await this.takenSubnets(pickSubnetFromPools);
    if (pickSubnetFromPools) {
      const s = pickSubnet(taken);
      rec.subnet = s.text;
      rec.gateway = fromBig(hostRange(s).first, 4);
    } else {
      const mine = subnetsOf(rec);
      for (const n of await this.state.all<NetworkRecord>('networks')) {
        const theirs = subnetsOf(n);
        for (const a of mine) {
          for (const b of theirs) {
            if (overlaps(a, b)) {
              throw new ConflictError(
                a.family === 4 ? 'subnet' : 'subnet6',
                `${a.text} overlaps network "${n.name}" (${b.text})`,
              );
            }
          }
        }
      }
    }
    if (!rec.icc && this.firewall && (await this.brNetfilter())) rec.isolation = 'netfilter';
    if (!(await this.state.create('networks', rec.name, rec))) {
      throw new ConflictError('name', `network "${rec.name}" already exists`);
    }
    const undo: Undo = [() => this.state.remove('networks', rec.name)];
    try {
      if (rec.overlay) {
        // The host's share of the cluster CIDR, leased in etcd, becomes the bridge's subnet.
        await this.overlay.lease(rec, mtuGiven);
        undo.push(() => this.overlay.remove(rec));
      }
      await this.state.ipamInit(rec.name);
      undo.push(() => this.state.ipamRemove(rec.name));
      // Containers reach the outside only if this host forwards.
      if (!rec.internal) await this.hostSysctl('net.ipv4.ip_forward', '1');
      if (rec.subnet6 && !rec.internal) await this.hostSysctl('net.ipv6.conf.all.forwarding', '1');
      const index = await createBridge(this.host, rec, this.aliasOf('net', rec.name), (k, v) =>
        this.hostSysctl(k, v),
      );
      undo.push(() => deleteLink(this.host, rec.bridge));
      this.bridgeIndex.set(rec.name, index);
      if (this.firewall) {
        await this.firewall.addNetwork(rec);
        undo.push(() => this.firewall!.removeNetwork(rec));
      }
      if (rec.overlay) await this.overlay.start(rec);
      rec.state = 'ready';
      await this.state.write('networks', rec.name, rec);
      await this.dnsChanged();
      return rec;
    } catch (err) {
      this.bridgeIndex.delete(rec.name);
      await unwind(undo);
      throw err;
    }
  }

  /** The built-in `bridge` network, made on first use (bridge np0, 172.17.0.0/16 or the next free pool). */
  private async defaultNetwork(): Promise<NetworkRecord> {
    const existing = await this.state.read<NetworkRecord>('networks', DEFAULT_NETWORK);
    if (existing?.state === 'ready') return existing;
    const unlock = await this.state.lock('networks', true);
    try {
      const again = await this.state.read<NetworkRecord>('networks', DEFAULT_NETWORK);
      if (again?.state === 'ready') return again;
      if (again) throw new ConflictError('network', 'the default network is half made; run prune');
      const taken = await this.takenSubnets(true);
      const preferred = parseSubnet(DEFAULT_SUBNET, 'subnet');
      const s = taken.some((t) => overlaps(t, preferred)) ? pickSubnet(taken) : preferred;
      const rec: NetworkRecord = {
        name: DEFAULT_NETWORK,
        id: newId(),
        bridge: DEFAULT_BRIDGE,
        subnet: s.text,
        gateway: fromBig(hostRange(s).first, 4),
        mtu: 1500,
        internal: false,
        icc: true,
        labels: {},
        default: true,
        created: now(),
        state: 'creating',
      };
      return await this.buildNetwork(rec, false);
    } finally {
      unlock();
    }
  }

  private async network(name: string): Promise<NetworkRecord> {
    const rec =
      name === DEFAULT_NETWORK
        ? await this.defaultNetwork()
        : await this.state.read<NetworkRecord>('networks', validateName(name, 'network'));
    if (!rec || rec.state !== 'ready')
      throw new NotFoundError('network', `network "${name}" not found`);
    return rec;
  }

  private async attached(network: string): Promise<string[]> {
    return (await this.state.all<SandboxRecord>('sandboxes'))
      .filter((s) => s.endpoints.some((e) => e.network === network))
      .map((s) => s.name);
  }

  /** Equivalent to `docker network ls`. */
  async listNetworks(): Promise<Network[]> {
    const sandboxes = await this.state.all<SandboxRecord>('sandboxes');
    return (await this.state.all<NetworkRecord>('networks'))
      .filter((n) => n.state === 'ready')
      .map((n) =>
        toNetwork(
          n,
          sandboxes.filter((s) => s.endpoints.some((e) => e.network === n.name)).map((s) => s.name),
          this.overlay.info(n),
        ),
      );
  }

  /** Equivalent to `docker network inspect NAME`. */
  async inspectNetwork(name: string): Promise<Network> {
    const rec = await this.state.read<NetworkRecord>('networks', validateName(name, 'name'));
    if (!rec || rec.state !== 'ready')
      throw new NotFoundError('name', `network "${name}" not found`);
    return toNetwork(rec, await this.attached(name), this.overlay.info(rec));
  }

  /** Equivalent to `docker network rm NAME`; refused while sandboxes are attached. */
  async removeNetwork(name: string): Promise<void> {
    validateName(name, 'name');
    const unlock = await this.state.lock('networks', true);
    try {
      const rec = await this.state.read<NetworkRecord>('networks', name);
      if (!rec) throw new NotFoundError('name', `network "${name}" not found`);
      this.networkCache.delete(name);
      rec.state = 'removing';
      await this.state.write('networks', name, rec);
      // A sandbox being created reserves its address, then re-reads the
      // network: it either sees 'removing' or we see its address here.
      const users = new Set([
        ...(await this.attached(name)),
        ...(await this.state.addresses(name)).values(),
      ]);
      if (users.size > 0) {
        rec.state = 'ready';
        await this.state.write('networks', name, rec);
        throw new ConflictError(
          'name',
          `network "${name}" has active endpoints: ${[...users].sort().join(', ')}`,
        );
      }
      await this.teardownNetwork(rec);
    } finally {
      unlock();
    }
  }

  private async teardownNetwork(rec: NetworkRecord): Promise<void> {
    await this.overlay.remove(rec);
    await this.firewall?.removeNetwork(rec);
    await deleteLink(this.host, rec.bridge);
    this.bridgeIndex.delete(rec.id);
    this.networkCache.delete(rec.name);
    await this.state.ipamRemove(rec.name);
    await this.state.remove('networks', rec.name);
    await this.dnsChanged();
  }

  private async bridgeOf(net: NetworkRecord): Promise<number> {
    const cached = this.bridgeIndex.get(net.id);
    if (cached !== undefined) return cached;
    const index = await this.host.index(net.bridge, 'bridge');
    this.bridgeIndex.set(net.id, index);
    return index;
  }

  /**
   * A MAC address the user chose is about to join `net`: from now on every
   * endpoint made there announces its address (see ANNOUNCE in
   * plumbing.ts). Written under the networks lock, as every change of a
   * network record is.
   */
  private async markAnnounce(net: NetworkRecord): Promise<NetworkRecord> {
    if (net.announce === true) return net;
    const unlock = await this.state.lock('networks', true);
    try {
      const rec = await this.state.read<NetworkRecord>('networks', net.name);
      if (!rec || rec.state !== 'ready' || rec.id !== net.id) {
        this.networkCache.delete(net.name);
        throw new NotFoundError('network', `network "${net.name}" not found`);
      }
      if (rec.announce !== true) {
        rec.announce = true;
        await this.state.write('networks', net.name, rec);
      }
      this.networkCache.set(net.name, rec);
      return rec;
    } finally {
      unlock();
    }
  }

  /** Whether a new endpoint on `net` announces its address (see ANNOUNCE in plumbing.ts). */
  private announces(net: NetworkRecord, ep: EndpointRecord): boolean {
    return net.announce === true || ep.mac !== macFromIpv4(parseIp(ep.ip, 'ip').bytes);
  }

  /** A network as last read (see networkCache), else read. */
  private async networkCached(name: string): Promise<NetworkRecord> {
    const hit = this.networkCache.get(name);
    if (hit) return hit;
    const rec = await this.network(name);
    this.networkCache.set(name, rec);
    return rec;
  }

  // ---- addresses ----

  /** Where the next address search of a network/family starts (the last one handed out). */
  private async cursorOf(net: NetworkRecord, family: 4 | 6): Promise<bigint | undefined> {
    const key = `${net.id}/${family}`;
    if (!this.cursors.has(key)) {
      const text = await this.state.cursor(net.name, family);
      this.cursors.set(key, text ? ipToBig(text, 'cursor').value : undefined);
    }
    return this.cursors.get(key);
  }

  /**
   * Reserves the sandbox's name (when `record` is given), its addresses on
   * `net` and re-reads the network, in one trip to the state directory.
   * Dynamic addresses are searched in windows of candidates after the
   * cursor; a static one must be free. Nothing stays reserved on failure.
   */
  private async reserve(
    rec: SandboxRecord,
    net: NetworkRecord,
    want: { ip?: string; ip6?: string },
    record: boolean,
  ): Promise<{ ip: string; ip6?: string }> {
    await this.cursorOf(net, 4);
    const picks: AddressPick[] = [this.addressPlan(net, 4, want.ip)];
    if (net.subnet6 && net.gateway6) {
      await this.cursorOf(net, 6);
      picks.push(this.addressPlan(net, 6, want.ip6));
    } else if (want.ip6 !== undefined)
      throw new ValidationError('ip6', `network "${net.name}" has no IPv6 subnet`);

    const reserved: string[] = [];
    const release = async (): Promise<void> => {
      const b = new FsBatch();
      for (const a of reserved) b.add({ op: 'unlink', path: this.state.addressPath(net.name, a) });
      if (record) b.add({ op: 'unlink', path: this.state.recordPath('sandboxes', rec.name) });
      await b.run();
    };
    let first = true;
    for (;;) {
      const b = new FsBatch();
      const iRec =
        first && record
          ? b.add({
              op: 'create',
              path: this.state.recordPath('sandboxes', rec.name),
              data: JSON.stringify(rec),
            })
          : -1;
      for (const p of picks) {
        if (p.got !== undefined) continue;
        if (p.gen) {
          p.window = [];
          for (const v of p.gen) {
            p.window.push(v);
            if (p.window.length >= 64) break;
          }
          if (p.window.length === 0) {
            await release();
            throw new ConflictError(
              'network',
              `no free address left in ${p.subnet.text} (network "${net.name}")`,
            );
          }
          p.op = b.add({
            op: 'reserveFirst',
            path: this.state.ipamDir(net.name),
            names: p.window.map((v) => fromBig(v, p.family).replace(/:/g, '_')),
            data: rec.name,
          });
        } else {
          p.op = b.add({
            op: 'create',
            path: this.state.addressPath(net.name, fromBig(p.window[0]!, p.family)),
            data: rec.name,
          });
        }
      }
      const iNet = first
        ? b.add({ op: 'read', path: this.state.recordPath('networks', net.name) })
        : -1;
      const r = await b.run();
      for (const p of picks) {
        if (p.got !== undefined || p.op < 0) continue;
        const res = r[p.op]!;
        const idx = p.gen ? (res.index ?? -1) : res.ok ? 0 : -1;
        if (idx >= 0) {
          p.got = fromBig(p.window[idx]!, p.family);
          reserved.push(p.got);
          if (p.gen) {
            this.cursors.set(`${net.id}/${p.family}`, p.window[idx]);
            this.dirtyCursors.set(net.name, net.id);
          }
        }
      }
      if (iRec >= 0 && !r[iRec]!.ok) {
        record = false; // not ours: do not remove it
        await release();
        throw new ConflictError('name', `sandbox "${rec.name}" already exists`);
      }
      if (iNet >= 0) {
        const still = r[iNet]!.ok ? (JSON.parse(r[iNet]!.text!) as NetworkRecord) : undefined;
        // A network being removed either sees our address or we see its state.
        if (still?.state !== 'ready' || still.id !== net.id) {
          await release();
          throw new NotFoundError('network', `network "${net.name}" was removed`);
        }
        // Read after the address is ours: see markAnnounce.
        if (still.announce === true) net.announce = true;
      }
      const staticTaken = picks.find((p) => !p.gen && p.got === undefined);
      if (staticTaken) {
        await release();
        throw new ConflictError(
          staticTaken.field,
          `${fromBig(staticTaken.window[0]!, staticTaken.family)} is already in use on network "${net.name}"`,
        );
      }
      first = false;
      if (picks.every((p) => p.got !== undefined)) break;
    }
    const ip = picks[0]!.got!;
    const ip6 = picks[1]?.got;
    return ip6 !== undefined ? { ip, ip6 } : { ip };
  }

  /**
   * How to pick an address of `family` on `net`: the `given` one (checked:
   * a host address of the subnet, not the gateway), or candidates after the
   * cursor. Synchronous, from the cursor cursorOf has loaded (await that
   * first): a caller that takes a candidate without awaiting in between
   * moves the cursor before any other creation in flight reads it, so
   * creations made together each get the next address.
   */
  private addressPlan(net: NetworkRecord, family: 4 | 6, given: string | undefined): AddressPick {
    const field = family === 4 ? 'ip' : 'ip6';
    const { subnet: s, gateway: gw } = this.subnetOf(net, family);
    if (given === undefined) {
      return {
        family,
        field,
        subnet: s,
        gen: candidates(s, this.cursors.get(`${net.id}/${family}`), new Set([gw])),
        window: [],
        op: -1,
      };
    }
    const v = ipToBig(given, field);
    const { first, last } = hostRange(s);
    if (v.family !== s.family || !contains(s, v.value) || v.value < first || v.value > last) {
      throw new ValidationError(
        field,
        `${given} is not a host address of ${net.name}'s subnet ${s.text}`,
      );
    }
    if (v.value === gw) throw new ValidationError(field, `${given} is the gateway of ${net.name}`);
    return { family, field, subnet: s, window: [v.value], op: -1 };
  }

  /**
   * A network's subnet and gateway as numbers, parsed once (keyed by their
   * text: a network made again with other addresses is parsed again).
   */
  private subnetOf(net: NetworkRecord, family: 4 | 6): { subnet: Subnet; gateway: bigint } {
    const key = `${family} ${family === 4 ? net.subnet : net.subnet6!} ${family === 4 ? net.gateway : net.gateway6!}`;
    let parsed = this.parsedSubnets.get(key);
    if (parsed === undefined) {
      const field = family === 4 ? 'ip' : 'ip6';
      parsed = Object.freeze({
        subnet: Object.freeze(parseSubnet(family === 4 ? net.subnet : net.subnet6!, field)),
        gateway: ipToBig(family === 4 ? net.gateway : net.gateway6!, 'gateway').value,
      });
      if (this.parsedSubnets.size >= 256) this.parsedSubnets.clear();
      this.parsedSubnets.set(key, parsed);
    }
    return parsed;
  }

  /** Operations persisting the address cursors moved since the last call. */
  private cursorOps(): FsOp[] {
    const ops: FsOp[] = [];
    for (const [name, id] of this.dirtyCursors) {
      for (const family of [4, 6] as const) {
        const v = this.cursors.get(`${id}/${family}`);
        if (v !== undefined)
          ops.push({
            op: 'replace',
            path: this.state.cursorPath(name, family),
            data: fromBig(v, family),
          });
      }
    }
    this.dirtyCursors.clear();
    return ops;
  }

  private async releaseEndpoint(ep: EndpointRecord): Promise<void> {
    await this.state.releaseAddress(ep.network, ep.ip);
    if (ep.ip6) await this.state.releaseAddress(ep.network, ep.ip6);
  }

  // ---- sandboxes ----

  /**
   * Creates a sandbox. Equivalent to the networking part of
   * `docker run --name NAME --network MODE [-p ...] [--network-alias A] [--ip IP] [--hostname H]`.
   */
  async createSandbox(spec: SandboxSpec): Promise<Sandbox> {
    if (typeof spec !== 'object' || spec === null)
      throw new ValidationError('sandbox', 'must be an object');
    const name = validateName(spec.name, 'name');
    return this.turns.run(() => this.track(name, () => this.createSandboxTracked(name, spec)));
  }

  private async createSandboxTracked(name: string, spec: SandboxSpec): Promise<Sandbox> {
    const mode = spec.network ?? DEFAULT_NETWORK;
    if (typeof mode !== 'string') throw new ValidationError('network', 'must be a string');
    const hostname =
      spec.hostname === undefined ? name : validateHostname(spec.hostname, 'hostname');
    const aliases = listOf(spec.aliases, 'aliases').map((a, i) =>
      validateHostname(a, `aliases[${i}]`),
    );
    const labels = validateLabels(spec.labels, 'labels');
    listOf(spec.publish, 'publish');
    listOf(spec.expose, 'expose');
    const publishing = (spec.publish?.length ?? 0) > 0 || spec.publishAll === true;
    const rec: SandboxRecord = {
      name,
      id: newId(),
      mode: 'bridge',
      hostname,
      labels,
      created: now(),
      state: 'creating',
      pid: process.pid,
      endpoints: [],
      publish: [...(spec.publish ?? [])],
      expose: [],
      publishAll: spec.publishAll === true,
      warnings: [],
    };
    if (mode === 'host') {
      rec.mode = 'host';
      if (publishing)
        rec.warnings.push('Published ports are discarded when using host network mode');
      if (aliases.length > 0 || spec.ip !== undefined)
        throw new ValidationError(
          'network',
          'aliases and a static IP need a bridge network, not host mode',
        );
      rec.state = 'ready';
      if (!(await this.state.create('sandboxes', name, rec)))
        throw new ConflictError('name', `sandbox "${name}" already exists`);
      return toSandbox(rec);
    }
    if (mode === 'none' || mode.startsWith('container:')) {
      if (publishing) {
        throw new ValidationError(
          'publish',
          mode === 'none'
            ? 'port publishing needs a bridge network, not none mode'
            : 'conflicting options: port publishing and the container type network mode',
        );
      }
      if (
        aliases.length > 0 ||
        spec.ip !== undefined ||
        spec.ip6 !== undefined ||
        spec.mac !== undefined
      ) {
        throw new ValidationError(
          aliases.length > 0 ? 'aliases' : 'ip',
          `conflicting options: aliases, static addresses and MAC addresses need a bridge network, not ${mode.split(':')[0]} mode`,
        );
      }
    }
    if (mode.startsWith('container:'))
      return this.createJoined(rec, validateName(mode.slice('container:'.length), 'network'));

    rec.netns = name;
    if (mode === 'none') {
      rec.mode = 'none';
      return this.buildSandbox(rec, undefined, spec, []);
    }
    if (mode === DEFAULT_NETWORK) refuseOnDefault(spec, aliases);
    const { requests, v6 } = this.portRequests(rec, spec);
    if (spec.ip !== undefined) parseIp(spec.ip, 'ip');
    if (spec.mac !== undefined) parseUnicastMac(spec.mac, 'mac');
    let net = await this.networkCached(mode);
    if (!net.subnet6) {
      // Nothing would publish it (the sandbox has no IPv6 address to DNAT to).
      if (v6)
        throw new ValidationError(
          v6.field,
          `[${v6.hostIp}]: an IPv6 host address needs a network with IPv6 (network "${net.name}" has none)`,
        );
    }
    if (spec.mac !== undefined) net = await this.markAnnounce(net);
    return this.buildSandbox(rec, net, spec, requests);
  }

  /**
   * Builds a new-namespace sandbox. On a network, the fast path first: one
   * job whose first steps reserve the next address after the cursor, the
   * name and the ports, and re-read the network, before it makes anything
   * (see runSandboxJob). A reservation it finds taken (another process got
   * there first) sends it to the careful path, which searches addresses and
   * ports trip by trip and says precisely what conflicts.
   */
  private async buildSandbox(
    rec: SandboxRecord,
    net: NetworkRecord | undefined,
    spec: SandboxSpec,
    requests: PortRequest[],
  ): Promise<Sandbox> {
    if (net && requests.every((r) => r.hostPort !== 0 && r.hostPortEnd === undefined)) {
      const done = await this.fastSandbox(rec, net, spec, requests);
      if (done) return done;
      net = await this.network(net.name);
      this.networkCache.set(net.name, net);
    }
    return this.carefulSandbox(rec, net, spec, requests);
  }

  /** The fast path of buildSandbox; undefined when a reservation was refused. */
  private async fastSandbox(
    rec: SandboxRecord,
    net: NetworkRecord,
    spec: SandboxSpec,
    requests: PortRequest[],
  ): Promise<Sandbox | undefined> {
    const mark = this.phases('create');
    const steps: JobStep[] = [];
    const pick = async (family: 4 | 6, given: string | undefined): Promise<string> => {
      await this.cursorOf(net, family);
      const a = this.addressPlan(net, family, given);
      let ip: string;
      if (a.gen) {
        const next = a.gen.next();
        if (next.done === true) return ''; // full: the careful path says so
        this.cursors.set(`${net.id}/${family}`, next.value);
        this.dirtyCursors.set(net.name, net.id);
        ip = fromBig(next.value, family);
      } else {
        ip = fromBig(a.window[0]!, family);
      }
      const file = this.state.addressPath(net.name, ip);
      steps.push({
        step: { fs: { op: 'create', path: file, data: rec.name } },
        undo: { op: 'unlink', path: file },
      });
      return ip;
    };
    const ip = await pick(4, spec.ip);
    const ip6 = net.subnet6 && net.gateway6 ? await pick(6, spec.ip6) : undefined;
    if (spec.ip6 !== undefined && ip6 === undefined)
      throw new ValidationError('ip6', `network "${net.name}" has no IPv6 subnet`);
    if (ip === '' || ip6 === '') return undefined;
    const recordPath = this.state.recordPath('sandboxes', rec.name);
    const recordStep = steps.length;
    steps.push({
      step: { fs: { op: 'create', path: recordPath, data: JSON.stringify(rec) } },
      undo: { op: 'unlink', path: recordPath },
    });
    const ports: PortMapping[] = requests.map((r) => ({
      protocol: r.protocol,
      hostIp: r.hostIp === '' ? '0.0.0.0' : r.hostIp,
      hostPort: r.hostPort,
      containerPort: r.containerPort,
    }));
    for (const m of ports) {
      for (const { step, undo } of this.state.portSteps(
        m.protocol,
        m.hostPort,
        m.hostIp,
        rec.name,
        ip6 !== undefined,
      ))
        steps.push({ step: { fs: step }, ...(undo ? { undo } : {}) });
    }
    for (const m of ports) steps.push({ step: { probe: this.probeOf(m) } });
    // A network being removed either sees our address or we see its state.
    const netStep = steps.length;
    steps.push({ step: { fs: { op: 'read', path: this.state.recordPath('networks', net.name) } } });

    const ep = this.describeEndpoint(net, 'eth0', ip, ip6, spec);
    ep.ports = ports;
    rec.endpoints.push(ep);
    const r = await this.sandboxJob(rec, net, steps, mark);
    if (r.failed >= 0 && r.phase === 'before') {
      await this.undoSteps(steps, r.failed);
      if (r.error) throw r.error;
      if (r.failed === recordStep)
        throw new ConflictError('name', `sandbox "${rec.name}" already exists`);
      rec.endpoints = [];
      return undefined;
    }
    const seen = r.before[netStep] as FsResult | undefined;
    const still = seen?.ok === true ? (JSON.parse(seen.text!) as NetworkRecord) : undefined;
    if (still?.state !== 'ready' || still.id !== net.id) {
      // Removed (or removed and made again) under us: nothing of ours may stay.
      this.networkCache.delete(net.name);
      await this.undoSandbox(rec, ep, r, steps);
      rec.endpoints = [];
      if (still?.state === 'ready') return undefined;
      throw new NotFoundError('network', `network "${net.name}" was removed`);
    }
    if (r.failed >= 0) {
      this.bridgeIndex.delete(net.id);
      await this.undoSandbox(rec, ep, r, steps);
      throw r.error ?? new ConflictError('name', `sandbox "${rec.name}" could not be made`);
    }
    this.networkCache.set(net.name, still);
    if (still.announce === true && net.announce !== true) {
      // Another process let a chosen MAC join since this one read the
      // network: the endpoint came up without announcing itself; it does now.
      try {
        await this.announceLate(rec, ep);
      } catch (err) {
        await this.removeSandboxTracked(rec.name).catch(() => undefined);
        throw err;
      }
    }
    if (!net.default) await this.sandboxDns(rec.name, rec);
    mark('dns');
    return toSandbox(rec);
  }

  /**
   * The gratuitous ARP an endpoint that came up without arp_notify should
   * have sent: with arp_notify on, setting its MAC (to the same value) sends
   * it. Two messages (one sendmsg): the kernel applies a message's MAC before
   * its per-family settings.
   */
  private async announceLate(rec: SandboxRecord, ep: EndpointRecord): Promise<void> {
    const sbx = await openSandboxNetns(rec.netns!, this.netnsDir);
    try {
      await sbx.rt
        .batch()
        .linkSet(ep.ifname, { arpNotify: true })
        .linkSet(ep.ifname, { mac: ep.mac })
        .send();
    } finally {
      await sbx.rt.close();
      await sbx.ns.close();
    }
  }

  /** The careful path of buildSandbox (and the only one for none mode and dynamic ports). */
  private async carefulSandbox(
    rec: SandboxRecord,
    net: NetworkRecord | undefined,
    spec: SandboxSpec,
    requests: PortRequest[],
  ): Promise<Sandbox> {
    const undo: Undo = [];
    try {
      let ep: EndpointRecord | undefined;
      if (net) {
        // One trip: the addresses, and the network read again (see removeNetwork).
        const endpoint = await this.planEndpoint(rec, net, 'eth0', spec);
        ep = endpoint;
        undo.push(() => this.releaseEndpoint(endpoint));
        rec.endpoints.push(endpoint);
        if (requests.length > 0) {
          endpoint.ports = await reservePorts(
            this.state,
            rec,
            requests,
            (ports) => this.probePorts(ports),
            endpoint.ip6 !== undefined,
          );
          undo.push(() => releasePorts(this.state, endpoint));
        }
      }
      const recordPath = this.state.recordPath('sandboxes', rec.name);
      const steps: JobStep[] = [
        {
          step: { fs: { op: 'create', path: recordPath, data: JSON.stringify(rec) } },
          undo: { op: 'unlink', path: recordPath },
        },
      ];
      const r = await this.sandboxJob(rec, net, steps, this.phases('create'));
      if (r.failed >= 0) {
        if (r.phase === 'before' && !r.error) {
          await unwind(undo);
          throw new ConflictError('name', `sandbox "${rec.name}" already exists`);
        }
        if (net) this.bridgeIndex.delete(net.id);
        await this.undoSandbox(rec, ep, r, steps);
        throw r.error ?? new ConflictError('name', `sandbox "${rec.name}" could not be made`);
      }
      if (ep && !net?.default) await this.sandboxDns(rec.name, rec);
      return toSandbox(rec);
    } catch (err) {
      await unwind(undo);
      throw err;
    }
  }

  /**
   * Runs a new sandbox's job: `steps` (reservations) first, then the
   * namespace, its endpoint on `net` and the DNAT of its published ports,
   * then its files and its record marked ready, with the address cursors.
   */
  private async sandboxJob(
    rec: SandboxRecord,
    net: NetworkRecord | undefined,
    steps: JobStep[],
    mark: Mark,
  ): Promise<SandboxJobResult> {
    const ep = rec.endpoints[0];
    const firewall = ep && ep.ports.length > 0 ? this.firewall : undefined;
    // Prepared while the builder thread makes the namespace and the veth.
    const rest = async (): Promise<SandboxRest> => {
      const nft = firewall && ep ? await firewall.publishBatch(rec, ep) : undefined;
      const ready: SandboxRecord = { ...rec, state: 'ready' };
      // The files and the cursors need only the name, reserved in the first
      // half: they are written beside the kernel steps; the record is marked
      // ready once everything else is done.
      const aside: FsOp[] = [...(await this.fileOps(ready, undefined, net)), ...this.cursorOps()];
      const after: FsOp[] = [
        {
          op: 'replace',
          path: this.state.recordPath('sandboxes', rec.name),
          data: JSON.stringify(ready),
        },
      ];
      const out: SandboxRest = { aside, after, ...(nft ? { nft } : {}) };
      if (net && ep) out.link = await this.linkPlan(rec, net, ep, !net.internal);
      return out;
    };
    mark('prepare');
    const r = await runSandboxJob(this.host, this.builders, {
      name: rec.name,
      dir: this.netnsDir,
      hostNs: this.hostNs,
      before: steps.map((s) => s.step),
      firewall: firewall !== undefined,
      ...(net && ep ? { endpoint: { ep, net } } : {}),
      rest,
      ...(this.trace ? { timing: true } : {}),
    });
    if (r.failed < 0) rec.state = 'ready';
    mark('job');
    for (const [phase, ms] of Object.entries(r.phases ?? {})) this.trace?.('create', phase, ms);
    return r;
  }

  /**
   * How an endpoint's host end joins its network's bridge, for a new
   * sandbox and for connect alike: port isolation (icc=false), hairpin
   * (published ports), the owner's alias.
   */
  private async linkPlan(
    rec: SandboxRecord,
    net: NetworkRecord,
    ep: EndpointRecord,
    defaultRoute: boolean,
  ): Promise<Omit<EndpointPlan, 'ep' | 'net' | 'index'>> {
    return {
      bridgeIndex: await this.bridgeOf(net),
      alias: this.aliasOf('ep', rec.name, net.name),
      defaultRoute,
      announce: this.announces(net, ep),
      isolated: !net.icc && net.isolation !== 'netfilter',
      hairpin: ep.ports.length > 0,
    };
  }

  /** Takes back the `before` steps that ran (all of them, or those before `failed`). */
  private async undoSteps(steps: JobStep[], failed = steps.length): Promise<void> {
    const b = new FsBatch();
    for (let i = Math.min(failed, steps.length) - 1; i >= 0; i--) {
      const u = steps[i]!.undo;
      if (u) b.add(u);
    }
    await b.run();
  }

  /** Undoes a sandbox job that made things: DNAT, namespace, files, reservations. */
  private async undoSandbox(
    rec: SandboxRecord,
    ep: EndpointRecord | undefined,
    r: SandboxJobResult,
    steps: JobStep[],
  ): Promise<void> {
    try {
      if (r.nftApplied && ep) await this.firewall?.unpublish(rec, ep);
      if (r.failed < 0) await deleteNetns(this.netnsDir, rec.name);
      // Files are written in the second half: a job that failed before it
      // wrote none, and /etc/netns/NAME may be another namespace's (a name
      // clash: EEXIST). Once it ran they may be there, even after a failure
      // of its kernel steps, as they are written beside them.
      if (r.failed < 0 || r.phase === 'after' || r.asideRan)
        await this.runOps(removeSandboxFileOps(this.etcDir, rec.name));
    } catch {
      // Best effort: the record stays, so prune finishes the job.
      return;
    }
    await this.undoSteps(steps, r.phase === 'before' ? r.failed : steps.length);
  }

  /** Whether host processes hold these ports (one bind each, in the host namespace). */
  private async probePorts(
    ports: { protocol: 'tcp' | 'udp'; hostIp: string; hostPort: number }[],
  ): Promise<boolean[]> {
    if (ports.length === 0) return [];
    const probes = ports.map((p) => ({
      protocol: p.protocol,
      port: p.hostPort,
      ...(p.hostIp === '' || p.hostIp === '0.0.0.0'
        ? {}
        : { addr: parseIp(p.hostIp, 'hostIp').bytes }),
    }));
    const result = await this.host.handle.probePorts(probes);
    result.forEach((r, i) => {
      // Docker's proxy cannot bind it either: a rule for it would never match.
      if (r === 'EADDRNOTAVAIL')
        throw new ValidationError('publish', `${ports[i]!.hostIp} is not an address of this host`);
    });
    return result.map((r) => r === 'EADDRINUSE');
  }

  /** A port probe (see probePorts) as a job step. */
  private probeOf(m: PortMapping): { protocol: 'tcp' | 'udp'; port: number; addr?: Buffer } {
    return {
      protocol: m.protocol,
      port: m.hostPort,
      ...(m.hostIp === '0.0.0.0' ? {} : { addr: parseIp(m.hostIp, 'hostIp').bytes }),
    };
  }

  private async runOps(ops: FsOp[]): Promise<void> {
    const b = new FsBatch();
    for (const op of ops) b.add(op);
    await b.run();
  }

  /**
   * -p and -P requests of a sandbox (not for host/none/container modes);
   * `v6`: the first publish entry with an IPv6 host address, if any.
   */
  private portRequests(
    rec: SandboxRecord,
    spec: SandboxSpec,
  ): { requests: PortRequest[]; v6?: { field: string; hostIp: string } } {
    const requests: PortRequest[] = [];
    let v6: { field: string; hostIp: string } | undefined;
    // Both are arrays: checked on the way in (createSandboxTracked).
    (spec.publish ?? []).forEach((p, i) => {
      for (const r of parsePublish(p, `publish[${i}]`)) {
        requests.push(r);
        if (!v6 && r.hostIp.includes(':')) v6 = { field: `publish[${i}]`, hostIp: r.hostIp };
      }
    });
    const exposed = parseExpose(spec.expose ?? []);
    rec.expose = exposed.map((e) => e.port);
    if (spec.publishAll === true) {
      for (const e of exposed) {
        if (!requests.some((r) => r.containerPort === e.port && r.protocol === e.protocol)) {
          requests.push({ protocol: e.protocol, hostIp: '', hostPort: 0, containerPort: e.port });
        }
      }
    }
    if (requests.length > 0 && !this.firewall) {
      throw new ValidationError(
        'publish',
        'port publishing needs the firewall (the engine was opened with firewall: false)',
      );
    }
    return v6 ? { requests, v6 } : { requests };
  }

  /** Reserves addresses and describes the endpoint. */
  private async planEndpoint(
    rec: SandboxRecord,
    net: NetworkRecord,
    ifname: string,
    want: { ip?: string; ip6?: string; mac?: string; aliases?: string[] },
    record = false,
  ): Promise<EndpointRecord> {
    if (want.mac !== undefined) parseUnicastMac(want.mac, 'mac');
    const { ip, ip6 } = await this.reserve(rec, net, want, record);
    return this.describeEndpoint(net, ifname, ip, ip6, want);
  }

  /** An endpoint on `net` with these addresses (the MAC derived from the IPv4 one unless given). */
  private describeEndpoint(
    net: NetworkRecord,
    ifname: string,
    ip: string,
    ip6: string | undefined,
    want: { mac?: string; aliases?: string[] },
  ): EndpointRecord {
    const mac = want.mac !== undefined ? formatMac(parseUnicastMac(want.mac, 'mac')) : undefined;
    const id = newId();
    const ep: EndpointRecord = {
      id,
      network: net.name,
      ifname,
      hostIfname: `npv${id.slice(0, 8)}`,
      ip,
      prefixlen: Number(net.subnet.split('/')[1]),
      gateway: net.gateway,
      mac: mac ?? macFromIpv4(parseIp(ip, 'ip').bytes),
      aliases: [...(want.aliases ?? [])],
      ports: [],
    };
    if (ip6 && net.subnet6 && net.gateway6) {
      ep.ip6 = ip6;
      ep.prefixlen6 = Number(net.subnet6.split('/')[1]);
      ep.gateway6 = net.gateway6;
    }
    return ep;
  }

  /** container:NAME — another name for NAME's namespace. */
  private async createJoined(rec: SandboxRecord, target: string): Promise<Sandbox> {
    const owner = await this.state.read<SandboxRecord>('sandboxes', target);
    if (!owner || owner.state !== 'ready')
      throw new NotFoundError('network', `container "${target}" not found`);
    if (!owner.netns)
      throw new ValidationError(
        'network',
        `container "${target}" is in host mode; use network host instead`,
      );
    rec.mode = 'container';
    rec.container = owner.container ?? owner.name;
    rec.netns = rec.name;
    const root = rec.container;
    if (!(await this.state.create('sandboxes', rec.name, rec)))
      throw new ConflictError('name', `sandbox "${rec.name}" already exists`);
    const undo: Undo = [
      () => this.state.remove('sandboxes', rec.name),
      () => this.runOps(this.state.leaveOps(root, rec.name)),
    ];
    try {
      await this.runOps(this.state.joinOps(root, rec.name));
      const ns = await NetNS.open(owner.netns, { dir: this.netnsDir });
      try {
        const mine = await NetNS.attach(rec.name, ns, { dir: this.netnsDir });
        await mine.close();
      } finally {
        await ns.close();
      }
      undo.push(() => deleteNetns(this.netnsDir, rec.name));
      await this.writeFiles(rec, owner);
      rec.state = 'ready';
      await this.state.write('sandboxes', rec.name, rec);
      return toSandbox(rec);
    } catch (err) {
      await unwind(undo);
      throw err;
    }
  }

  /** The /etc/netns/NAME files of a sandbox, as file operations. */
  private async fileOps(
    rec: SandboxRecord,
    shared?: SandboxRecord,
    known?: NetworkRecord,
  ): Promise<FsOp[]> {
    const source = shared ?? rec;
    const hosts: [string, string[]][] = [];
    for (const ep of source.endpoints) {
      const names = [rec.hostname, ...(rec.hostname !== rec.name ? [rec.name] : []), ...ep.aliases];
      hosts.push([ep.ip, names]);
      if (ep.ip6) hosts.push([ep.ip6, names]);
    }
    const resolv = await this.resolvConfOf(source, rec, known);
    return sandboxFileOps(
      this.etcDir,
      rec.name,
      { hostname: rec.hostname, hosts, resolv },
      `${HOSTS_MARKER} (${this.tag})`,
    );
  }

  /**
   * A sandbox on a user-defined network asks that network's resolver (the
   * first such network it joined), with the host's search and options lines
   * (ndots:0 unless the host sets ndots); on the default bridge, the host's
   * nameservers, as in Docker. A warning (Docker's defaults were used)
   * goes to `warn`'s record.
   */
  private async resolvConfOf(
    rec: SandboxRecord,
    warn: SandboxRecord,
    known?: NetworkRecord,
  ): Promise<string> {
    let bridge: NetworkRecord | undefined;
    for (const ep of rec.endpoints) {
      const net =
        known?.name === ep.network
          ? known
          : await this.state.read<NetworkRecord>('networks', ep.network);
      if (net && !net.default) return this.resolv.forUserNetwork(net.gateway);
      bridge ??= net;
    }
    const { text, warning } = await this.resolv.forSandbox(bridge?.subnet6 !== undefined);
    if (warning !== undefined && !warn.warnings.includes(warning)) warn.warnings.push(warning);
    return text;
  }

  /** A stopwatch reporting each phase of `op` to the trace option (a no-op without one). */
  private phases(op: 'create' | 'remove'): Mark {
    const trace = this.trace;
    if (!trace) return noMark;
    let t = performance.now();
    return (phase) => {
      const n = performance.now();
      trace(op, phase, n - t);
      t = n;
    };
  }

  /** Brings the resolver's view up to date after a change (when this process runs it). */
  private async dnsChanged(): Promise<void> {
    await this.dns?.reload();
  }

  /** Tells the resolver (when this process runs it) that one sandbox changed or went. */
  private async sandboxDns(name: string, rec: SandboxRecord | undefined): Promise<void> {
    await this.dns?.sandboxChanged(name, rec);
  }

  private async writeFiles(rec: SandboxRecord, shared?: SandboxRecord): Promise<void> {
    await this.runOps(await this.fileOps(rec, shared));
  }

  /** Equivalent to `docker ps` (networking columns). */
  async listSandboxes(): Promise<Sandbox[]> {
    return (await this.state.all<SandboxRecord>('sandboxes'))
      .filter((s) => s.state === 'ready')
      .map(toSandbox);
  }

  /** Equivalent to `docker inspect NAME` (NetworkSettings). */
  async inspectSandbox(name: string): Promise<Sandbox> {
    const rec = await this.state.read<SandboxRecord>('sandboxes', validateName(name, 'name'));
    if (!rec || rec.state !== 'ready')
      throw new NotFoundError('name', `sandbox "${name}" not found`);
    return toSandbox(rec);
  }

  /**
   * Removes a sandbox: firewall entries, then its namespace (the kernel
   * destroys the veths with it), files and records. A sandbox whose
   * namespace is already gone is still removed cleanly. In container mode the
   * namespace lives on while another sandbox shares it.
   */
  async removeSandbox(name: string): Promise<void> {
    validateName(name, 'name');
    return this.track(name, () => this.removeSandboxTracked(name));
  }

  private async removeSandboxTracked(name: string): Promise<void> {
    const mark = this.phases('remove');
    const rec = await this.state.read<SandboxRecord>('sandboxes', name);
    if (!rec) throw new NotFoundError('name', `sandbox "${name}" not found`);
    mark('read');
    rec.state = 'removing';
    // The remover's pid: if it dies midway, any prune may finish the removal.
    rec.pid = process.pid;
    await this.teardownSandbox(rec, true, mark);
  }

  /**
   * Tears a sandbox down: its DNAT entries, its namespace (the kernel then
   * destroys the veths with it; we wait until it has), then in one batch its
   * ports, addresses, files and record. With `mark`, the record is first
   * marked 'removing' (in the batch that looks for sharers), so a crash
   * leaves work prune can finish.
   */
  private async teardownSandbox(
    rec: SandboxRecord,
    markRemoving = false,
    mark = noMark,
  ): Promise<void> {
    const first = new FsBatch();
    if (markRemoving)
      first.add({
        op: 'replace',
        path: this.state.recordPath('sandboxes', rec.name),
        data: JSON.stringify(rec),
      });
    const iJoins =
      rec.mode !== 'container' && rec.netns
        ? first.add({ op: 'readdir', path: this.state.joinDir(rec.name) })
        : -1;
    const r = await first.run();
    const members = iJoins >= 0 ? (r[iJoins]!.entries ?? []).sort() : [];
    const heir = members.length > 0 ? await this.takeOver(rec, members) : undefined;
    mark('mark');
    if (!heir) for (const ep of rec.endpoints) await this.firewall?.unpublish(rec, ep);
    mark('nft');
    if (rec.netns) await deleteNetns(this.netnsDir, rec.netns);
    mark('unmount');
    const last = new FsBatch();
    if (!heir && rec.mode !== 'container') {
      const hostEnds = rec.endpoints.map((e) => e.hostIfname);
      // The kernel reaps the veths with the namespace, unless something
      // still holds the namespace open: then delete them ourselves.
      if (!(await this.watcher.waitGone(hostEnds, REAP_TIMEOUT_MS))) {
        for (const n of hostEnds) await deleteLink(this.host, n);
      }
      mark('reap');
      // Only now may the addresses go to another sandbox (and its MAC, derived from one).
      for (const ep of rec.endpoints) {
        for (const m of ep.ports)
          for (const op of this.state.releasePortOps(
            m.protocol,
            m.hostPort,
            m.hostIp,
            ep.ip6 !== undefined,
          ))
            last.add(op);
        last.add({ op: 'unlink', path: this.state.addressPath(ep.network, ep.ip) });
        if (ep.ip6) last.add({ op: 'unlink', path: this.state.addressPath(ep.network, ep.ip6) });
      }
    }
    if (rec.mode === 'container' && rec.container)
      for (const op of this.state.leaveOps(rec.container, rec.name)) last.add(op);
    for (const op of removeSandboxFileOps(this.etcDir, rec.name)) last.add(op);
    last.add({ op: 'unlink', path: this.state.recordPath('sandboxes', rec.name) });
    await last.run();
    mark('release');
    if (heir) await this.sandboxDns(heir.name, heir);
    if (rec.endpoints.length > 0) await this.sandboxDns(rec.name, undefined);
    mark('dns');
  }

  /**
   * The namespace outlives its first owner: its endpoints (and DNAT entries)
   * pass to the first sandbox sharing it, and the others now share the heir's.
   */
  private async takeOver(
    rec: SandboxRecord,
    members: string[],
  ): Promise<SandboxRecord | undefined> {
    // The members' records are read and rewritten under their locks: a
    // member removed meanwhile is not written back as ready.
    const unlocks: (() => void)[] = [];
    try {
      for (const m of [...new Set(members)].sort()) unlocks.push(await this.locks.lockSandbox(m));
      return await this.takeOverLocked(rec, members);
    } finally {
      for (const unlock of unlocks.reverse()) unlock();
    }
  }

  private async takeOverLocked(
    rec: SandboxRecord,
    members: string[],
  ): Promise<SandboxRecord | undefined> {
    const read = new FsBatch();
    for (const m of members) read.add({ op: 'read', path: this.state.recordPath('sandboxes', m) });
    const recs = (await read.run())
      .filter((x) => x.ok)
      .map((x) => JSON.parse(x.text!) as SandboxRecord)
      .filter((s) => s.container === rec.name && s.netns);
    const heir = recs[0];
    const b = new FsBatch();
    for (const m of members)
      b.add({ op: 'unlink', path: path.join(this.state.joinDir(rec.name), m) });
    b.add({ op: 'rmdir', path: this.state.joinDir(rec.name) });
    if (heir) {
      heir.endpoints = rec.endpoints;
      heir.mode = rec.mode;
      delete heir.container;
      for (const ep of heir.endpoints)
        for (const op of this.state.reownOps(ep, heir.name)) b.add(op);
      b.add({
        op: 'replace',
        path: this.state.recordPath('sandboxes', heir.name),
        data: JSON.stringify(heir),
      });
      for (const s of recs.slice(1)) {
        s.container = heir.name;
        b.add({
          op: 'replace',
          path: this.state.recordPath('sandboxes', s.name),
          data: JSON.stringify(s),
        });
        for (const op of this.state.joinOps(heir.name, s.name)) b.add(op);
      }
    }
    await b.run();
    if (heir) await this.firewall?.reown(rec, heir);
    return heir;
  }

  // ---- connect / disconnect ----

  /** Equivalent to `docker network connect [--alias A] [--ip IP] NETWORK SANDBOX`. */
  async connect(sandbox: string, network: string, opts: ConnectOptions = {}): Promise<Endpoint> {
    validateName(sandbox, 'sandbox');
    return this.track(sandbox, () => this.connectTracked(sandbox, network, opts));
  }

  private async connectTracked(
    sandbox: string,
    network: string,
    opts: ConnectOptions,
  ): Promise<Endpoint> {
    const rec = await this.state.read<SandboxRecord>('sandboxes', sandbox);
    if (!rec || rec.state !== 'ready')
      throw new NotFoundError('sandbox', `sandbox "${sandbox}" not found`);
    if (rec.mode !== 'bridge')
      throw new ValidationError(
        'sandbox',
        `a sandbox in ${rec.mode} mode cannot be connected to networks`,
      );
    if (network === DEFAULT_NETWORK) refuseOnDefault(opts, listOf(opts.aliases, 'aliases'));
    const net = await this.network(network);
    if (rec.endpoints.some((e) => e.network === net.name))
      throw new ConflictError(
        'network',
        `sandbox "${sandbox}" is already connected to network "${net.name}"`,
      );
    const aliases = listOf(opts.aliases, 'aliases').map((a, i) =>
      validateHostname(a, `aliases[${i}]`),
    );
    const used = new Set(rec.endpoints.map((e) => e.ifname));
    let n = 0;
    while (used.has(`eth${n}`)) n++;
    const ep = await this.planEndpoint(rec, net, `eth${n}`, { ...opts, aliases });
    const undo: Undo = [() => this.releaseEndpoint(ep)];
    let sbx: SandboxHandle | undefined;
    try {
      rec.endpoints.push(ep);
      await this.state.write('sandboxes', rec.name, rec);
      undo.push(() => {
        rec.endpoints = rec.endpoints.filter((e) => e.id !== ep.id);
        return this.state.write('sandboxes', rec.name, rec);
      });
      sbx = await openSandboxNetns(rec.netns!, this.netnsDir);
      let hasDefault = false;
      for (const e of rec.endpoints)
        if (e.id !== ep.id && (await this.givesDefault(e))) hasDefault = true;
      // Taken back whatever part of it was made: the veth comes first, and
      // a later step inside the sandbox can still fail.
      undo.push(() => deleteLink(this.host, ep.hostIfname));
      await attachEndpoint(this.host, sbx, {
        ep,
        net,
        ...(await this.linkPlan(rec, net, ep, !net.internal && !hasDefault)),
      });
      await this.writeFiles(rec);
      await this.sandboxDns(rec.name, rec);
      return toSandbox(rec).endpoints.find((e) => e.ifname === ep.ifname)!;
    } catch (err) {
      await unwind(undo);
      throw err;
    } finally {
      await sbx?.rt.close();
      await sbx?.ns.close();
    }
  }

  /** Whether an endpoint's network routes to the outside (the default route may go through it). */
  private async givesDefault(ep: EndpointRecord): Promise<boolean> {
    const net = await this.state.read<NetworkRecord>('networks', ep.network);
    return net !== undefined && !net.internal;
  }

  /** Equivalent to `docker network disconnect NETWORK SANDBOX`. */
  async disconnect(sandbox: string, network: string): Promise<void> {
    validateName(sandbox, 'sandbox');
    validateName(network, 'network');
    return this.track(sandbox, () => this.disconnectTracked(sandbox, network));
  }

  private async disconnectTracked(sandbox: string, network: string): Promise<void> {
    const rec = await this.state.read<SandboxRecord>('sandboxes', sandbox);
    if (!rec || rec.state !== 'ready')
      throw new NotFoundError('sandbox', `sandbox "${sandbox}" not found`);
    const ep = rec.endpoints.find((e) => e.network === network);
    if (!ep)
      throw new NotFoundError(
        'network',
        `sandbox "${sandbox}" is not connected to network "${network}"`,
      );
    const sbx = await openSandboxNetns(rec.netns!, this.netnsDir);
    try {
      const routes = await sbx.rt.routes.list({ family: 4 });
      const index = await sbx.rt.index(ep.ifname, 'ifname');
      const heldDefault = routes.some((r) => r.dst === 'default' && r.oif === index);
      await this.firewall?.unpublish(rec, ep);
      // Deleting the inside end takes the pair and its routes with it.
      await deleteLink(sbx.rt, ep.ifname);
      rec.endpoints = rec.endpoints.filter((e) => e.id !== ep.id);
      if (heldDefault) {
        let next: EndpointRecord | undefined;
        for (const e of rec.endpoints) if (await this.givesDefault(e)) next = next ?? e;
        await replaceDefaultRoute(sbx, next);
      }
      await releasePorts(this.state, ep);
      await this.releaseEndpoint(ep);
      await this.state.write('sandboxes', rec.name, rec);
      await this.writeFiles(rec);
      await this.sandboxDns(rec.name, rec);
    } finally {
      await sbx.rt.close();
      await sbx.ns.close();
    }
  }

  // ---- prune ----

  /**
   * Reconciles state with the kernel after a crash: finishes or undoes
   * half-made sandboxes and networks, removes kernel objects tagged as ours
   * that no record owns, and frees addresses and ports nobody holds. Waits
   * until no operation on sandboxes of any engine on the state directory
   * (in this process or another) is in flight; those started meanwhile wait
   * for it.
   */
  async prune(): Promise<PruneReport> {
    return prune(this);
  }

  /**
   * Runs an operation on sandbox `name`: alone on it (whatever engine or
   * process runs the others), and never while a prune runs (see locks.ts).
   */
  private async track<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const leave = this.locks.tryEnter(name) ?? (await this.locks.enter(name));
    try {
      return await fn();
    } finally {
      leave();
    }
  }

  /** @internal for prune */
  async finishSandbox(rec: SandboxRecord): Promise<void> {
    await this.teardownSandbox(rec);
  }

  /** @internal for prune */
  async finishNetwork(rec: NetworkRecord): Promise<void> {
    await this.teardownNetwork(rec);
  }
}
