/**
 * Building a namespace in one round trip: `ip netns add NAME`, then the
 * changes of an `ip -n NAME -batch` and of an `ip -batch` here, interleaved,
 * made by one native thread in one job (see {@link Rtnl.createNetns}).
 */
import path from 'node:path';

import { K, native, type NativeSequenceResult, type NativeStep, type NsFdNative } from '../binding';
import type { Channel, Request } from '../channel';
import { NetlinkError, ValidationError, fromSystemError } from '../errors';
import { NETNS_RUN_DIR, NetNS, validateNetnsName } from '../netns';
import { Addrs, type AddressOptions } from './addrs';
import { opName, validateLinkRef, type LinkRef, type RtnlContext } from './common';
import type { Rtnl } from './index';
import { Links, type LinkChanges, type LinkSpec } from './links';
import { Routes, type RouteSpec } from './routes';

type Side = 'inside' | 'here';

interface Queued {
  side: Side;
  encode: () => Promise<Request[]>;
}

/**
 * Changes queued for one side of {@link Rtnl.createNetns}: `inside` the new
 * namespace, or `here`, the namespace of the Rtnl it was called on. Both
 * sides share one queue: the changes are applied in the order they were
 * queued, whichever side they are on.
 */
export class NetnsPlan {
  /** @internal */
  constructor(
    private readonly side: Side,
    private readonly queue: Queued[],
    private readonly enc: { links: Links; addrs: Addrs; routes: Routes },
    private readonly added: (spec: LinkSpec) => void = () => undefined,
  ) {}

  private push(encode: () => Promise<Request[]>): this {
    this.queue.push({ side: this.side, encode });
    return this;
  }

  /**
   * Queues `ip link add ...` (see {@link Links.add}). Not for tun and tap
   * (an ioctl makes those), nor a veth peer that comes up with its pair
   * (the kernel refuses that in one request: queue a `linkSet` on the
   * peer's side after it).
   */
  linkAdd(spec: LinkSpec): this {
    return this.push(async () => {
      if (typeof spec === 'object' && spec !== null) {
        if (spec.kind === 'tun' || spec.kind === 'tap')
          throw new ValidationError('kind', `${spec.kind} is made with an ioctl: use links.add`);
        if (spec.kind === 'veth' && spec.peer?.up === true)
          throw new ValidationError(
            'peer.up',
            "a veth peer cannot come up in the request that makes it: queue a linkSet on the peer's side",
          );
        if (spec.alias !== undefined && spec.netns !== undefined)
          throw new ValidationError('alias', 'cannot be set on a link made in another namespace');
      }
      const { alias, ...create } = await this.enc.links.addWire(spec);
      this.added(spec);
      const requests: Request[] = [
        { buf: native.encode('newlink', create), op: opName('RTM_NEWLINK', spec.name) },
      ];
      // The kernel ignores IFLA_IFALIAS when it creates a link.
      if (alias !== undefined) requests.push(await this.enc.links.setRequest(spec.name, { alias }));
      return requests;
    });
  }

  /** Queues `ip link set dev REF ...` (see {@link Links.set}). */
  linkSet(ref: LinkRef, changes: LinkChanges): this {
    return this.push(async () => [await this.enc.links.setRequest(ref, changes)]);
  }

  /** Queues `ip addr add CIDR dev LINK` (see {@link Addrs.add}). */
  addrAdd(link: LinkRef, cidr: string, opts: AddressOptions = {}): this {
    return this.push(async () => [await this.enc.addrs.addRequest(link, cidr, opts)]);
  }

  /** Queues `ip route add ...` (see {@link Routes.add}). */
  routeAdd(spec: RouteSpec): this {
    return this.push(async () => [await this.enc.routes.request(spec, 'add')]);
  }

  /** Queues `ip route replace ...` (see {@link Routes.replace}). */
  routeReplace(spec: RouteSpec): this {
    return this.push(async () => [await this.enc.routes.request(spec, 'replace')]);
  }
}

/**
 * What the encoders see inside a namespace that does not exist yet: no
 * socket to ask, so a link must be named by its ifindex (lo is 1; give the
 * links you add an `index`). A link changed with `linkSet` may be named:
 * the kernel finds it by name itself.
 */
function insideContext(): RtnlContext {
  const none = (): never => {
    throw new Error('no socket inside a namespace that is being built');
  };
  return {
    get channel(): Channel {
      return none();
    },
    get handle(): never {
      return none();
    },
    netns: undefined,
    index(ref: LinkRef, field: string): Promise<number> {
      validateLinkRef(ref, field);
      if (typeof ref !== 'number')
        return Promise.reject(
          new ValidationError(
            field,
            `inside a namespace being built, name links by ifindex (lo is 1; give added links an index), not "${ref}"`,
          ),
        );
      return Promise.resolve(ref);
    },
    inNetns: none,
  };
}

/**
 * Why step `step` failed: the change the kernel refused, named (as
 * Channel.send names it), or the system error of the step itself.
 */
function refusal(
  here: Rtnl,
  result: NativeSequenceResult,
  step: number,
  requests: Request[],
): Error {
  const r = result.results[step];
  if (r && 'completions' in r) {
    const i = r.completions.findIndex((c) => c.error !== 0);
    if (i >= 0) return here.channel.errorFor(r, requests, i);
  }
  if (r && 'error' in r && r.error) return fromSystemError(r.error, requests[0]?.op ?? 'netns add');
  return new Error(`step ${step + 1} failed`);
}

/** @internal the body of Rtnl.createNetns */
export async function createNetns(
  here: Rtnl,
  name: string,
  plan: (inside: NetnsPlan, here: NetnsPlan) => void,
  opts: { dir?: string },
): Promise<NetNS> {
  validateNetnsName(name);
  if (typeof plan !== 'function') throw new ValidationError('plan', 'must be a function');
  const queue: Queued[] = [];
  const ctx = insideContext();
  // veth ends born here from inside: on a failure, waited for (see peersGone)
  const peers: { name: string; netns: NetNS }[] = [];
  // Typed to return nothing, but JavaScript callers may pass an async function.
  const call: (inside: NetnsPlan, here: NetnsPlan) => unknown = plan;
  const returned = call(
    new NetnsPlan(
      'inside',
      queue,
      { links: new Links(ctx), addrs: new Addrs(ctx), routes: new Routes(ctx) },
      (spec) => {
        if (spec.kind === 'veth' && spec.peer?.netns)
          peers.push({ name: spec.peer.name, netns: spec.peer.netns });
      },
    ),
    new NetnsPlan('here', queue, here),
  );
  // Changes queued after an await would never be sent.
  if (returned instanceof Promise)
    throw new ValidationError('plan', 'must queue its changes synchronously, not be async');
  // Everything is validated and encoded before the kernel sees anything.
  const encoded = await Promise.all(queue.map((q) => q.encode()));
  // Neighbouring changes on the same side go in one sendmsg: one step each.
  const groups: { side: Side; requests: Request[] }[] = [];
  queue.forEach((q, i) => {
    const last = groups[groups.length - 1];
    if (last?.side === q.side) last.requests.push(...encoded[i]!);
    else groups.push({ side: q.side, requests: [...encoded[i]!] });
  });
  const steps: NativeStep[] = groups.map((g) => ({
    protocol: K.NETLINK_ROUTE,
    ...(g.side === 'here' ? { outer: true } : {}),
    batch: Buffer.concat(g.requests.map((r) => r.buf)),
  }));
  const file = path.join(opts.dir ?? NETNS_RUN_DIR, name);
  let result: NativeSequenceResult & { ns?: NsFdNative; enterError?: Error };
  try {
    // On one of `here`'s builder threads, which starts in `here`'s namespace,
    // goes back there after the job, and makes the next namespace ahead.
    result = await here.builders.run((handle) =>
      handle.enter({
        create: file,
        outer: queue.some((q) => q.side === 'here') ? [K.NETLINK_ROUTE] : [],
        ...(here.netns ? { outerNetns: here.netns.fd } : {}),
        steps,
        reuse: true,
        prepare: [],
      }),
    );
  } catch (err) {
    throw fromSystemError(err, `netns add ${name}`);
  }
  if (result.enterError) throw fromSystemError(result.enterError, `netns add ${name}`);
  const ns = result.ns ? NetNS.adopt(file, name, result.ns) : undefined;
  if (!ns) throw new Error(`netns add ${name}: the namespace was not made`);
  if (result.failed < 0) return ns;
  // Undo: the namespace goes, and with it its links (a veth's other end too).
  const err = refusal(here, result, result.failed, groups[result.failed]?.requests ?? []);
  await ns.delete().catch(() => undefined);
  await peersGone(here, peers).catch(() => undefined);
  throw err;
}

/**
 * Waits (up to 3 s) until the kernel has destroyed the veth ends here that
 * the namespace took with it, so that a retry may use their names at once.
 */
async function peersGone(here: Rtnl, peers: { name: string; netns: NetNS }[]): Promise<void> {
  if (peers.length === 0) return;
  const hereNs = here.netns ?? (await NetNS.host());
  try {
    const names = peers.filter((p) => p.netns.sameAs(hereNs)).map((p) => p.name);
    const end = Date.now() + 3000;
    while (names.length > 0 && Date.now() < end) {
      const present = await Promise.all(
        names.map((n) =>
          here.links.get(n).then(
            () => true,
            (e: unknown) => !(e instanceof NetlinkError && e.code === 'ENODEV'),
          ),
        ),
      );
      if (!present.includes(true)) return;
      await new Promise((r) => setTimeout(r, 5));
    }
  } finally {
    if (!here.netns) await hereNs.close();
  }
}
