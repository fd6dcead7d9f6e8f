/**
 * Links (network interfaces): `ip link add|set|del|show`.
 */
import { K, native, type LinkWire } from '../binding';
import type { Request } from '../channel';
import { ValidationError, fromSystemError } from '../errors';
import type { NetNS } from '../netns';
import { parseIp, parseMac } from '../util/ip';
import {
  REQ_ACK,
  REQ_CREATE,
  REQ_DUMP,
  opName,
  validateBool,
  validateIfName,
  validateLinkRef,
  validateUint,
  type LinkRef,
  type RawAttr,
  type RtnlContext,
} from './common';

export interface BridgeInfo {
  stpState?: number;
  forwardDelay?: number;
  helloTime?: number;
  maxAge?: number;
  ageingTime?: number;
  priority?: number;
  vlanFiltering?: boolean;
  mcastSnooping?: boolean;
}

export interface VxlanInfo {
  id?: number;
  group?: string;
  local?: string;
  link?: number;
  port?: number;
  learning?: boolean;
  ttl?: number;
}

export interface TunInfo {
  type?: 'tun' | 'tap';
  owner?: number;
  group?: number;
  persist?: boolean;
  multiQueue?: boolean;
}

/** Options of a bridge port (`ip link set DEV type bridge_slave ...`). */
export interface BridgePortInfo {
  state?: number;
  priority?: number;
  cost?: number;
  /** hairpin mode: frames may go back out of the port they came in */
  hairpin?: boolean;
  learning?: boolean;
  flood?: boolean;
  /** IFLA_BRPORT_ISOLATED: isolated ports cannot talk to each other */
  isolated?: boolean;
  neighSuppress?: boolean;
}

export interface LinkStats {
  rxPackets: number;
  txPackets: number;
  rxBytes: number;
  txBytes: number;
  rxErrors: number;
  txErrors: number;
  rxDropped: number;
  txDropped: number;
}

/** A link as the kernel reports it (`ip -d -j link show`). */
export interface Link {
  index: number;
  name: string;
  /** IFLA_INFO_KIND: 'bridge', 'veth', 'vxlan', ...; absent for lo and physical devices */
  kind?: string;
  /** ARPHRD_* */
  type: number;
  /** IFF_* */
  flags: number;
  /** administratively up (IFF_UP) */
  up: boolean;
  operstate?: 'unknown' | 'notpresent' | 'down' | 'lowerlayerdown' | 'testing' | 'dormant' | 'up';
  carrier?: boolean;
  mtu?: number;
  minMtu?: number;
  maxMtu?: number;
  mac?: string;
  broadcast?: string;
  /** ifindex of the bridge (or bond) this link is enslaved to */
  master?: number;
  /** IFLA_LINK: the peer of a veth, the lower device of a macvlan/vxlan */
  link?: number;
  /** namespace id (as this namespace sees it) where `link` lives */
  linkNetnsId?: number;
  txqlen?: number;
  group?: number;
  alias?: string;
  bridge?: BridgeInfo;
  vxlan?: VxlanInfo;
  macvlan?: { mode: string };
  tun?: TunInfo;
  /** IFLA_INFO_SLAVE_KIND of an enslaved link ('bridge' for bridge ports) */
  slaveKind?: string;
  port?: BridgePortInfo;
  stats?: LinkStats;
  /** IFLA_INFO_DATA of kinds netplumb does not decode */
  infoData?: Buffer;
  unknown?: RawAttr[];
}

/** Fields any link (and a veth peer) can be given. */
interface CommonFields {
  mtu?: number;
  /** MAC address, like 02:42:ac:11:00:02 */
  mac?: string;
  up?: boolean;
  alias?: string;
  txqlen?: number;
  /** interface group (IFLA_GROUP) */
  devGroup?: number;
  netns?: NetNS;
}

interface CommonLinkSpec {
  name: string;
  mtu?: number;
  /** MAC address, like 02:42:ac:11:00:02 */
  mac?: string;
  /** bring it up in the same request */
  up?: boolean;
  /** bridge to enslave it to */
  master?: LinkRef;
  alias?: string;
  txqlen?: number;
  /** interface group (IFLA_GROUP) */
  devGroup?: number;
  /** create it directly in another namespace */
  netns?: NetNS;
}

export interface BridgeSpec extends CommonLinkSpec {
  kind: 'bridge';
  stp?: boolean;
  forwardDelay?: number;
  ageingTime?: number;
  vlanFiltering?: boolean;
  mcastSnooping?: boolean;
}

/** The other end of a veth pair: born where it is meant to live. */
export interface VethPeerSpec {
  name: string;
  netns?: NetNS;
  mtu?: number;
  mac?: string;
  up?: boolean;
  /** ifindex to give the peer (0: the kernel picks) */
  index?: number;
}

export interface VethSpec extends CommonLinkSpec {
  kind: 'veth';
  peer: VethPeerSpec;
}

export interface VxlanSpec extends CommonLinkSpec {
  kind: 'vxlan';
  vni: number;
  /** local (source) address of the tunnel */
  local?: string;
  /** multicast group or remote unicast address */
  group?: string;
  /** underlay device */
  dev?: LinkRef;
  /** UDP destination port; IANA's 4789 when omitted */
  port?: number;
  learning?: boolean;
  ttl?: number;
}

export interface MacvlanSpec extends CommonLinkSpec {
  kind: 'macvlan' | 'macvtap';
  /** the lower device */
  link: LinkRef;
  mode?: 'private' | 'vepa' | 'bridge' | 'passthru' | 'source';
}

export interface TunSpec extends CommonLinkSpec {
  kind: 'tun' | 'tap';
  owner?: number;
  group?: number;
  multiQueue?: boolean;
}

/** Kinds that take no options beyond the common ones. */
export const PLAIN_KINDS = ['dummy', 'ifb', 'bond', 'nlmon', 'vcan', 'wireguard'] as const;
export interface PlainSpec extends CommonLinkSpec {
  kind: (typeof PLAIN_KINDS)[number];
}

export type LinkSpec = BridgeSpec | VethSpec | VxlanSpec | MacvlanSpec | TunSpec | PlainSpec;

/** What `set` can change. */
export interface LinkChanges {
  up?: boolean;
  mtu?: number;
  mac?: string;
  /** rename */
  name?: string;
  /** enslave to a bridge; null releases it (`nomaster`) */
  master?: LinkRef | null;
  /** move to another namespace */
  netns?: NetNS;
  alias?: string;
  txqlen?: number;
  /** interface group (IFLA_GROUP) */
  devGroup?: number;
  /** bridge-port options of an enslaved link */
  port?: BridgePortInfo;
}

export interface LinkFilter {
  /** only links of this kind (kernel-side filter) */
  kind?: string;
  /** only ports of this bridge (kernel-side filter) */
  master?: LinkRef;
}

const KINDS = ['bridge', 'veth', 'vxlan', 'macvlan', 'macvtap', 'tun', 'tap', ...PLAIN_KINDS];

function macvlanMode(mode: unknown, field: string): number {
  const table: Record<string, number> = {
    private: K.MACVLAN_MODE_PRIVATE,
    vepa: K.MACVLAN_MODE_VEPA,
    bridge: K.MACVLAN_MODE_BRIDGE,
    passthru: K.MACVLAN_MODE_PASSTHRU,
    source: K.MACVLAN_MODE_SOURCE,
  };
  if (typeof mode === 'string' && Object.hasOwn(table, mode)) return table[mode]!;
  throw new ValidationError(field, `must be one of ${Object.keys(table).join(', ')}`);
}

type LinkBodyWire = NonNullable<LinkWire['peer']>;

function upFlags(wire: LinkBodyWire, up: unknown, field: string): void {
  if (up === undefined) return;
  wire.ifiFlags = validateBool(up, field) ? K.IFF_UP : 0;
  wire.ifiChange = K.IFF_UP;
}

/** Fields every link has; validated into `wire`. Refs to other links are returned for resolving. */
function commonWire(spec: CommonFields, wire: LinkBodyWire, field: string): void {
  if (spec.mtu !== undefined) wire.mtu = validateUint(spec.mtu, `${field}.mtu`, 68, 65535);
  if (spec.mac !== undefined) wire.address = parseMac(spec.mac, `${field}.mac`);
  if (spec.alias !== undefined) {
    if (typeof spec.alias !== 'string' || Buffer.byteLength(spec.alias) > 255) {
      throw new ValidationError(`${field}.alias`, 'must be a string of at most 255 bytes');
    }
    wire.alias = spec.alias;
  }
  if (spec.txqlen !== undefined)
    wire.txqlen = validateUint(spec.txqlen, `${field}.txqlen`, 0, 0xffffffff);
  if (spec.devGroup !== undefined)
    wire.group = validateUint(spec.devGroup, `${field}.devGroup`, 0, 0xffffffff);
  if (spec.netns !== undefined) wire.netnsFd = spec.netns.fd.fd;
  upFlags(wire, spec.up, `${field}.up`);
}

export class Links {
  constructor(private readonly ctx: RtnlContext) {}

  /** All links, or those matching `filter`. Equivalent to `ip -d link show [master M] [type K]`. */
  async list(filter: LinkFilter = {}): Promise<Link[]> {
    const wire: LinkWire = { flags: REQ_DUMP(), family: K.AF_UNSPEC };
    if (filter.master !== undefined) {
      wire.master = await this.ctx.index(validateLinkRef(filter.master, 'master'), 'master');
    }
    if (filter.kind !== undefined) {
      if (typeof filter.kind !== 'string' || filter.kind === '')
        throw new ValidationError('kind', 'must be a kind name');
      wire.kind = filter.kind;
    }
    const msgs = await this.ctx.channel.dumpAll({
      buf: native.encode('getlink', wire),
      op: 'RTM_GETLINK dump',
    });
    return msgs.map((m) => m.object as Link);
  }

  /** One link, or undefined when it does not exist. Equivalent to `ip -d link show dev REF`. */
  async find(ref: LinkRef): Promise<Link | undefined> {
    try {
      return await this.get(ref);
    } catch (err) {
      if ((err as { code?: string }).code === 'ENODEV') return undefined;
      throw err;
    }
  }

  /** One link; a missing one rejects with NetlinkError code ENODEV. Equivalent to `ip -d link show dev REF`. */
  async get(ref: LinkRef): Promise<Link> {
    validateLinkRef(ref, 'link');
    const msgs = await this.ctx.channel.request(this.getRequest(ref));
    const link = msgs[0]?.object as Link | undefined;
    if (!link) throw new ValidationError('link', `no reply for ${ref}`);
    return link;
  }

  private getRequest(ref: LinkRef): Request {
    const wire: LinkWire = { flags: REQ_ACK(), family: K.AF_UNSPEC };
    if (typeof ref === 'number') wire.index = ref;
    else wire.name = ref;
    return { buf: native.encode('getlink', wire), op: opName('RTM_GETLINK', ref) };
  }

  /**
   * Creates a link and returns it as the kernel made it. Equivalent to
   * `ip link add NAME [mtu M] [address A] [master B] [up] type KIND ...`;
   * a veth peer is created directly in its namespace
   * (`... type veth peer name P netns NS`).
   */
  async add(spec: LinkSpec): Promise<Link> {
    const wire = await this.addWire(spec);
    if (spec.kind === 'tun' || spec.kind === 'tap') return this.addTun(spec, wire);
    // The kernel ignores IFLA_IFALIAS when it creates a link: set it with a
    // second request. The link is then read back in the same sendmsg (the
    // kernel handles the requests in order, master and up applied): one
    // round trip. A link created in another namespace is read from there.
    const { alias, ...create } = wire;
    // The kernel configures a veth peer before the link it pairs with
    // exists, so the peer cannot come up in the same request (ENOTCONN):
    // it comes up in a second one, where it lives.
    const peer = spec.kind === 'veth' ? spec.peer : undefined;
    const peerUp = peer?.up === true;
    if (peerUp && create.peer) {
      const { ifiFlags: _f, ifiChange: _c, ...rest } = create.peer;
      create.peer = rest;
    }
    const requests: Request[] = [
      { buf: native.encode('newlink', create), op: opName('RTM_NEWLINK', spec.name) },
    ];
    if (peer && peerUp && peer.netns !== undefined) {
      const peerNs = peer.netns;
      const peerName = peer.name;
      await this.ctx.channel.send(requests);
      requests.length = 0;
      await this.ctx.inNetns(peerNs, (rt) => rt.links.set(peerName, { up: true }));
      if (spec.netns === undefined && alias === undefined) return this.get(spec.name);
    } else if (peer && peerUp) {
      requests.push({
        buf: native.encode('newlink', {
          flags: REQ_ACK(),
          name: peer.name,
          ifiFlags: K.IFF_UP,
          ifiChange: K.IFF_UP,
        }),
        op: opName('RTM_NEWLINK', `${peer.name} up`),
      });
    }
    if (spec.netns !== undefined) {
      if (requests.length > 0) await this.ctx.channel.send(requests);
      return this.ctx.inNetns(spec.netns, async (rt) => {
        if (alias !== undefined) await rt.links.set(spec.name, { alias });
        return rt.links.get(spec.name);
      });
    }
    if (alias !== undefined) {
      requests.push({
        buf: native.encode('newlink', { flags: REQ_ACK(), name: spec.name, alias }),
        op: opName('RTM_NEWLINK', `${spec.name} alias`),
      });
    }
    requests.push(this.getRequest(spec.name));
    const txn = await this.ctx.channel.send(requests);
    const link = txn.messages.find((m) => m.index === requests.length - 1)?.object as
      Link | undefined;
    return link ?? this.get(spec.name);
  }

  /** Validates a link spec into wire form (exported for the engine's batched paths). @internal */
  async addWire(spec: LinkSpec): Promise<LinkWire> {
    if (typeof spec !== 'object' || spec === null)
      throw new ValidationError('link', 'must be an object');
    if (!KINDS.includes(spec.kind)) {
      throw new ValidationError(
        'kind',
        `unknown link kind ${JSON.stringify(spec.kind)} (known: ${KINDS.join(', ')})`,
      );
    }
    const wire: LinkWire = {
      flags: REQ_CREATE(),
      name: validateIfName(spec.name, 'name'),
      kind: spec.kind,
    };
    commonWire(spec, wire, 'link');
    const refs: Promise<void>[] = [];
    if (spec.master !== undefined) {
      const ref = validateLinkRef(spec.master, 'master');
      refs.push(this.ctx.index(ref, 'master').then((i) => void (wire.master = i)));
    }
    switch (spec.kind) {
      case 'bridge': {
        const data: NonNullable<LinkWire['data']> = {};
        if (spec.stp !== undefined) data.stpState = validateBool(spec.stp, 'stp') ? 1 : 0;
        if (spec.forwardDelay !== undefined)
          data.forwardDelay = validateUint(spec.forwardDelay, 'forwardDelay', 0, 0xffffffff);
        if (spec.ageingTime !== undefined)
          data.ageingTime = validateUint(spec.ageingTime, 'ageingTime', 0, 0xffffffff);
        if (spec.vlanFiltering !== undefined)
          data.vlanFiltering = validateBool(spec.vlanFiltering, 'vlanFiltering');
        if (spec.mcastSnooping !== undefined)
          data.mcastSnooping = validateBool(spec.mcastSnooping, 'mcastSnooping');
        if (Object.keys(data).length > 0) wire.data = data;
        break;
      }
      case 'veth': {
        const p = spec.peer as VethPeerSpec | undefined;
        if (typeof p !== 'object' || p === null)
          throw new ValidationError('peer', 'a veth needs a peer: { name }');
        const peer: NonNullable<LinkWire['peer']> = { name: validateIfName(p.name, 'peer.name') };
        if (p.index !== undefined) peer.index = validateUint(p.index, 'peer.index', 1, 0x7fffffff);
        commonWire(p, peer, 'peer');
        if (p.netns === undefined && p.name === spec.name) {
          throw new ValidationError(
            'peer.name',
            'must differ from name when both ends are in one namespace',
          );
        }
        wire.peer = peer;
        break;
      }
      case 'vxlan': {
        const data: NonNullable<LinkWire['data']> = {
          id: validateUint(spec.vni, 'vni', 0, 0xffffff),
        };
        if (spec.local !== undefined) data.local = parseIp(spec.local, 'local').bytes;
        if (spec.group !== undefined) data.group = parseIp(spec.group, 'group').bytes;
        data.port = spec.port === undefined ? 4789 : validateUint(spec.port, 'port', 1, 65535);
        if (spec.learning !== undefined) data.learning = validateBool(spec.learning, 'learning');
        if (spec.ttl !== undefined) data.ttl = validateUint(spec.ttl, 'ttl', 0, 255);
        if (spec.dev !== undefined) {
          const ref = validateLinkRef(spec.dev, 'dev');
          refs.push(this.ctx.index(ref, 'dev').then((i) => void (data.link = i)));
        }
        wire.data = data;
        break;
      }
      case 'macvlan':
      case 'macvtap': {
        const ref = validateLinkRef(spec.link, 'link');
        refs.push(this.ctx.index(ref, 'link').then((i) => void (wire.link = i)));
        if (spec.mode !== undefined) wire.data = { mode: macvlanMode(spec.mode, 'mode') };
        break;
      }
      case 'tun':
      case 'tap':
        if (spec.owner !== undefined) validateUint(spec.owner, 'owner', 0, 0xffffffff);
        if (spec.group !== undefined) validateUint(spec.group, 'group', 0, 0xffffffff);
        break;
      default:
        break;
    }
    await Promise.all(refs);
    return wire;
  }

  /** tun/tap: an ioctl makes the device, then one RTM_NEWLINK applies the rest. */
  private async addTun(spec: TunSpec, wire: LinkWire): Promise<Link> {
    if (spec.netns !== undefined)
      throw new ValidationError(
        'netns',
        'open an Rtnl handle in that namespace to create tun/tap there',
      );
    const tun = {
      name: spec.name,
      tap: spec.kind === 'tap',
      multiQueue: spec.multiQueue === true,
      ...(spec.owner !== undefined ? { owner: spec.owner } : {}),
      ...(spec.group !== undefined ? { group: spec.group } : {}),
    };
    try {
      await this.ctx.handle.createTun(tun);
    } catch (err) {
      throw fromSystemError(err, `TUNSETIFF ${spec.name}`);
    }
    const { kind: _kind, ...rest } = wire;
    const hasChanges = Object.keys(rest).some((k) => !['flags', 'name'].includes(k));
    if (hasChanges) {
      await this.ctx.channel.send([
        {
          buf: native.encode('newlink', { ...rest, flags: REQ_ACK() }),
          op: opName('RTM_NEWLINK', spec.name),
        },
      ]);
    }
    return this.get(spec.name);
  }

  /**
   * Changes a link. Equivalent to `ip link set dev REF [up|down] [mtu M]
   * [address A] [name N] [master B|nomaster] [netns NS] [alias A]`, and for
   * bridge ports `ip link set dev REF type bridge_slave [hairpin on] [isolated on] ...`.
   */
  async set(ref: LinkRef, changes: LinkChanges): Promise<void> {
    const wire = await this.setWire(ref, changes);
    await this.ctx.channel.send([
      { buf: native.encode('newlink', wire), op: opName('RTM_NEWLINK', ref) },
    ]);
  }

  /** @internal validated request for `set` */
  async setWire(ref: LinkRef, changes: LinkChanges): Promise<LinkWire> {
    validateLinkRef(ref, 'link');
    if (typeof changes !== 'object' || changes === null)
      throw new ValidationError('changes', 'must be an object');
    const wire: LinkWire = { flags: REQ_ACK(), family: K.AF_UNSPEC };
    const { master: _master, ...fields } = changes;
    commonWire(fields, wire, 'changes');
    const refs: Promise<void>[] = [];
    if (changes.master === null) wire.master = 0;
    else if (changes.master !== undefined) {
      const m = validateLinkRef(changes.master, 'master');
      refs.push(this.ctx.index(m, 'master').then((i) => void (wire.master = i)));
    }
    if (changes.port !== undefined) {
      const p = changes.port;
      const data: NonNullable<LinkWire['slaveData']> = {};
      for (const key of ['hairpin', 'isolated', 'learning', 'flood', 'neighSuppress'] as const) {
        if (p[key] !== undefined) data[key] = validateBool(p[key], `port.${key}`);
      }
      if (p.cost !== undefined) data.cost = validateUint(p.cost, 'port.cost', 1, 0xffffffff);
      if (p.priority !== undefined)
        data.priority = validateUint(p.priority, 'port.priority', 0, 63);
      if (p.state !== undefined) data.state = validateUint(p.state, 'port.state', 0, 4);
      wire.slaveKind = 'bridge_slave';
      wire.slaveData = data;
    }
    // Renaming needs the ifindex; otherwise the kernel finds the link by name.
    if (changes.name !== undefined) {
      wire.name = validateIfName(changes.name, 'changes.name');
      refs.push(this.ctx.index(ref, 'link').then((i) => void (wire.index = i)));
    } else if (typeof ref === 'number') {
      wire.index = ref;
    } else {
      wire.name = ref;
    }
    await Promise.all(refs);
    return wire;
  }

  /** Deletes a link (both ends, for a veth). Equivalent to `ip link del dev REF`. */
  async del(ref: LinkRef): Promise<void> {
    const wire = this.delWire(ref);
    await this.ctx.channel.send([
      { buf: native.encode('dellink', wire), op: opName('RTM_DELLINK', ref) },
    ]);
  }

  /** @internal validated request for `del` */
  delWire(ref: LinkRef): LinkWire {
    validateLinkRef(ref, 'link');
    const wire: LinkWire = { flags: REQ_ACK(), family: K.AF_UNSPEC };
    if (typeof ref === 'number') wire.index = ref;
    else wire.name = ref;
    return wire;
  }
}
