/**
 * Neighbours (ARP/NDP entries) and bridge forwarding entries:
 * `ip neigh add|del|show` and `bridge fdb append|del|show`.
 */
import { K, native, type NeighWire } from '../binding';
import { ValidationError } from '../errors';
import { parseIp, parseMac } from '../util/ip';
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

/** A neighbour or FDB entry as the kernel reports it. */
export interface Neighbor {
  /** 4 or 6 for ARP/NDP entries; 'bridge' for forwarding-database entries */
  family: 4 | 6 | 'bridge';
  /** ifindex of the device */
  index: number;
  /** NUD_* */
  state: number;
  /** NTF_* */
  flags: number;
  /** RTN_* type of the entry (ndm_type) */
  type: number;
  /** the IP address (for FDB entries: the remote VTEP) */
  dst?: string;
  /** link-layer (MAC) address (`lladdr`) */
  lladdr?: string;
  /** VXLAN VNI of an FDB entry (`vni`) */
  vni?: number;
  /** VXLAN destination port of an FDB entry (`port`) */
  port?: number;
  /** VXLAN FDB: ifindex of the device to reach the remote VTEP through (`via`) */
  ifindex?: number;
  /** ifindex of the bridge an FDB entry belongs to (`master`) */
  master?: number;
  /** unicast probes sent for this entry */
  probes?: number;
  /** attributes netplumb does not decode, raw */
  unknown?: RawAttr[];
}

/** Neighbour (NUD) states by name, as `ip neigh` prints them. */
export type NeighborState =
  | 'permanent'
  | 'noarp'
  | 'reachable'
  | 'stale'
  | 'delay'
  | 'probe'
  | 'failed'
  | 'incomplete'
  | 'none';

/** A neighbour or FDB entry to add (`ip neigh add|replace`, `bridge fdb add|append`). */
export interface NeighborSpec {
  /** device of the entry */
  dev: LinkRef;
  /** 4/6 (the default, from dst): ARP/NDP; 'bridge': an FDB entry */
  family?: 4 | 6 | 'bridge';
  /** IP address; for FDB entries on a VXLAN device, the remote VTEP */
  dst?: string;
  /** link-layer (MAC) address (`lladdr`) */
  lladdr?: string;
  /** NUD state; 'permanent' by default */
  state?: NeighborState | number;
  /** NTF_SELF: the entry is for the device itself (VXLAN FDB) */
  self?: boolean;
  /** NTF_MASTER: the entry goes to the bridge the device is enslaved to */
  master?: boolean;
  /** VXLAN VNI of the entry */
  vni?: number;
  /** VXLAN destination port of the entry */
  port?: number;
  /** FDB: add another destination for the same MAC (`bridge fdb append`) */
  append?: boolean;
  /** replace an existing entry (`ip neigh replace`) */
  replace?: boolean;
}

/** Which entries {@link Neighbors.list} returns (`ip neigh show [dev D]`, `bridge fdb show`). */
export interface NeighborFilter {
  /** only entries of this device */
  dev?: LinkRef;
  /** ARP (4), NDP (6) or FDB ('bridge') entries; 4 and 6 when omitted */
  family?: 4 | 6 | 'bridge';
}

function states(): Record<NeighborState, number> {
  return {
    permanent: K.NUD_PERMANENT,
    noarp: K.NUD_NOARP,
    reachable: K.NUD_REACHABLE,
    stale: K.NUD_STALE,
    delay: K.NUD_DELAY,
    probe: K.NUD_PROBE,
    failed: K.NUD_FAILED,
    incomplete: K.NUD_INCOMPLETE,
    none: K.NUD_NONE,
  };
}

/** Neighbour and FDB entries of one namespace: `ip neigh`, `bridge fdb`. Reached as {@link Rtnl.neigh}. */
export class Neighbors {
  /** @internal */
  constructor(private readonly ctx: RtnlContext) {}

  /** @internal */
  async wire(spec: NeighborSpec, mode: 'add' | 'del'): Promise<NeighWire> {
    if (typeof spec !== 'object' || spec === null)
      throw new ValidationError('neighbor', 'must be an object');
    const dst = spec.dst !== undefined ? parseIp(spec.dst, 'dst') : undefined;
    const family = spec.family ?? dst?.family;
    if (family !== 4 && family !== 6 && family !== 'bridge') {
      throw new ValidationError('family', "must be 4, 6 or 'bridge' (or give dst)");
    }
    if (family !== 'bridge') {
      if (!dst) throw new ValidationError('dst', 'an ARP/NDP entry needs an IP address');
      if (dst.family !== family) throw new ValidationError('dst', `is not an IPv${family} address`);
    }
    const bridge = family === 'bridge';
    let flags = REQ_ACK();
    if (mode === 'add') {
      flags |= K.NLM_F_CREATE;
      if (spec.append === true) flags |= K.NLM_F_APPEND;
      else if (spec.replace === true) flags |= K.NLM_F_REPLACE;
      else flags |= K.NLM_F_EXCL;
    }
    let state =
      spec.state === undefined
        ? K.NUD_PERMANENT
        : nameOrNumber(spec.state, 'state', states(), 0xffff);
    // FDB entries are never resolved by ARP: `bridge fdb` always sets NUD_NOARP.
    if (bridge && typeof spec.state !== 'number') state |= K.NUD_NOARP;
    const wire: NeighWire = {
      flags,
      family: bridge ? K.AF_BRIDGE : family === 4 ? K.AF_INET : K.AF_INET6,
      index: await this.ctx.index(validateLinkRef(spec.dev, 'dev'), 'dev'),
      state,
    };
    let ntf = 0;
    if (spec.self !== undefined && validateBool(spec.self, 'self')) ntf |= K.NTF_SELF;
    if (spec.master !== undefined && validateBool(spec.master, 'master')) ntf |= K.NTF_MASTER;
    if (ntf) wire.ntfFlags = ntf;
    if (dst) wire.dst = dst.bytes;
    if (spec.lladdr !== undefined) wire.lladdr = parseMac(spec.lladdr, 'lladdr');
    else if (bridge) throw new ValidationError('lladdr', 'an FDB entry needs a MAC address');
    if (spec.vni !== undefined) wire.vni = validateUint(spec.vni, 'vni', 0, 0xffffff);
    if (spec.port !== undefined) wire.port = validateUint(spec.port, 'port', 1, 65535);
    return wire;
  }

  /**
   * Adds an entry. Equivalent to `ip neigh add DST lladdr MAC dev D nud permanent`,
   * or with family 'bridge' to `bridge fdb append MAC dev D dst IP self permanent`.
   */
  async add(spec: NeighborSpec): Promise<void> {
    const wire = await this.wire(spec, 'add');
    const what =
      spec.family === 'bridge' ? `${spec.lladdr} dev ${spec.dev}` : `${spec.dst} dev ${spec.dev}`;
    await this.ctx.channel.send([
      { buf: native.encode('newneigh', wire), op: opName('RTM_NEWNEIGH', what) },
    ]);
  }

  /** Equivalent to `ip neigh del DST dev D` / `bridge fdb del MAC dev D [dst IP] self`. */
  async del(spec: NeighborSpec): Promise<void> {
    const wire = await this.wire(spec, 'del');
    const what =
      spec.family === 'bridge' ? `${spec.lladdr} dev ${spec.dev}` : `${spec.dst} dev ${spec.dev}`;
    await this.ctx.channel.send([
      { buf: native.encode('delneigh', wire), op: opName('RTM_DELNEIGH', what) },
    ]);
  }

  /** Equivalent to `ip neigh show [dev D]` and, for family 'bridge', `bridge fdb show [dev D]`. */
  async list(filter: NeighborFilter = {}): Promise<Neighbor[]> {
    let family = K.AF_UNSPEC;
    if (filter.family !== undefined) {
      const table = { 4: K.AF_INET, 6: K.AF_INET6, bridge: K.AF_BRIDGE } as const;
      if (!Object.hasOwn(table, filter.family))
        throw new ValidationError('family', "must be 4, 6 or 'bridge'");
      family = table[filter.family];
    }
    const wire: NeighWire = { flags: REQ_DUMP(), family };
    if (filter.dev !== undefined)
      wire.ifindex = await this.ctx.index(validateLinkRef(filter.dev, 'dev'), 'dev');
    const msgs = await this.ctx.channel.dumpAll({
      buf: native.encode('getneigh', wire),
      op: 'RTM_GETNEIGH dump',
    });
    const index = wire.ifindex;
    return msgs
      .map((m) => m.object as Neighbor)
      .filter((n) => index === undefined || n.index === index);
  }
}
