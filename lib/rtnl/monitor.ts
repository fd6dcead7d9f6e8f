/**
 * Change notifications: `ip monitor link address route neigh`, as an async
 * iterator that ends cleanly when the consumer breaks out of its loop.
 */
import { K, native, type HandleNative, type NativeMessage } from '../binding';
import { NetlinkError, ValidationError, fromSystemError } from '../errors';
import type { NetNS } from '../netns';
import type { Address } from './addrs';
import type { Link } from './links';
import type { Neighbor } from './neigh';
import { routeFromRow, type Route } from './routes';

/** What to subscribe to, as `ip monitor link address route neigh` names it. */
export type MonitorGroup = 'link' | 'addr' | 'route' | 'neigh';

/** One change: which kind of object, whether it appeared (or changed) or went, and the object. */
export type RtnlEvent =
  | {
      /** a link changed */
      kind: 'link';
      /** RTM_NEWLINK (added or changed) or RTM_DELLINK */
      action: 'new' | 'del';
      /** the link as it is now (or was) */
      object: Link;
    }
  | {
      /** an address changed */
      kind: 'addr';
      /** RTM_NEWADDR or RTM_DELADDR */
      action: 'new' | 'del';
      /** the address */
      object: Address;
    }
  | {
      /** a route changed */
      kind: 'route';
      /** RTM_NEWROUTE or RTM_DELROUTE */
      action: 'new' | 'del';
      /** the route */
      object: Route;
    }
  | {
      /** a neighbour or FDB entry changed */
      kind: 'neigh';
      /** RTM_NEWNEIGH or RTM_DELNEIGH */
      action: 'new' | 'del';
      /** the entry */
      object: Neighbor;
    };

/** Options of {@link Rtnl.monitor}. */
export interface MonitorOptions {
  /**
   * Only these actions ('new': added or changed, 'del': removed). The
   * kernel drops the others (a socket filter on the message type), so a
   * monitor waiting for deletions costs nothing while links are made.
   * Default: both.
   */
  actions?: readonly ('new' | 'del')[];
}

/** The message types of `groups` and `actions`, for the socket filter; undefined: all. */
function typesOf(
  groups: readonly MonitorGroup[],
  actions: readonly ('new' | 'del')[] | undefined,
): number[] | undefined {
  if (actions === undefined) return undefined;
  if (!Array.isArray(actions) || actions.length === 0)
    throw new ValidationError('actions', "must list 'new', 'del' or both");
  const byGroup: Record<MonitorGroup, [number, number]> = {
    link: [K.RTM_NEWLINK, K.RTM_DELLINK],
    addr: [K.RTM_NEWADDR, K.RTM_DELADDR],
    route: [K.RTM_NEWROUTE, K.RTM_DELROUTE],
    neigh: [K.RTM_NEWNEIGH, K.RTM_DELNEIGH],
  };
  const out: number[] = [];
  for (const a of actions) {
    if (a !== 'new' && a !== 'del')
      throw new ValidationError('actions', `unknown action ${JSON.stringify(a)} (new, del)`);
    for (const g of groups) out.push(byGroup[g][a === 'new' ? 0 : 1]);
  }
  return out;
}

function groupsOf(names: readonly MonitorGroup[]): number[] {
  const out: number[] = [];
  for (const g of names) {
    if (g === 'link') out.push(K.RTNLGRP_LINK);
    else if (g === 'addr') out.push(K.RTNLGRP_IPV4_IFADDR, K.RTNLGRP_IPV6_IFADDR);
    else if (g === 'route') out.push(K.RTNLGRP_IPV4_ROUTE, K.RTNLGRP_IPV6_ROUTE);
    else if (g === 'neigh') out.push(K.RTNLGRP_NEIGH);
    else
      throw new ValidationError(
        'groups',
        `unknown group ${JSON.stringify(g)} (link, addr, route, neigh)`,
      );
  }
  return out;
}

function toEvent(m: NativeMessage): RtnlEvent | undefined {
  switch (m.type) {
    case K.RTM_NEWLINK:
    case K.RTM_DELLINK:
      return {
        kind: 'link',
        action: m.type === K.RTM_NEWLINK ? 'new' : 'del',
        object: m.object as Link,
      };
    case K.RTM_NEWADDR:
    case K.RTM_DELADDR:
      return {
        kind: 'addr',
        action: m.type === K.RTM_NEWADDR ? 'new' : 'del',
        object: m.object as Address,
      };
    case K.RTM_NEWROUTE:
    case K.RTM_DELROUTE:
      return {
        kind: 'route',
        action: m.type === K.RTM_NEWROUTE ? 'new' : 'del',
        object: routeFromRow(m.object),
      };
    case K.RTM_NEWNEIGH:
    case K.RTM_DELNEIGH:
      return {
        kind: 'neigh',
        action: m.type === K.RTM_NEWNEIGH ? 'new' : 'del',
        object: m.object as Neighbor,
      };
    default:
      return undefined;
  }
}

/** A subscription to rtnetlink events. Iterate it; break (or close()) to stop. */
export class Monitor implements AsyncIterableIterator<RtnlEvent> {
  private readonly queue: RtnlEvent[] = [];
  private waiter: {
    resolve: (r: IteratorResult<RtnlEvent>) => void;
    reject: (e: Error) => void;
  } | null = null;
  private failure: Error | null = null;
  private closed = false;

  private constructor(private readonly handle: HandleNative) {}

  /** @internal use Rtnl#monitor */
  static async start(
    netns: NetNS | undefined,
    groups: readonly MonitorGroup[],
    opts: MonitorOptions = {},
  ): Promise<Monitor> {
    const nums = groupsOf(groups);
    const types = typesOf(groups, opts.actions);
    const handle = new native.Handle();
    const mon = new Monitor(handle);
    try {
      if (netns) (await handle.enter({ netns: netns.fd })).close();
      await handle.subscribe(
        K.NETLINK_ROUTE,
        nums,
        (err, messages) => {
          mon.deliver(err, messages);
        },
        types,
      );
    } catch (err) {
      await handle.close();
      throw fromSystemError(err, 'rtnetlink monitor');
    }
    return mon;
  }

  private deliver(err: Error | null, messages: NativeMessage[] | null): void {
    if (this.closed) return;
    if (err) {
      // ENOBUFS: the kernel dropped events; the consumer must resynchronise.
      const e = err as { code?: string; errno?: number };
      this.failure = new NetlinkError({
        code: e.code ?? 'EIO',
        errno: e.errno ?? 5,
        op: 'rtnetlink monitor',
        syscall: 'recvmsg',
        message: `rtnetlink monitor: ${err.message}`,
      });
    }
    for (const m of messages ?? []) {
      const ev = toEvent(m);
      if (ev) this.queue.push(ev);
    }
    this.wake();
  }

  private wake(): void {
    const w = this.waiter;
    if (!w) return;
    if (this.queue.length > 0) {
      this.waiter = null;
      w.resolve({ value: this.queue.shift()!, done: false });
    } else if (this.failure) {
      this.waiter = null;
      const f = this.failure;
      this.failure = null;
      w.reject(f);
    } else if (this.closed) {
      this.waiter = null;
      w.resolve({ value: undefined, done: true });
    }
  }

  /** The next event, waiting for one; done once the monitor is closed. One call at a time. */
  next(): Promise<IteratorResult<RtnlEvent>> {
    if (this.waiter)
      return Promise.reject(new Error('Monitor.next() called while a previous next() is pending'));
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
      this.wake();
    });
  }

  /** Ends the subscription (what `break` out of `for await` calls). */
  async return(): Promise<IteratorResult<RtnlEvent>> {
    await this.close();
    return { value: undefined, done: true };
  }

  /** The monitor is its own iterator. */
  [Symbol.asyncIterator](): this {
    return this;
  }

  /** Stops the subscription and releases its thread and socket. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.queue.length = 0;
    this.wake();
    await this.handle.close();
  }
}
