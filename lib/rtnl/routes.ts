/**
 * Routes: `ip route add|replace|del|show`.
 */
import { K, native, type RouteMetricsWire, type RouteWire } from '../binding';
import type { Request } from '../channel';
import { ValidationError } from '../errors';
import { formatIp, networkOf, parseCidr, parseIp, type IpFamily } from '../util/ip';
import {
  REQ_ACK,
  REQ_DUMP,
  nameOrNumber,
  opName,
  validateBool,
  validateLinkRef,
  validateUint,
  type LinkRef,
  type RawAttr,
  type RtnlContext,
} from './common';

/** A route as the kernel reports it (`ip -j route show table all`). */
export interface Route {
  /** IP version */
  family: 4 | 6;
  /** 'default' or `prefix/len` */
  dst: string;
  /** prefix length of `dst` (0 for default) */
  dstLen: number;
  /** prefix length of a source-specific route's `src` (`from PREFIX`) */
  srcLen?: number;
  /** type of service the route matches (`tos`) */
  tos?: number;
  /** next hop (`via`) */
  gateway?: string;
  /** ifindex of the output device */
  oif?: number;
  /** routing table number (254 main, 255 local) */
  table: number;
  /** RTPROT_* */
  protocol: number;
  /** RT_SCOPE_* */
  scope: number;
  /** RTN_* */
  type: number;
  /** RTNH_F_* / RTM_F_* */
  flags: number;
  /** `metric` (RTA_PRIORITY) */
  priority?: number;
  /** preferred source address (`src`, RTA_PREFSRC) */
  prefsrc?: string;
  /** source prefix of a source-specific route (`from`, RTA_SRC) */
  src?: string;
  /**
   * the family of `gateway` when it differs from the route's: an IPv4 route
   * via an IPv6 router (RTA_VIA; `via inet6 GW`)
   */
  gatewayFamily?: 4 | 6;
  /** per-route metrics (RTA_METRICS: `mtu`, `advmss`, `window`, `initcwnd`, `congctl`, ...) */
  metrics?: RouteMetrics;
  /** the next hops of a multipath route (RTA_MULTIPATH; `nexthop via GW dev D weight W`) */
  nexthops?: RouteNexthop[];
  /** seconds until an IPv6 route expires (`expires`, from RTA_CACHEINFO) */
  expires?: number;
  /** IPv6 router preference (RTA_PREF: 0 medium, 1 high, 3 low) */
  pref?: number;
  /** attributes netplumb does not decode, raw; given back to add/replace, they are sent as they are */
  unknown?: RawAttr[];
}

/**
 * Per-route metrics (RTAX_*), with the names `ip route` uses, each the value
 * the kernel keeps: `rtt` and `rttvar` in the kernel's units (ip shows
 * rtt/8 and rttvar/4 milliseconds), `rtoMin` in milliseconds.
 */
export interface RouteMetrics {
  /** RTAX_LOCK: bit 1 << RTAX_x locks metric x (`mtu lock 1400`) */
  lock?: number;
  /** path MTU (`mtu`) */
  mtu?: number;
  /** TCP window clamp (`window`) */
  window?: number;
  /** initial RTT estimate (`rtt`) */
  rtt?: number;
  /** initial RTT variance (`rttvar`) */
  rttvar?: number;
  /** initial slow-start threshold (`ssthresh`) */
  ssthresh?: number;
  /** congestion window clamp (`cwnd`) */
  cwnd?: number;
  /** advertised TCP MSS (`advmss`) */
  advmss?: number;
  /** maximal reordering (`reordering`) */
  reordering?: number;
  /** hop limit / TTL (`hoplimit`) */
  hoplimit?: number;
  /** initial congestion window (`initcwnd`) */
  initcwnd?: number;
  /** RTAX_FEATURE_* bits (`features ecn`) */
  features?: number;
  /** minimal retransmission timeout (`rto_min`) */
  rtoMin?: number;
  /** initial receive window (`initrwnd`) */
  initrwnd?: number;
  /** quick ACKs on (`quickack 1`) */
  quickack?: number;
  /** TCP Fast Open without a cookie (`fastopen_no_cookie 1`) */
  fastopenNoCookie?: number;
  /** congestion control algorithm (`congctl`) */
  congctl?: string;
  /** metrics netplumb does not name, raw */
  unknown?: RawAttr[];
}

/** One next hop of a multipath route, as the kernel reports it. */
export interface RouteNexthop {
  /** next hop address (`via`) */
  gateway?: string;
  /** the family of `gateway` when it came as RTA_VIA (`via inet6 GW`) */
  gatewayFamily?: 4 | 6;
  /** ifindex of the output device (`dev`) */
  oif: number;
  /** relative weight, 1-256 (`weight`; rtnh_hops + 1) */
  weight: number;
  /** RTNH_F_* (`onlink`, `dead`, `linkdown`) */
  flags: number;
  /** attributes of the next hop netplumb does not decode, raw */
  unknown?: RawAttr[];
}

/** A next hop of a multipath route to add (`nexthop via GW dev D weight W [onlink]`). */
export interface RouteNexthopSpec {
  /** next hop address; an IPv6 one on an IPv4 route goes as RTA_VIA */
  gateway?: string;
  /** output device */
  dev?: LinkRef;
  /** relative weight, 1 to 256; 1 when omitted */
  weight?: number;
  /** the gateway is on-link even if no prefix covers it */
  onlink?: boolean;
}

/**
 * A route as the addon decodes it: a row in the order of ROUTE_FIELDS, holes
 * for what the kernel left out (building the object here, with one literal,
 * is 3x faster than the addon setting each property, for dumps of 100,000s).
 */
type RouteRow = [
  4 | 6,
  number,
  number | undefined,
  number | undefined,
  number,
  number,
  number,
  number,
  number,
  string,
  string | undefined,
  string | undefined,
  string | undefined,
  number | undefined,
  number | undefined,
  number | undefined,
  Route['metrics'],
  RawAttr[] | undefined,
  RouteNexthop[] | undefined,
  4 | 6 | undefined,
  number | undefined,
];

const ROUTE_FIELDS = [
  'family', 'dstLen', 'srcLen', 'tos', 'protocol', 'scope', 'type', 'flags', 'table',
  'dst', 'src', 'gateway', 'prefsrc', 'oif', 'priority', 'pref', 'metrics', 'unknown',
  'nexthops', 'gatewayFamily', 'expires',
]; // prettier-ignore
if (native.routeFields.join() !== ROUTE_FIELDS.join())
  throw new Error(`netplumb: the addon's route fields differ: ${native.routeFields.join()}`);

/** @internal a decoded route row as the Route object the API returns */
export function routeFromRow(object: unknown): Route {
  const row = object as RouteRow;
  const r: Route = {
    family: row[0],
    dst: row[9],
    dstLen: row[1],
    table: row[8],
    protocol: row[4],
    scope: row[5],
    type: row[6],
    flags: row[7],
  };
  if (row[2] !== undefined) r.srcLen = row[2];
  if (row[3] !== undefined) r.tos = row[3];
  if (row[10] !== undefined) r.src = row[10];
  if (row[11] !== undefined) r.gateway = row[11];
  if (row[12] !== undefined) r.prefsrc = row[12];
  if (row[13] !== undefined) r.oif = row[13];
  if (row[14] !== undefined) r.priority = row[14];
  if (row[15] !== undefined) r.pref = row[15];
  if (row[16] !== undefined) r.metrics = row[16];
  if (row[17] !== undefined) r.unknown = row[17];
  if (row[18] !== undefined) r.nexthops = row[18];
  if (row[19] !== undefined) r.gatewayFamily = row[19];
  if (row[20] !== undefined) r.expires = row[20];
  return r;
}

/** Routing tables by name (`table main`, `table local`); others go by number. */
export type RouteTable = 'main' | 'local';
/** Route scopes by name (`scope link`, ...), as in /etc/iproute2/rt_scopes. */
export type RouteScope = 'universe' | 'site' | 'link' | 'host' | 'nowhere';
/** Route protocols by name (`proto static`, ...), as in /etc/iproute2/rt_protos. */
export type RouteProtocol = 'unspec' | 'kernel' | 'boot' | 'static';
/** Route types by name (`ip route add blackhole ...`). */
export type RouteType =
  | 'unicast'
  | 'local'
  | 'broadcast'
  | 'anycast'
  | 'multicast'
  | 'blackhole'
  | 'unreachable'
  | 'prohibit';

/** A route to add, replace or delete (`ip route add|replace|del ...`). */
export interface RouteSpec {
  /** 'default' or a prefix like 10.1.0.0/16 (a bare address means a host route) */
  dst: string;
  /** next hop; an IPv6 one on an IPv4 route goes as RTA_VIA (`via inet6 GW`) */
  gateway?: string;
  /** output device */
  dev?: LinkRef;
  /** the next hops of a multipath route (`nexthop ... nexthop ...`), instead of gateway and dev */
  nexthops?: RouteNexthopSpec[];
  /** routing table (`table`); main when omitted */
  table?: number | RouteTable;
  /** `metric` / RTA_PRIORITY */
  metric?: number;
  /**
   * `scope`; when omitted, as `ip route add` picks it: host for local
   * routes, link for broadcast, anycast and multicast ones and for IPv4
   * unicast routes without gateway, universe otherwise
   */
  scope?: number | RouteScope;
  /** preferred source address (`src`) */
  src?: string;
  /** next hop is on-link even if no prefix covers it */
  onlink?: boolean;
  /** who installed it (`proto`); boot when omitted, as with `ip route add` */
  protocol?: number | RouteProtocol;
  /** route type; unicast when omitted */
  type?: number | RouteType;
  /** path MTU (`mtu`) */
  mtu?: number;
  /** metrics (`window`, `initcwnd`, `congctl`, ...), as {@link Route.metrics} has them; `mtu` above wins */
  metrics?: RouteMetrics;
  /** raw attributes to send as they are (a listed route's `unknown`, for a round trip) */
  unknown?: RawAttr[];
  /** needed only for a 'default' route without gateway */
  family?: IpFamily;
}

/** Which routes {@link Routes.list} returns (`ip [-4|-6] route show [table T] [dev D]`). */
export interface RouteFilter {
  /** only IPv4 or only IPv6 routes; both when omitted */
  family?: IpFamily;
  /** a table number, 'main' (the default), 'local', or 'all' */
  table?: number | RouteTable | 'all';
  /** only routes out of this device */
  dev?: LinkRef;
}

function tables(): Record<RouteTable, number> {
  return { main: K.RT_TABLE_MAIN, local: K.RT_TABLE_LOCAL };
}
function scopes(): Record<RouteScope, number> {
  return {
    universe: K.RT_SCOPE_UNIVERSE,
    site: K.RT_SCOPE_SITE,
    link: K.RT_SCOPE_LINK,
    host: K.RT_SCOPE_HOST,
    nowhere: K.RT_SCOPE_NOWHERE,
  };
}
function protocols(): Record<RouteProtocol, number> {
  return {
    unspec: K.RTPROT_UNSPEC,
    kernel: K.RTPROT_KERNEL,
    boot: K.RTPROT_BOOT,
    static: K.RTPROT_STATIC,
  };
}
function types(): Record<RouteType, number> {
  return {
    unicast: K.RTN_UNICAST,
    local: K.RTN_LOCAL,
    broadcast: K.RTN_BROADCAST,
    anycast: K.RTN_ANYCAST,
    multicast: K.RTN_MULTICAST,
    blackhole: K.RTN_BLACKHOLE,
    unreachable: K.RTN_UNREACHABLE,
    prohibit: K.RTN_PROHIBIT,
  };
}

/** Routes of one namespace: `ip route`. Reached as {@link Rtnl.routes}. */
export class Routes {
  /** @internal */
  constructor(private readonly ctx: RtnlContext) {}

  /**
   * @internal Builds the request: `mode` new (add), replace, or del. Mirrors
   * iproute2's defaults: protocol boot, table main, scope link for an IPv4
   * route without gateway, and for deletion scope nowhere / protocol and
   * type unspecified so any matching route goes.
   */
  async request(spec: RouteSpec, mode: 'add' | 'replace' | 'del'): Promise<Request> {
    if (typeof spec !== 'object' || spec === null)
      throw new ValidationError('route', 'must be an object');
    let family: IpFamily | undefined = spec.family;
    if (family !== undefined && family !== 4 && family !== 6)
      throw new ValidationError('family', 'must be 4 or 6');
    const gw = spec.gateway !== undefined ? parseIp(spec.gateway, 'gateway') : undefined;
    let dstBytes: Buffer | undefined;
    let dstLen = 0;
    if (spec.dst === 'default') {
      const firstHop = Array.isArray(spec.nexthops) ? spec.nexthops[0]?.gateway : undefined;
      family ??=
        gw?.family ??
        (firstHop !== undefined ? parseIp(firstHop, 'nexthops[0].gateway').family : undefined);
      if (family === undefined)
        throw new ValidationError(
          'family',
          "a 'default' route without gateway needs family 4 or 6",
        );
    } else {
      const dst = parseCidr(spec.dst, 'dst', true);
      if (family !== undefined && family !== dst.family)
        throw new ValidationError('dst', `is not an IPv${family} prefix`);
      family = dst.family;
      dstLen = dst.prefixlen;
      const net = networkOf(dst.bytes, dstLen);
      if (!net.equals(dst.bytes))
        throw new ValidationError(
          'dst',
          `${spec.dst} has host bits set (did you mean ${formatIp(net)}/${dstLen}?)`,
        );
      // A /0 is the default route: the kernel wants no RTA_DST for it.
      if (dstLen > 0) dstBytes = dst.bytes;
    }
    // The kernel takes an IPv6 next hop on an IPv4 route (RTA_VIA), not the other way.
    if (gw && gw.family !== family && family === 6)
      throw new ValidationError('gateway', 'is not an IPv6 address');
    const del = mode === 'del';
    const flags =
      mode === 'add'
        ? K.NLM_F_REQUEST | K.NLM_F_ACK | K.NLM_F_CREATE | K.NLM_F_EXCL
        : mode === 'replace'
          ? K.NLM_F_REQUEST | K.NLM_F_ACK | K.NLM_F_CREATE | K.NLM_F_REPLACE
          : REQ_ACK();
    const wire: RouteWire = {
      flags,
      family: family === 4 ? K.AF_INET : K.AF_INET6,
      dstLen,
      table:
        spec.table === undefined
          ? K.RT_TABLE_MAIN
          : nameOrNumber(spec.table, 'table', tables(), 0xffffffff),
      protocol:
        spec.protocol === undefined
          ? del
            ? K.RTPROT_UNSPEC
            : K.RTPROT_BOOT
          : nameOrNumber(spec.protocol, 'protocol', protocols()),
      type:
        spec.type === undefined
          ? del
            ? K.RTN_UNSPEC
            : K.RTN_UNICAST
          : nameOrNumber(spec.type, 'type', types()),
    };
    // Scope defaults as iproute2's iproute_modify picks them: the kernel
    // refuses a scope wider than the type's (fib_props: "Invalid scope").
    if (spec.scope !== undefined) wire.scope = nameOrNumber(spec.scope, 'scope', scopes());
    else if (del) wire.scope = K.RT_SCOPE_NOWHERE;
    else if (wire.type === K.RTN_LOCAL) wire.scope = K.RT_SCOPE_HOST;
    else if (
      wire.type === K.RTN_BROADCAST ||
      wire.type === K.RTN_MULTICAST ||
      wire.type === K.RTN_ANYCAST
    )
      wire.scope = K.RT_SCOPE_LINK;
    else if (family === 4 && !gw && !spec.nexthops && wire.type === K.RTN_UNICAST)
      wire.scope = K.RT_SCOPE_LINK;
    else wire.scope = K.RT_SCOPE_UNIVERSE;
    if (dstBytes) wire.dst = dstBytes;
    if (gw) wire.gateway = gw.bytes;
    if (spec.metric !== undefined)
      wire.priority = validateUint(spec.metric, 'metric', 0, 0xffffffff);
    if (spec.src !== undefined) {
      const src = parseIp(spec.src, 'src');
      if (src.family !== family) throw new ValidationError('src', `is not an IPv${family} address`);
      wire.prefsrc = src.bytes;
    }
    if (spec.onlink !== undefined && validateBool(spec.onlink, 'onlink'))
      wire.rtmFlags = K.RTNH_F_ONLINK;
    if (spec.metrics !== undefined) wire.metrics = metricsWire(spec.metrics);
    if (spec.mtu !== undefined)
      wire.metrics = { ...wire.metrics, mtu: validateUint(spec.mtu, 'mtu', 68, 65535) };
    if (spec.unknown !== undefined) wire.unknown = rawAttrs(spec.unknown, 'unknown');
    if (spec.dev !== undefined)
      wire.oif = await this.ctx.index(validateLinkRef(spec.dev, 'dev'), 'dev');
    if (spec.nexthops !== undefined) {
      if (gw || spec.dev !== undefined)
        throw new ValidationError('nexthops', 'give the gateway and dev of each next hop instead');
      wire.nexthops = await this.nexthopsWire(spec.nexthops, family);
    }
    if (!del && !gw && !wire.nexthops && wire.oif === undefined && wire.type === K.RTN_UNICAST) {
      throw new ValidationError('gateway', 'a unicast route needs a gateway or a dev');
    }
    const verb = mode === 'del' ? 'RTM_DELROUTE' : 'RTM_NEWROUTE';
    return {
      buf: native.encode(mode === 'del' ? 'delroute' : 'newroute', wire),
      op: opName(verb, spec.dst),
    };
  }

  private async nexthopsWire(
    hops: RouteNexthopSpec[],
    family: IpFamily,
  ): Promise<NonNullable<RouteWire['nexthops']>> {
    if (!Array.isArray(hops) || hops.length === 0)
      throw new ValidationError('nexthops', 'must be a non-empty array');
    return Promise.all(
      hops.map(async (h, i) => {
        const f = `nexthops[${i}]`;
        if (typeof h !== 'object' || h === null) throw new ValidationError(f, 'must be an object');
        const w: NonNullable<RouteWire['nexthops']>[number] = {
          hops: h.weight === undefined ? 0 : validateUint(h.weight, `${f}.weight`, 1, 256) - 1,
          flags:
            h.onlink !== undefined && validateBool(h.onlink, `${f}.onlink`) ? K.RTNH_F_ONLINK : 0,
        };
        if (h.gateway !== undefined) {
          const gw = parseIp(h.gateway, `${f}.gateway`);
          if (gw.family !== family && family === 6)
            throw new ValidationError(`${f}.gateway`, 'is not an IPv6 address');
          w.gateway = gw.bytes;
        }
        if (h.dev !== undefined)
          w.oif = await this.ctx.index(validateLinkRef(h.dev, `${f}.dev`), `${f}.dev`);
        if (w.gateway === undefined && w.oif === undefined)
          throw new ValidationError(f, 'a next hop needs a gateway or a dev');
        return w;
      }),
    );
  }

  /**
   * Equivalent to `ip route add DST [via GW] [dev D] [metric M] [table T]
   * [src S] [onlink] [mtu N] [window W initcwnd C ...]`, or with `nexthops`
   * `ip route add DST nexthop via GW dev D weight W nexthop ...`.
   */
  async add(spec: RouteSpec): Promise<void> {
    await this.ctx.channel.send([await this.request(spec, 'add')]);
  }

  /** Adds or replaces. Equivalent to `ip route replace ...`. */
  async replace(spec: RouteSpec): Promise<void> {
    await this.ctx.channel.send([await this.request(spec, 'replace')]);
  }

  /** Equivalent to `ip route del DST [via GW] [dev D] [metric M] [table T]`. */
  async del(spec: RouteSpec): Promise<void> {
    await this.ctx.channel.send([await this.request(spec, 'del')]);
  }

  /** Routes of the main table, or as filtered. Equivalent to `ip [-4|-6] route show [table T] [dev D]`. */
  async list(filter: RouteFilter = {}): Promise<Route[]> {
    const { req, table, oif } = await this.dumpRequest(filter);
    const msgs = await this.ctx.channel.dumpAll(req);
    return msgs.map((m) => routeFromRow(m.object)).filter((r) => keep(r, table, oif));
  }

  /**
   * Streams routes in bounded chunks, for tables too large to hold as one
   * array (memory stays flat). Same filter as `list`; equivalent to
   * `ip [-4|-6] route show [table T] [dev D]` read as it arrives.
   */
  async *stream(filter: RouteFilter = {}): AsyncGenerator<Route, void, undefined> {
    const { req, table, oif } = await this.dumpRequest(filter);
    for await (const chunk of this.ctx.channel.dumpStream(req)) {
      for (const m of chunk) {
        const r = routeFromRow(m.object);
        if (keep(r, table, oif)) yield r;
      }
    }
  }

  private async dumpRequest(
    filter: RouteFilter,
  ): Promise<{ req: Request; table: number | undefined; oif: number | undefined }> {
    let family = K.AF_UNSPEC;
    if (filter.family !== undefined) {
      if (filter.family !== 4 && filter.family !== 6)
        throw new ValidationError('family', 'must be 4 or 6');
      family = filter.family === 4 ? K.AF_INET : K.AF_INET6;
    }
    const table =
      filter.table === 'all'
        ? undefined
        : filter.table === undefined
          ? K.RT_TABLE_MAIN
          : nameOrNumber(filter.table, 'table', tables(), 0xffffffff);
    const oif =
      filter.dev !== undefined
        ? await this.ctx.index(validateLinkRef(filter.dev, 'dev'), 'dev')
        : undefined;
    // The kernel filters by table and oif itself (strict checking is on).
    const wire: RouteWire = { flags: REQ_DUMP(), family };
    if (table !== undefined) wire.table = table;
    if (oif !== undefined) wire.oif = oif;
    return { req: { buf: native.encode('getroute', wire), op: 'RTM_GETROUTE dump' }, table, oif };
  }
}

const METRIC_NAMES = [
  'lock', 'mtu', 'window', 'rtt', 'rttvar', 'ssthresh', 'cwnd', 'advmss', 'reordering',
  'hoplimit', 'initcwnd', 'features', 'rtoMin', 'initrwnd', 'quickack', 'fastopenNoCookie',
] as const; // prettier-ignore
// The addon encodes and decodes these by name: a metric one side lacks would be dropped silently.
if (native.routeMetrics.join() !== METRIC_NAMES.join())
  throw new Error(`netplumb: the addon's route metrics differ: ${native.routeMetrics.join()}`);

function rawAttrs(list: RawAttr[], field: string): RawAttr[] {
  if (!Array.isArray(list)) throw new ValidationError(field, 'must be an array of { type, data }');
  return list.map((a, i) => {
    if (typeof a !== 'object' || a === null || !Buffer.isBuffer(a.data))
      throw new ValidationError(`${field}[${i}]`, 'must be { type, data: Buffer }');
    return { type: validateUint(a.type, `${field}[${i}].type`, 1, 0x3fff), data: a.data };
  });
}

function metricsWire(m: RouteMetrics): RouteMetricsWire {
  if (typeof m !== 'object' || m === null)
    throw new ValidationError('metrics', 'must be an object');
  const w: RouteMetricsWire = {};
  for (const name of METRIC_NAMES) {
    const v = m[name];
    if (v !== undefined) w[name] = validateUint(v, `metrics.${name}`, 0, 0xffffffff);
  }
  if (m.congctl !== undefined) {
    // TCP_CA_NAME_MAX is 16, with the NUL.
    if (typeof m.congctl !== 'string' || !/^[\x21-\x7e]{1,15}$/.test(m.congctl))
      throw new ValidationError('metrics.congctl', 'must be an algorithm name of 1 to 15 bytes');
    w.congctl = m.congctl;
  }
  if (m.unknown !== undefined) w.unknown = rawAttrs(m.unknown, 'metrics.unknown');
  return w;
}

// IPv6 dumps ignore the table filter on some kernels; filter again here.
function keep(r: Route, table: number | undefined, oif: number | undefined): boolean {
  return (table === undefined || r.table === table) && (oif === undefined || r.oif === oif);
}
