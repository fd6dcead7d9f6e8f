/**
 * The kernel side of the engine: bridges for networks, and for sandboxes a
 * namespace, veth pairs born straight into it, addresses and routes — each
 * step one pipelined batch of netlink requests.
 */
import {
  K,
  native,
  type FsOp,
  type FsResult,
  type HandleNative,
  type NativeSequenceResult,
  type NativeStep,
  type NativeTiming,
  type NativeTransaction,
} from '../binding';
import type { Request } from '../channel';
import { randomBytes } from 'node:crypto';
import { access } from 'node:fs/promises';
import path from 'node:path';

import { NetlinkError, fromSystemError } from '../errors';
import { NetNS } from '../netns';
import { Rtnl } from '../rtnl';
import { NetnsBuilders } from '../rtnl/builders';
import { formatMac } from '../util/ip';
import type { EndpointRecord, NetworkRecord } from './records';

/** The namespace-side ifindex the engine gives eth0 (lo is always 1 in a new namespace). */
const FIRST_IFINDEX = 2;

/**
 * One transmit and one receive queue on each veth end, the number a veth
 * uses anyway. Without them the kernel allocates one per possible CPU and
 * then cuts the registered device down to one, which waits for an
 * expedited RCU grace period (synchronize_net in veth_init_queues): on
 * this VM ~90 µs per pair, and a stall of milliseconds when the other vCPU
 * is slow to answer.
 */
const ONE_QUEUE = { numTxQueues: 1, numRxQueues: 1 } as const;
/** The least MTU a link carrying IPv6 may have (uapi linux/ipv6.h). */
export const IPV6_MIN_MTU = 1280;

let ipv6Kernel: Promise<boolean> | undefined;

/** Whether the kernel has IPv6 at all (not booted with ipv6.disable=1): its sysctls exist. */
function kernelHasIpv6(): Promise<boolean> {
  ipv6Kernel ??= access('/proc/sys/net/ipv6').then(
    () => true,
    () => false,
  );
  return ipv6Kernel;
}

/**
 * Set on a new endpoint that announces its address (arp_notify: a gratuitous
 * ARP when it comes up), in a message before the one bringing it up: the
 * kernel applies a message's flags before its per-family settings.
 *
 * Which endpoints announce: a MAC is derived from the IPv4 address unless
 * the user chose one, so an address handed out again comes with the MAC it
 * had and the ARP caches of the gateway and the other sandboxes stay right
 * without a broadcast (which the bridge floods to every port: each new
 * sandbox's cost the kernel work for every sandbox already there). An
 * endpoint with a MAC of its own announces itself, and once one has joined
 * a network every later one does too (NetworkRecord.announce): the address
 * it gets may be cached with that other MAC.
 */
const ANNOUNCE = { arpNotify: true } as const;

/**
 * IPv6 where a network has none, as Docker does: the sandbox's interface on
 * an IPv4-only network gets IPv6 disabled (no link-local address, no
 * DAD/router/MLD traffic, nothing learned from a stray router
 * advertisement). Besides being right, this keeps every new sandbox from
 * flooding all others with IPv6 multicast.
 *
 * A host end, a bridge port that needs no address of its own, gets IPv6
 * disabled on any network, before it has carrier (bridging is unaffected).
 * Only turning off its link-local address (addrgenmode none) would still
 * give the host a multicast route per host end (ff00::/8 in table local):
 * 1,000 sandboxes, 1,000 routes, and the kernel walks the whole IPv6 table
 * at every change of a link without carrier, as a new host end is.
 */
async function ipv6Quiet(
  ep: EndpointRecord,
  mtu: number,
): Promise<{
  hostEnd: { write: string; data: string }[];
  inside: { write: string; data: string }[];
}> {
  // Below IPv6's minimum MTU the kernel gives a link no IPv6 at all (and no
  // conf/LINK directory to write to).
  if (mtu < IPV6_MIN_MTU || !(await kernelHasIpv6())) return { hostEnd: [], inside: [] };
  return {
    hostEnd: [{ write: `/proc/sys/net/ipv6/conf/${ep.hostIfname}/disable_ipv6`, data: '1' }],
    inside:
      ep.ip6 === undefined
        ? [{ write: `/proc/sys/net/ipv6/conf/${ep.ifname}/disable_ipv6`, data: '1' }]
        : [],
  };
}

export interface SandboxHandle {
  ns: NetNS;
  rt: Rtnl;
  handle: HandleNative;
}

/**
 * A random, locally administered unicast MAC for a bridge. A bridge whose
 * MAC was never set takes the lowest MAC of its ports and changes it as
 * ports come and go: each change flushes the host's ARP cache on it and
 * leaves every sandbox with a wrong MAC for its gateway. One set at creation
 * stays (Docker's bridge driver sets one too).
 */
function bridgeMac(): string {
  const b = randomBytes(6);
  b[0] = (b[0]! & 0xfe) | 0x02;
  return formatMac(b);
}

/**
 * ip link add BRIDGE mtu M address MAC type bridge stp_state 0 forward_delay 0
 * mcast_snooping 0; ip addr add GW/LEN dev BRIDGE; ip link set BRIDGE up
 *
 * Multicast snooping off: with it on, each port that comes up re-arms the
 * IGMP and MLD query timers of every port of the bridge
 * (br_port_state_selection), work that grows with the ports: the 1,000th
 * sandbox's bridge step took 0.15 ms longer than with snooping off. What
 * reaches the sandboxes is the same: with no multicast querier on the bridge
 * (there is none by default) the kernel floods multicast to every port
 * either way.
 */
export async function createBridge(
  host: Rtnl,
  net: NetworkRecord,
  alias: string,
  hostSysctl: (key: string, value: string) => Promise<void>,
): Promise<number> {
  const prefixlen = Number(net.subnet.split('/')[1]);
  const link = await host.links.add({
    kind: 'bridge',
    name: net.bridge,
    mtu: net.mtu,
    mac: bridgeMac(),
    alias,
    stp: false,
    forwardDelay: 0,
    mcastSnooping: false,
    // icc=false through the firewall (see NetworkRecord.isolation).
    ...(net.isolation === 'netfilter' ? { nfCallIptables: true, nfCallIp6tables: true } : {}),
  });
  try {
    await bridgeUp(host, net, link.index, prefixlen, hostSysctl);
  } catch (err) {
    // The caller undoes only what it was given: the bridge made here goes here.
    await deleteLink(host, net.bridge).catch(() => undefined);
    throw err;
  }
  return link.index;
}

/** ip addr add GW/LEN dev BRIDGE [; the same for IPv6]; ip link set BRIDGE up */
async function bridgeUp(
  host: Rtnl,
  net: NetworkRecord,
  index: number,
  prefixlen: number,
  hostSysctl: (key: string, value: string) => Promise<void>,
): Promise<void> {
  const requests: Request[] = [
    {
      buf: native.encode('newaddr', host.addrs.wire(index, `${net.gateway}/${prefixlen}`)),
      op: `RTM_NEWADDR ${net.gateway} dev ${net.bridge}`,
    },
  ];
  if (net.subnet6 && net.gateway6) {
    // No DAD for the bridge's own link-local address: while it is tentative
    // (1-2 s from the first port's carrier) the kernel sends no neighbour
    // solicitation from the bridge (ndisc_send_ns needs a usable link-local
    // source), so the first IPv6 packets routed to a sandbox of a new
    // network waited for it: a TCP connect took 2 s.
    await hostSysctl(`net/ipv6/conf/${net.bridge}/accept_dad`, '0');
    const len6 = Number(net.subnet6.split('/')[1]);
    requests.push({
      buf: native.encode(
        'newaddr',
        host.addrs.wire(index, `${net.gateway6}/${len6}`, { noDad: true }),
      ),
      op: `RTM_NEWADDR ${net.gateway6} dev ${net.bridge}`,
    });
  }
  requests.push({
    buf: native.encode('newlink', await host.links.setWire(index, { up: true })),
    op: `RTM_NEWLINK ${net.bridge} up`,
  });
  await host.channel.send(requests);
}

export interface NewSandboxPlan {
  name: string;
  /** where named namespaces are mounted (resolved: the namespace is DIR/NAME) */
  dir: string;
  /** the host namespace, where the veth's host end is born */
  hostNs: NetNS;
  /** the sandbox's first endpoint: its veth is made while `rest` is prepared */
  endpoint?: { ep: EndpointRecord; net: NetworkRecord };
  /** whether `rest` may give an nftables batch (its host socket is opened with the first half) */
  firewall: boolean;
  /**
   * steps before anything is made, in the host namespace: the record (the
   * name's reservation), addresses and ports, port probes
   */
  before: NativeStep[];
  /**
   * The rest of the plan, prepared on the event loop while the builder
   * thread runs the first half of the job (the `before` steps, the
   * namespace, the veth). What it throws fails the job at its second half:
   * what the first half made is taken back like any failure's.
   */
  rest: () => Promise<SandboxRest>;
  /** measure where the builder's time goes (SandboxJobResult.phases) */
  timing?: boolean;
}

/** The second half of a new sandbox's plan (see NewSandboxPlan.rest). */
export interface SandboxRest {
  /** how the endpoint joins its network (with `endpoint`) */
  link?: Omit<EndpointPlan, 'ep' | 'net' | 'index'>;
  /** an nftables batch for the host's firewall (DNAT of published ports), sent after the veth */
  nft?: Buffer;
  /**
   * state-directory operations that need nothing the job makes (the
   * sandbox's /etc/netns files, the address cursor): written on a helper
   * thread beside the second half's kernel steps (NativeStep `aside`)
   */
  aside?: FsOp[];
  /** state-directory operations once everything is made and `aside` written (the record marked ready) */
  after: FsOp[];
}

type StepResult = NativeTransaction | FsResult | { probe: string | null };

/** How a sandbox job ended; on a failure, the namespace is already gone. */
export interface SandboxJobResult {
  /** where the job stopped: -1 done, else the index of the failed step in its phase */
  failed: number;
  phase?: 'before' | 'kernel' | 'after';
  /** results of the `before` steps that ran */
  before: StepResult[];
  /** whether the nftables batch was applied */
  nftApplied: boolean;
  /** whether the second half ran, and with it SandboxRest.aside (which a failure then takes back) */
  asideRan: boolean;
  /** what the failed step says (a netlink or file error; undefined for a refused reservation) */
  error?: Error;
  /** with NewSandboxPlan.timing: milliseconds of the builder's time per part of the job (see jobPhases) */
  phases?: Record<string, number>;
}

/**
 * Where a sandbox job's time went on its builder thread, in milliseconds:
 * `job.queued` waiting for the thread (finishing the namespace it made
 * ahead, or other jobs), `job.reserve` the state steps before anything is
 * made (the record, address and port reservations, port probes),
 * `job.netns` the namespace (adopting it, the bind mount, setns),
 * `job.veth` the veth pair, `job.ipv6` the IPv6 switches, `job.bridge` the
 * host end joining its bridge, `job.nft` the DNAT elements, `job.eth0`
 * eth0's addresses, up and routes, `job.files` the record marked ready
 * (with any wait for the aside steps). What the job's total has beyond
 * their sum is the hand-overs between the event loop and the thread. Apart
 * from those: `job.aside`, the /etc/netns files and the address cursor,
 * written on a helper thread beside the second half's kernel steps (its
 * time, not the builder's; the builder's own when other jobs waited for it
 * and it wrote them in order, see NativeStep).
 */
function jobPhases(
  before: number,
  first: NativeStep[],
  second: NativeStep[],
  enter: NativeTiming | undefined,
  release: NativeTiming | undefined,
): Record<string, number> {
  const out: Record<string, number> = {};
  const add = (phase: string, ns: number): void => {
    out[phase] = (out[phase] ?? 0) + ns / 1e6;
  };
  const kind = (step: NativeStep, isFirst: boolean): string => {
    if ('fs' in step) return step.aside ? 'job.aside' : 'job.files';
    if ('probe' in step) return 'job.reserve';
    if ('write' in step) return 'job.ipv6';
    if (step.protocol === K.NETLINK_NETFILTER) return 'job.nft';
    if (isFirst) return 'job.veth';
    return step.outer ? 'job.bridge' : 'job.eth0';
  };
  if (enter) {
    add('job.queued', enter.queuedNs);
    if (enter.netnsNs !== undefined) add('job.netns', enter.netnsNs);
    enter.stepNs.forEach((ns, i) => {
      add(i < before ? 'job.reserve' : kind(first[i - before]!, true), ns);
    });
  }
  release?.stepNs.forEach((ns, i) => {
    add(kind(second[i]!, false), ns);
  });
  return out;
}

/** What a failed step says; undefined for a step that ran and found a name taken. */
function stepError(name: string, step: number, r: StepResult | undefined): Error | undefined {
  if (r && 'error' in r && r.error)
    return fromSystemError(r.error, `sandbox ${name} step ${step + 1}`);
  if (r && 'completions' in r) {
    const c = r.completions.find((x) => x.error !== 0);
    if (c)
      return new NetlinkError({
        code: c.code ?? `E${c.error}`,
        errno: c.error,
        op: `sandbox ${name} step ${step + 1}`,
        extack: c.extack,
      });
  }
  return undefined;
}

/**
 * Creates a sandbox namespace and its first endpoint in one job on a builder
 * thread (see SandboxBuilders), which has host-side sockets open, runs the
 * `before` steps (record, addresses, ports, probes), unshares into a new
 * namespace, mounts it under its name, runs
 *
 *   ip link set lo up; ip link add eth0 index 2 mtu M address MAC type veth
 *     peer name HOSTEND netns HOST mtu M      (the host end is born in place)
 *   echo 1 > conf/HOSTEND/disable_ipv6        (host's /proc/sys: see ipv6Quiet)
 *   [echo 1 > conf/eth0/disable_ipv6]         (IPv4-only network)
 *   ip link set HOSTEND master BR up alias OWNER
 *     [bridge_slave isolated/hairpin]                                        (host socket)
 *   nft add element inet netplumb dnat4_... { ... }                          (host socket)
 *   ip addr add IP/LEN dev eth0; [sysctl conf.eth0.arp_notify=1 (see ANNOUNCE)]
 *   ip link set eth0 up; ip route add default via GW
 *
 * writes the files and marks the record ready, then goes back to the host
 * namespace: the event loop waits for the kernel once per sandbox. The
 * namespace and its lo the builder has usually made ahead, while it waited
 * for this job.
 *
 * The job goes to the thread in two halves: up to the veth at once, and
 * the rest once `plan.rest()` has given what it needs (the nftables batch,
 * the files, the bridge), which the event loop prepares while the thread
 * makes the veth, the costliest step. The thread holds the namespace in
 * between (EnterOptions.hold).
 *
 * On a failure the namespace (and with it both veth ends) is removed; the
 * caller undoes the state-directory steps and the nftables batch (see
 * SandboxJobResult).
 */
export async function runSandboxJob(
  host: Rtnl,
  builders: SandboxBuilders,
  plan: NewSandboxPlan,
): Promise<SandboxJobResult> {
  const file = `${plan.dir}/${plan.name}`;
  const ROUTE = K.NETLINK_ROUTE;
  const local = builders.encoder;
  const first: NativeStep[] = [];
  const e = plan.endpoint;
  const quiet = e ? await ipv6Quiet(e.ep, e.net.mtu) : undefined;
  if (e) {
    const { ep, net } = e;
    const veth = await local.links.addWire({
      kind: 'veth',
      name: ep.ifname,
      mtu: net.mtu,
      mac: ep.mac,
      ...ONE_QUEUE,
      peer: { name: ep.hostIfname, netns: plan.hostNs, mtu: net.mtu, ...ONE_QUEUE },
    });
    veth.index = FIRST_IFINDEX;
    first.push({ protocol: ROUTE, batch: native.encode('newlink', veth) });
    first.push(...quiet!.hostEnd.map((w) => ({ ...w, outer: true })));
    first.push(...quiet!.inside);
  }
  const protocols = e ? [ROUTE, ...(plan.firewall ? [K.NETLINK_NETFILTER] : [])] : [];
  const prepare = await builders.prepare();
  const nb = plan.before.length;
  const token = nextHoldToken();
  let job;
  try {
    job = await builders.run(async (handle) => {
      const held = handle.enter({
        create: file,
        outer: protocols,
        // An engine whose host is another namespace: the thread starts there,
        // so host-side sockets and the `before` probes see that namespace.
        ...(host.netns ? { outerNetns: host.netns.fd } : {}),
        before: plan.before,
        prepare,
        steps: first,
        reuse: true,
        hold: token,
        ...(plan.timing ? { timing: true } : {}),
      });
      // While the thread works: the second half. Whatever happens here, the
      // thread gets its release (with nothing to run after an error).
      const asError = (err: unknown): Error =>
        err instanceof Error ? err : new Error(String(err));
      let second: SecondHalf | undefined;
      let restError: Error | undefined;
      try {
        second = await secondHalf(host, local, e, await plan.rest());
      } catch (err) {
        restError = asError(err);
      }
      let released;
      try {
        released = handle.release(token, second?.steps ?? [], plan.timing);
      } catch (err) {
        // Steps the binding refuses: still let the thread go home.
        restError = asError(err);
        second = undefined;
        released = handle.release(token, []);
      }
      const [a, b] = await Promise.allSettled([held, released]);
      if (a.status === 'rejected') throw a.reason;
      let ran: NativeSequenceResult & { held: boolean } = { results: [], failed: -1, held: false };
      if (b.status === 'fulfilled') {
        ran = b.value;
      } else if (!restError) {
        // The handle closed under us (its thread left the namespace made):
        // a failure of the second half, undone like one.
        restError = asError(b.reason);
        second = undefined;
      }
      if (a.value.failed < 0 && !ran.held && !restError)
        restError = new Error('the builder did not hold the namespace for the second half');
      return { a: a.value, b: ran, second, restError };
    });
  } catch (err) {
    throw fromSystemError(err, `netns add ${plan.name}`);
  }
  const { a, b, second, restError } = job;
  a.ns?.close();
  // Step indices as one sequence: before, first half, second half.
  const afterFirst = first.length + (second?.afterAt ?? 0);
  const nftStep = second && second.nftAt >= 0 ? first.length + second.nftAt : -1;
  const results = [...a.results, ...b.results];
  const failedAt =
    a.failed >= 0
      ? a.failed
      : restError
        ? nb + first.length
        : b.failed >= 0
          ? nb + first.length + b.failed
          : -1;
  const out: SandboxJobResult = {
    failed: -1,
    before: results.slice(0, nb),
    nftApplied: nftStep >= 0 && results.length > nb + nftStep && failedAt !== nb + nftStep,
    asideRan: b.held && second !== undefined && second.steps.some((s) => 'aside' in s && s.aside),
    ...(plan.timing
      ? { phases: jobPhases(nb, first, second?.steps ?? [], a.timing, b.timing) }
      : {}),
  };
  if (failedAt < 0) return out;
  // The namespace takes eth0 and, with it, the host end of the pair.
  if (a.ns) await deleteNetns(plan.dir, plan.name).catch(() => undefined);
  const at = failedAt;
  const inKernel = at - nb;
  // Entering (making the namespace) counts as the first kernel step, even
  // when a sandbox without endpoint has no other; so does preparing the
  // second half.
  const inKernelPhase =
    a.enterError !== undefined || restError !== undefined || inKernel < afterFirst;
  out.phase = at < nb ? 'before' : inKernelPhase ? 'kernel' : 'after';
  out.failed = at < nb ? at : inKernelPhase ? inKernel : inKernel - afterFirst;
  out.error = a.enterError
    ? fromSystemError(a.enterError, `netns add ${plan.name}`)
    : (restError ?? stepError(plan.name, at, results[at]));
  if (e && second && second.bridgeAt >= 0 && at === nb + first.length + second.bridgeAt)
    out.error = bridgeError(e.ep, e.net, out.error);
  return out;
}

/**
 * A host end the bridge refused: EXFULL says the bridge has all the ports
 * Linux gives one (BR_MAX_PORTS, 1,024 port numbers, 0 reserved).
 */
function bridgeError<E>(ep: EndpointRecord, net: NetworkRecord, err: E): E | NetlinkError {
  if (!(err instanceof NetlinkError) || err.code !== 'EXFULL') return err;
  return new NetlinkError({
    code: err.code,
    errno: err.errno,
    op: `ip link set ${ep.hostIfname} master ${net.bridge}`,
    extack: err.extack,
    message: `network ${net.name} is full: its bridge ${net.bridge} has the 1,023 ports a Linux bridge can have (EXFULL)`,
  });
}

let holdToken = 0;

/** Names a held namespace's release (see EnterOptions.hold): a builder may hold one while others queue. */
function nextHoldToken(): number {
  holdToken = (holdToken % 0xfffffffe) + 1;
  return holdToken;
}

interface SecondHalf {
  steps: NativeStep[];
  /** index in `steps` of the host end's joining its bridge, or -1 */
  bridgeAt: number;
  /** index in `steps` of the nftables batch, or -1 */
  nftAt: number;
  /** index in `steps` of the first state-directory operation */
  afterAt: number;
}

/** Messages about eth0 that are the same for every sandbox (up, announce, a default route), encoded once. */
const encodedOnce = new Map<string, Buffer>();

async function once(key: string, encode: () => Promise<Buffer>): Promise<Buffer> {
  let buf = encodedOnce.get(key);
  if (buf === undefined) {
    buf = await encode();
    // Gateways come and go with networks: keep the map small.
    if (encodedOnce.size >= 64) encodedOnce.clear();
    encodedOnce.set(key, buf);
  }
  return buf;
}

/** The steps after the veth: the host end joins the bridge, the firewall, eth0's address, up, routes, files. */
async function secondHalf(
  host: Rtnl,
  local: Rtnl,
  e: NewSandboxPlan['endpoint'],
  rest: SandboxRest,
): Promise<SecondHalf> {
  const ROUTE = K.NETLINK_ROUTE;
  const steps: NativeStep[] = [];
  const outer: Buffer[] = [];
  const inner: Buffer[] = [];
  const link = rest.link;
  if (e && link) {
    const { ep } = e;
    outer.push(
      native.encode(
        'newlink',
        await host.links.setWire(ep.hostIfname, {
          master: link.bridgeIndex,
          up: true,
          alias: link.alias,
        }),
      ),
    );
    // Its own message: the kernel applies bridge-port settings before the
    // master of the same message.
    const port = portSettings(link);
    if (port)
      outer.push(native.encode('newlink', await host.links.setWire(ep.hostIfname, { port })));
    inner.push(
      native.encode('newaddr', local.addrs.wire(FIRST_IFINDEX, `${ep.ip}/${ep.prefixlen}`)),
    );
    if (ep.ip6 && ep.prefixlen6 !== undefined) {
      inner.push(
        native.encode(
          'newaddr',
          local.addrs.wire(FIRST_IFINDEX, `${ep.ip6}/${ep.prefixlen6}`, { noDad: true }),
        ),
      );
    }
    if (link.announce) {
      inner.push(
        await once('announce', async () =>
          native.encode('newlink', await local.links.setWire(FIRST_IFINDEX, ANNOUNCE)),
        ),
      );
    }
    inner.push(
      await once('up', async () =>
        native.encode('newlink', await local.links.setWire(FIRST_IFINDEX, { up: true })),
      ),
    );
    if (link.defaultRoute) {
      for (const gateway of [ep.gateway, ep.gateway6]) {
        if (gateway === undefined) continue;
        const route = { dst: 'default', gateway, dev: FIRST_IFINDEX };
        inner.push(
          await once(
            `default via ${gateway}`,
            async () => (await local.routes.request(route, 'add')).buf,
          ),
        );
      }
    }
  }
  const bridgeAt = outer.length > 0 ? steps.length : -1;
  if (outer.length > 0) steps.push({ protocol: ROUTE, outer: true, batch: Buffer.concat(outer) });
  const nftAt = rest.nft ? steps.length : -1;
  if (rest.nft) steps.push({ protocol: K.NETLINK_NETFILTER, outer: true, batch: rest.nft });
  if (inner.length > 0) steps.push({ protocol: ROUTE, batch: Buffer.concat(inner) });
  const afterAt = steps.length;
  for (const op of rest.aside ?? []) steps.push({ fs: op, aside: true });
  for (const op of rest.after) steps.push({ fs: op });
  return { steps, bridgeAt, nftAt, afterAt };
}

/**
 * The threads that build sandboxes (see NetnsBuilders): a sandbox costs no
 * thread of its own, and while a builder waits for its next job it unshares
 * that job's namespace and brings lo up in it.
 */
export class SandboxBuilders extends NetnsBuilders {
  private recipe: NativeStep[] | undefined;

  constructor(
    /** the host's handle: its encoders validate and encode; nothing is sent through it here */
    readonly encoder: Rtnl,
    /** threads at most (default: see NetnsBuilders) */
    max?: number,
  ) {
    super(max);
  }

  /**
   * What every new namespace gets before its sandbox's steps:
   *   ip link set lo up
   */
  async prepare(): Promise<NativeStep[]> {
    this.recipe ??= [
      {
        protocol: K.NETLINK_ROUTE,
        batch: native.encode('newlink', await this.encoder.links.setWire(1, { up: true })),
      },
    ];
    return this.recipe;
  }
}

/** Opens a handle inside an existing sandbox namespace. */
export async function openSandboxNetns(name: string, dir: string): Promise<SandboxHandle> {
  const ns = await NetNS.open(name, { dir });
  try {
    const rt = await Rtnl.open(ns);
    return { ns, rt, handle: rt.handle };
  } catch (err) {
    await ns.close();
    throw err;
  }
}

export interface EndpointPlan {
  ep: EndpointRecord;
  net: NetworkRecord;
  bridgeIndex: number;
  alias: string;
  /** install the default route through this endpoint */
  defaultRoute: boolean;
  /** send a gratuitous ARP when it comes up (see ANNOUNCE) */
  announce: boolean;
  /** ifindex to give the namespace end (known free in a new namespace) */
  index?: number;
  /** bridge port isolation: the network's sandboxes do not reach each other (icc=false) */
  isolated: boolean;
  /** hairpin on the bridge port: the sandbox reaches its own published ports */
  hairpin: boolean;
}

/** `bridge link set dev HOSTEND [isolated on] [hairpin on]`, or nothing to set. */
function portSettings(plan: {
  isolated: boolean;
  hairpin: boolean;
}): { isolated?: true; hairpin?: true } | undefined {
  if (!plan.isolated && !plan.hairpin) return undefined;
  return {
    ...(plan.isolated ? { isolated: true } : {}),
    ...(plan.hairpin ? { hairpin: true } : {}),
  };
}

/**
 * Joins a sandbox to a network: one RTM_NEWLINK creates the veth with its
 * host end enslaved and up and its other end born inside the sandbox, a
 * second one gives the host end its alias (which the kernel ignores at
 * creation) and its bridge-port settings (the master exists by then); then
 * one batch inside sets the address, brings the link up (announcing the
 * address where that is needed: see ANNOUNCE) and adds the default route.
 */
export async function attachEndpoint(
  host: Rtnl,
  sbx: SandboxHandle,
  plan: EndpointPlan,
): Promise<void> {
  const { ep, net } = plan;
  const wire = await host.links.addWire({
    kind: 'veth',
    name: ep.hostIfname,
    mtu: net.mtu,
    up: true,
    ...ONE_QUEUE,
    peer: {
      name: ep.ifname,
      netns: sbx.ns,
      mtu: net.mtu,
      mac: ep.mac,
      ...ONE_QUEUE,
      ...(plan.index ? { index: plan.index } : {}),
    },
  });
  wire.master = plan.bridgeIndex;
  const quiet = await ipv6Quiet(ep, net.mtu);
  const port = portSettings(plan);
  const joined = [
    { buf: native.encode('newlink', wire), op: `RTM_NEWLINK ${ep.hostIfname}` },
    {
      buf: native.encode(
        'newlink',
        await host.links.setWire(ep.hostIfname, { alias: plan.alias, ...(port ? { port } : {}) }),
      ),
      op: `RTM_NEWLINK ${ep.hostIfname} alias${port ? ' bridge_slave' : ''}`,
    },
  ];
  try {
    await host.channel.send(joined);
  } catch (err) {
    throw bridgeError(ep, net, err);
  }
  // Before the peer comes up, the host end has no carrier: no address or
  // route made yet. The two ends' writes go to two threads at once.
  await Promise.all([
    ...quiet.hostEnd.map((w) => host.handle.writeFile(w.write, w.data)),
    ...quiet.inside.map((w) => sbx.handle.writeFile(w.write, w.data)),
  ]);

  const index = plan.index ?? (await sbx.rt.index(ep.ifname, 'ifname'));
  const inside = sbx.rt;
  const requests: Request[] = [
    {
      buf: native.encode('newaddr', inside.addrs.wire(index, `${ep.ip}/${ep.prefixlen}`)),
      op: `RTM_NEWADDR ${ep.ip} dev ${ep.ifname}`,
    },
  ];
  if (ep.ip6 && ep.prefixlen6 !== undefined) {
    requests.push({
      buf: native.encode(
        'newaddr',
        inside.addrs.wire(index, `${ep.ip6}/${ep.prefixlen6}`, { noDad: true }),
      ),
      op: `RTM_NEWADDR ${ep.ip6} dev ${ep.ifname}`,
    });
  }
  if (plan.announce)
    requests.push({
      buf: native.encode('newlink', await inside.links.setWire(index, ANNOUNCE)),
      op: `RTM_NEWLINK ${ep.ifname} arp_notify 1`,
    });
  requests.push({
    buf: native.encode('newlink', await inside.links.setWire(index, { up: true })),
    op: `RTM_NEWLINK ${ep.ifname} up`,
  });
  if (plan.defaultRoute) {
    requests.push(
      await inside.routes.request({ dst: 'default', gateway: ep.gateway, dev: index }, 'add'),
    );
    if (ep.gateway6)
      requests.push(
        await inside.routes.request({ dst: 'default', gateway: ep.gateway6, dev: index }, 'add'),
      );
  }
  await inside.channel.send(requests);
}

/** Points the sandbox's default route(s) at another endpoint's gateway (after a disconnect). */
export async function replaceDefaultRoute(
  sbx: SandboxHandle,
  ep: EndpointRecord | undefined,
): Promise<void> {
  const requests: Request[] = [];
  if (ep) {
    requests.push(
      await sbx.rt.routes.request(
        { dst: 'default', gateway: ep.gateway, dev: ep.ifname },
        'replace',
      ),
    );
    if (ep.gateway6)
      requests.push(
        await sbx.rt.routes.request(
          { dst: 'default', gateway: ep.gateway6, dev: ep.ifname },
          'replace',
        ),
      );
  }
  if (requests.length > 0) await sbx.rt.channel.send(requests);
}

/** ip netns delete NAME, ignoring one already gone. */
export async function deleteNetns(dir: string, name: string): Promise<void> {
  try {
    await native.netnsDelete(path.join(dir, name));
  } catch (err) {
    if ((err as { code?: string }).code !== 'ENOENT')
      throw fromSystemError(err, `netns delete ${name}`);
  }
}

/** Deletes a link, ignoring one already gone. */
export async function deleteLink(rt: Rtnl, name: string): Promise<void> {
  try {
    await rt.links.del(name);
  } catch (err) {
    if (!(err instanceof NetlinkError && err.code === 'ENODEV')) throw err;
  }
}

export { FIRST_IFINDEX, K };
