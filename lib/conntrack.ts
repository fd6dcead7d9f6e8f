/**
 * Connection tracking entries over ctnetlink: `conntrack -L` and
 * `conntrack -D`. The engine uses `flush` to forget the flows of a UDP port
 * it stops publishing (a stale entry would keep sending that port's packets
 * to a sandbox that is gone).
 */
import { K, native, type CtTupleWire, type HandleNative } from './binding';
import { Channel, type Request } from './channel';
import { ConntrackFlushError, ValidationError, fromSystemError, type NetlinkError } from './errors';
import type { NetNS } from './netns';
import { parseIp } from './util/ip';

/** One direction of a tracked connection (`src=... dst=... sport=... dport=...` in `conntrack -L`). */
export interface CtTuple {
  /** source address */
  src?: string;
  /** destination address */
  dst?: string;
  /** source port (TCP, UDP) */
  sport?: number;
  /** destination port (TCP, UDP) */
  dport?: number;
  /** ICMP/ICMPv6 echo identifier (`id=`) */
  icmpId?: number;
  /** ICMP/ICMPv6 type (`type=`) */
  icmpType?: number;
  /** ICMP/ICMPv6 code (`code=`) */
  icmpCode?: number;
}

/** A connection-tracking entry, as `conntrack -L` lists it. */
export interface CtEntry {
  /** IP version */
  family: 4 | 6;
  /** IP protocol number (6 tcp, 17 udp, ...) */
  protocol: number;
  /** the original direction, as the first packet had it */
  orig: CtTuple;
  /** the reply direction (after NAT, the translated addresses show here) */
  reply: CtTuple;
  /** the entry's id (`id=`) */
  id?: number;
  /** connection mark (`mark=`) */
  mark?: number;
  /** IPS_* status bits (ASSURED, SEEN_REPLY, DST_NAT, ...) */
  status?: number;
  /** seconds before the entry expires */
  timeout?: number;
  /** conntrack zone (`zone=`) */
  zone?: number;
}

/** Which entries `flush` removes; every field given must match. */
export interface CtFilter {
  /** IP protocol, by name or number (`-p`) */
  protocol?: 'tcp' | 'udp' | 'icmp' | 'icmpv6' | number;
  /** IP version (`-f ipv4|ipv6`) */
  family?: 4 | 6;
  /** fields the original direction must have (`--orig-src`, `--orig-port-dst`, ...) */
  orig?: CtTuple;
  /** fields the reply direction must have (`--reply-src`, ...) */
  reply?: CtTuple;
}

const PROTO = { tcp: 6, udp: 17, icmp: 1, icmpv6: 58 } as const;

function tupleWire(t: CtTuple, protocol: number): CtTupleWire {
  const w: CtTupleWire = { protocol };
  if (t.src !== undefined) w.src = parseIp(t.src, 'src').bytes;
  if (t.dst !== undefined) w.dst = parseIp(t.dst, 'dst').bytes;
  if (t.sport !== undefined) w.sport = t.sport;
  if (t.dport !== undefined) w.dport = t.dport;
  if (t.icmpId !== undefined) w.icmpId = t.icmpId;
  if (t.icmpType !== undefined) w.icmpType = t.icmpType;
  if (t.icmpCode !== undefined) w.icmpCode = t.icmpCode;
  return w;
}

/** @internal One direction as `conntrack -L` prints it, for error messages. */
export function tupleText(t: CtTuple): string {
  const at = (a: string | undefined, port: number | undefined): string =>
    port === undefined ? (a ?? '?') : a?.includes(':') ? `[${a}]:${port}` : `${a ?? '?'}:${port}`;
  const icmp =
    t.icmpType === undefined
      ? ''
      : ` type=${t.icmpType} code=${t.icmpCode ?? '?'} id=${t.icmpId ?? '?'}`;
  return `${at(t.src, t.sport)} -> ${at(t.dst, t.dport)}${icmp}`;
}

/** The same address however it is spelled (`2001:DB8::1`, `2001:db8:0::1`). */
function sameIp(want: Buffer | undefined, have: string | undefined): boolean {
  if (want === undefined) return true;
  if (have === undefined) return false;
  try {
    return want.equals(parseIp(have, 'address').bytes);
  } catch {
    return false;
  }
}

/** A filter's tuple with its addresses parsed (a bad one refused, naming the field). */
interface TupleFilter extends Omit<CtTuple, 'src' | 'dst'> {
  src?: Buffer;
  dst?: Buffer;
}

function tupleFilter(t: CtTuple | undefined, field: string): TupleFilter | undefined {
  if (t === undefined) return undefined;
  if (typeof t !== 'object' || t === null) throw new ValidationError(field, 'must be an object');
  const { src, dst, ...rest } = t;
  return {
    ...rest,
    ...(src !== undefined ? { src: parseIp(src, `${field}.src`).bytes } : {}),
    ...(dst !== undefined ? { dst: parseIp(dst, `${field}.dst`).bytes } : {}),
  };
}

function matches(t: CtTuple, want: TupleFilter | undefined): boolean {
  if (!want) return true;
  return (
    sameIp(want.src, t.src) &&
    sameIp(want.dst, t.dst) &&
    (want.sport === undefined || want.sport === t.sport) &&
    (want.dport === undefined || want.dport === t.dport) &&
    (want.icmpId === undefined || want.icmpId === t.icmpId) &&
    (want.icmpType === undefined || want.icmpType === t.icmpType) &&
    (want.icmpCode === undefined || want.icmpCode === t.icmpCode)
  );
}

/**
 * The kernel's connection-tracking table of one namespace, over ctnetlink:
 * list entries and delete them by filter (`conntrack -L`, `conntrack -D`).
 */
export class Conntrack {
  private readonly channel: Channel;

  private constructor(private readonly handle: HandleNative) {
    this.channel = new Channel(handle, K.NETLINK_NETFILTER);
  }

  /**
   * A handle on the connection-tracking table of `netns` (this process's when
   * omitted), like `ip netns exec NAME conntrack ...`.
   */
  static async open(netns?: NetNS): Promise<Conntrack> {
    const handle = new native.Handle();
    try {
      if (netns) (await handle.enter({ netns: netns.fd })).close();
    } catch (err) {
      await handle.close();
      throw fromSystemError(err, 'open conntrack');
    }
    return new Conntrack(handle);
  }

  /** Equivalent to `conntrack -L [-f ipv4|ipv6]`. */
  async list(family?: 4 | 6): Promise<CtEntry[]> {
    const out: CtEntry[] = [];
    for (const f of family === undefined ? [4, 6] : [family]) {
      if (f !== 4 && f !== 6) throw new ValidationError('family', 'must be 4 or 6');
      const req = native.encode('ctget', {
        flags: K.NLM_F_REQUEST | K.NLM_F_ACK | K.NLM_F_DUMP,
        family: f === 4 ? K.NFPROTO_IPV4 : K.NFPROTO_IPV6,
      });
      for (const m of await this.channel.dumpAll({ buf: req, op: `IPCTNL_MSG_CT_GET ipv${f}` }))
        out.push(m.object as CtEntry);
    }
    return out;
  }

  /**
   * Deletes the entries matching `filter` (in whatever conntrack zone they
   * are), pipelined in one sendmsg, and returns how many went. Equivalent to
   * `conntrack -D -p P [--orig-dst ...]`. Addresses are compared as
   * addresses (`2001:DB8::1` matches 2001:db8::1); one that is not an address
   * is a ValidationError naming it. Entries that expire meanwhile are not an
   * error. Every matching entry is tried: if the kernel refuses some,
   * the others are still deleted and a {@link ConntrackFlushError} carries
   * the count deleted and each refused entry with its error.
   */
  async flush(filter: CtFilter): Promise<number> {
    const protocol =
      filter.protocol === undefined
        ? undefined
        : typeof filter.protocol === 'number'
          ? filter.protocol
          : PROTO[filter.protocol];
    if (protocol === undefined && filter.protocol !== undefined)
      throw new ValidationError('protocol', 'must be tcp, udp, icmp, icmpv6 or a number');
    const orig = tupleFilter(filter.orig, 'orig');
    const reply = tupleFilter(filter.reply, 'reply');
    const victims = (await this.list(filter.family)).filter(
      (e) =>
        (protocol === undefined || e.protocol === protocol) &&
        matches(e.orig, orig) &&
        matches(e.reply, reply),
    );
    if (victims.length === 0) return 0;
    const requests: Request[] = victims.map((e) => ({
      buf: native.encode('ctdelete', {
        flags: K.NLM_F_REQUEST | K.NLM_F_ACK,
        family: e.family === 4 ? K.NFPROTO_IPV4 : K.NFPROTO_IPV6,
        orig: tupleWire(e.orig, e.protocol),
        // Without CTA_ZONE the kernel looks in zone 0 and answers ENOENT.
        ...(e.zone !== undefined ? { zone: e.zone } : {}),
      }),
      op: `IPCTNL_MSG_CT_DELETE ${tupleText(e.orig)}${e.zone ? ` zone=${e.zone}` : ''}`,
    }));
    const txn = await this.channel.sendSettled(requests);
    let n = 0;
    const failures: { entry: CtEntry; error: NetlinkError }[] = [];
    txn.completions.forEach((c, i) => {
      if (c.error === 0) n++;
      else if (c.code !== 'ENOENT')
        failures.push({ entry: victims[i]!, error: this.channel.errorFor(txn, requests, i) });
    });
    if (failures.length > 0) throw new ConntrackFlushError(n, failures);
    return n;
  }

  /** Closes the ctnetlink socket and its thread. */
  async close(): Promise<void> {
    await this.handle.close();
  }
}
