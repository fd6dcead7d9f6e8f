/**
 * Rtnl: an rtnetlink handle bound to one network namespace (like
 * vishvananda/netlink's NewHandleAt), with one room per object kind.
 */
import { K, native, type HandleNative } from '../binding';
import { Channel } from '../channel';
import { closedHandleError, fromSystemError } from '../errors';
import type { NetNS } from '../netns';
import { Addrs } from './addrs';
import { RtnlBatch } from './batch';
import { createNetns, type NetnsPlan } from './build';
import { NetnsBuilders } from './builders';
import { REQ_ACK, validateLinkRef, type LinkRef, type RtnlContext } from './common';
import { Links, type Link } from './links';
import { Monitor, type MonitorGroup, type MonitorOptions } from './monitor';
import { Neighbors } from './neigh';
import { Routes } from './routes';

/**
 * An rtnetlink handle in one network namespace: links, addresses, routes,
 * neighbours, and change monitoring (`ip link|addr|route|neigh|monitor`).
 * Open it with {@link Rtnl.open}; close it when done.
 */
export class Rtnl implements RtnlContext {
  /** links: `ip link` */
  readonly links: Links;
  /** addresses: `ip addr` */
  readonly addrs: Addrs;
  /** routes: `ip route` */
  readonly routes: Routes;
  /** neighbour and FDB entries: `ip neigh`, `bridge fdb` */
  readonly neigh: Neighbors;
  /** @internal */
  readonly channel: Channel;
  /** @internal the threads of createNetns (started by its first call) */
  readonly builders = new NetnsBuilders();
  private closed = false;

  private constructor(
    /** @internal */ readonly handle: HandleNative,
    /** the namespace this handle works in; undefined: this process's own */
    readonly netns: NetNS | undefined,
  ) {
    this.channel = new Channel(handle, K.NETLINK_ROUTE);
    this.links = new Links(this);
    this.addrs = new Addrs(this);
    this.routes = new Routes(this);
    this.neigh = new Neighbors(this);
  }

  /**
   * Opens a handle whose socket lives in `netns` (this process's namespace
   * when omitted), like `ip -n NAME ...` (`ip netns exec NAME ip ...`).
   * Every call is asynchronous; the kernel work happens on the handle's own
   * thread. Close it when done.
   */
  static async open(netns?: NetNS): Promise<Rtnl> {
    const handle = new native.Handle();
    try {
      if (netns) (await handle.enter({ netns: netns.fd })).close();
    } catch (err) {
      await handle.close();
      throw fromSystemError(err, `open rtnetlink in ${netns?.path ?? 'this namespace'}`);
    }
    return new Rtnl(handle, netns);
  }

  /**
   * Wraps a handle that already lives in `netns` (it is closed with this Rtnl).
   * @internal
   */
  static fromHandle(handle: HandleNative, netns: NetNS | undefined): Rtnl {
    return new Rtnl(handle, netns);
  }

  /** @internal ifindex of `ref`, asking the kernel when it is a name. */
  async index(ref: LinkRef, field: string): Promise<number> {
    validateLinkRef(ref, field);
    if (typeof ref === 'number') return ref;
    const msgs = await this.channel.request({
      buf: native.encode('getlink', {
        flags: REQ_ACK(),
        name: ref,
        extMask: K.RTEXT_FILTER_SKIP_STATS,
      }),
      op: `RTM_GETLINK ${ref}`,
    });
    return (msgs[0]!.object as Link).index;
  }

  /**
   * Starts a batch: changes queued on it reach the kernel in one sendmsg,
   * in order, with one wait (`ip -n NS -batch FILE`). Example:
   *
   *   await rt.batch().linkSet(1, { up: true }).addrAdd(2, '10.0.0.2/24')
   *     .linkSet(2, { up: true }).routeAdd({ dst: 'default', gateway: '10.0.0.1' }).send();
   */
  batch(): RtnlBatch {
    return new RtnlBatch(this);
  }

  /**
   * Makes a named namespace and wires it up in one round trip: what
   *
   *   ip netns add NAME
   *   ip -n NAME -batch INSIDE     # the changes queued on `inside`
   *   ip -batch HERE               # those on `here`, in this handle's namespace
   *
   * do, interleaved in the order `plan` queued them, by one native thread
   * that makes the namespace, keeps a socket here and one inside, and sends
   * neighbouring changes on one side in one sendmsg. Everything is validated
   * and encoded before the kernel is touched (a ValidationError names the
   * field). If the kernel refuses a change, the namespace is deleted, taking
   * its links with it (and a veth's end here), and the refusal is thrown as a
   * NetlinkError naming the change; other changes made here are not undone.
   *
   * The thread is this handle's and stays for the next call (more start
   * while calls overlap, up to one per CPU, at most 4): while it waits it
   * makes the next namespace ahead, so a loop of createNetns calls does not
   * wait for unshare(2). {@link Rtnl.close} ends the threads and that
   * namespace.
   *
   * Inside, links are named by ifindex (lo is 1; give the links you add an
   * `index`): there is no socket to look names up before the namespace
   * exists. `linkSet` may name a link: the kernel finds it by name.
   *
   *   const ns = await rt.createNetns('web', (inside, here) => {
   *     inside.linkSet(1, { up: true }).linkAdd({ kind: 'veth', name: 'eth0', index: 2,
   *       peer: { name: 'veth-web', netns: hostNs } });
   *     here.linkSet('veth-web', { master: 'br0', up: true });
   *     inside.addrAdd(2, '172.17.42.99/16').linkSet(2, { up: true })
   *       .routeAdd({ dst: 'default', gateway: '172.17.42.1' });
   *   });
   */
  createNetns(
    name: string,
    plan: (inside: NetnsPlan, here: NetnsPlan) => void,
    opts: { dir?: string } = {},
  ): Promise<NetNS> {
    if (this.closed) return Promise.reject(closedHandleError(`createNetns ${name}`));
    return createNetns(this, name, plan, opts);
  }

  /** @internal */
  async inNetns<T>(netns: NetNS, fn: (rt: Rtnl) => Promise<T>): Promise<T> {
    const other = await Rtnl.open(netns);
    try {
      return await fn(other);
    } finally {
      await other.close();
    }
  }

  /**
   * Subscribes to changes, like `ip monitor link address route neigh`.
   * Iterate the result with `for await`; breaking out ends the subscription.
   * `opts.actions` keeps only additions/changes or only removals, filtered
   * in the kernel.
   */
  monitor(
    groups: readonly MonitorGroup[] = ['link', 'addr', 'route', 'neigh'],
    opts: MonitorOptions = {},
  ): Promise<Monitor> {
    // The monitor has a socket of its own: without this, a closed handle would open one.
    if (this.closed) return Promise.reject(closedHandleError('rtnetlink monitor'));
    return Monitor.start(this.netns, groups, opts);
  }

  /**
   * Closes the socket and its thread, and the threads of createNetns with
   * the namespace they made ahead. Idempotent. Every call after it rejects
   * with a NetlinkError, code EBADF.
   */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([this.handle.close(), this.builders.close()]);
  }
}

export type { LinkRef, RawAttr } from './common';
export type { IpFamily } from '../util/ip';
export type { RtnlBatch } from './batch';
export type { NetnsPlan } from './build';
export type { Addrs, Address, AddressFilter, AddressOptions } from './addrs';
export type {
  AddrGenMode,
  BridgeInfo,
  BridgePortInfo,
  BridgeSpec,
  Link,
  LinkChanges,
  LinkFilter,
  LinkSpec,
  LinkStats,
  Links,
  MacvlanSpec,
  PlainSpec,
  TunInfo,
  TunSpec,
  VethPeerSpec,
  VethSpec,
  VxlanInfo,
  VxlanSpec,
} from './links';
export type { MonitorGroup, MonitorOptions, RtnlEvent } from './monitor';
export { Monitor } from './monitor';
export type { Neighbor, NeighborFilter, NeighborSpec, NeighborState, Neighbors } from './neigh';
export type {
  Route,
  RouteFilter,
  RouteProtocol,
  RouteScope,
  RouteSpec,
  RouteTable,
  RouteType,
  Routes,
} from './routes';
