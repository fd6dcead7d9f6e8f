/**
 * RtnlBatch: several rtnetlink changes sent in one sendmsg, the way
 * `ip -batch FILE` sends a file of commands.
 */
import type { Request } from '../channel';
import type { LinkRef } from './common';
import type { AddressOptions } from './addrs';
import type { LinkChanges } from './links';
import type { Rtnl } from './index';
import type { RouteSpec } from './routes';

/**
 * Changes queued on one handle and sent together with {@link RtnlBatch.send}:
 * one sendmsg, one wait for the kernel, instead of one per change. The
 * kernel applies them in the order they were queued, so a route may follow
 * the address that makes its gateway reachable. Get one from
 * {@link Rtnl.batch}.
 *
 * Links named by name cost a lookup each before the batch is sent (the
 * kernel finds `set` targets by name itself); pass ifindexes where they are
 * known.
 */
export class RtnlBatch {
  private readonly queued: (() => Promise<Request>)[] = [];

  /** @internal */
  constructor(private readonly rt: Rtnl) {}

  /** Queues `ip link set dev REF ...` (see {@link Links.set}). */
  linkSet(ref: LinkRef, changes: LinkChanges): this {
    this.queued.push(() => this.rt.links.setRequest(ref, changes));
    return this;
  }

  /** Queues `ip addr add CIDR dev LINK` (see {@link Addrs.add}). */
  addrAdd(link: LinkRef, cidr: string, opts: AddressOptions = {}): this {
    this.queued.push(() => this.rt.addrs.addRequest(link, cidr, opts));
    return this;
  }

  /** Queues `ip route add ...` (see {@link Routes.add}). */
  routeAdd(spec: RouteSpec): this {
    this.queued.push(() => this.rt.routes.request(spec, 'add'));
    return this;
  }

  /** Queues `ip route replace ...` (see {@link Routes.replace}). */
  routeReplace(spec: RouteSpec): this {
    this.queued.push(() => this.rt.routes.request(spec, 'replace'));
    return this;
  }

  /** How many changes are queued. */
  get size(): number {
    return this.queued.length;
  }

  /**
   * Validates and encodes every queued change, then sends them all in one
   * sendmsg; the queue is emptied. Bad input throws a ValidationError before
   * anything is sent. The kernel answers each change on its own and does not
   * undo the others: the first one it refused is thrown as a NetlinkError
   * naming it; the ones before it have taken effect, and so may the ones
   * after it.
   */
  async send(): Promise<void> {
    const queued = this.queued.splice(0);
    if (queued.length === 0) return;
    const requests = await Promise.all(queued.map((encode) => encode()));
    await this.rt.channel.send(requests);
  }
}
