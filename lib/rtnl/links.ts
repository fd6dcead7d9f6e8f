/**
 * Links (network interfaces): `ip link add|set|del|show`.
 */
import { K, native, type LinkWire } from '../binding';
import type { Request } from '../channel';
import { ValidationError, fromSystemError } from '../errors';
import type { NetNS } from '../netns';
import { parseIp, parseUnicastMac } from '../util/ip';
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

/** A bridge's settings as the kernel reports them (IFLA_BR_*; `ip -d link show type bridge`). */
export interface BridgeInfo {
  /** STP state: 0 off, 1 kernel STP, 2 user-space STP (`stp_state`) */
  stpState?: number;
  /** forward delay in centiseconds (`forward_delay`) */
  forwardDelay?: number;
  /** hello time in centiseconds (`hello_time`) */
  helloTime?: number;
  /** max message age in centiseconds (`max_age`) */
  maxAge?: number;
  /** FDB ageing time in centiseconds (`ageing_time`) */
  ageingTime?: number;
  /** bridge priority for STP (`priority`) */
  priority?: number;
  /** VLAN filtering on (`vlan_filtering 1`) */
  vlanFiltering?: boolean;
  /** IGMP/MLD snooping on (`mcast_snooping 1`) */
  mcastSnooping?: boolean;
  /** bridged IPv4 through the ip/inet netfilter hooks, whatever the sysctl says (`nf_call_iptables 1`; needs br_netfilter) */
  nfCallIptables?: boolean;
  /** the same for IPv6 (`nf_call_ip6tables 1`) */
  nfCallIp6tables?: boolean;
}

/** A VXLAN device's settings as the kernel reports them (IFLA_VXLAN_*; `ip -d link show type vxlan`). */
export interface VxlanInfo {
  /** the VNI (`id`) */
  id?: number;
  /** multicast group or remote unicast address (`group` / `remote`) */
  group?: string;
  /** local (source) address (`local`) */
  local?: string;
  /** ifindex of the underlay device (`dev`) */
  link?: number;
  /** UDP destination port (`dstport`) */
  port?: number;
  /** learning of remote MACs from received packets (`learning` / `nolearning`) */
  learning?: boolean;
  /** TTL of outer packets; 0 inherits (`ttl`) */
  ttl?: number;
}

/** A tun/tap device's settings (IFLA_TUN_*; `ip -d tuntap show`). */
export interface TunInfo {
  /** layer 3 (tun) or layer 2 (tap) */
  type?: 'tun' | 'tap';
  /** uid allowed to attach to it */
  owner?: number;
  /** gid allowed to attach to it */
  group?: number;
  /** the device outlives the file descriptor that made it */
  persist?: boolean;
  /** several queues (IFF_MULTI_QUEUE) */
  multiQueue?: boolean;
}

/** Options of a bridge port (`ip link set DEV type bridge_slave ...`). */
export interface BridgePortInfo {
  /** STP port state: 0 disabled, 1 listening, 2 learning, 3 forwarding, 4 blocking (`state`) */
  state?: number;
  /** STP port priority (`priority`) */
  priority?: number;
  /** STP path cost (`cost`) */
  cost?: number;
  /** hairpin mode: frames may go back out of the port they came in */
  hairpin?: boolean;
  /** learn source MACs on this port (`learning on|off`) */
  learning?: boolean;
  /** flood unknown unicast out of this port (`flood on|off`) */
  flood?: boolean;
  /** IFLA_BRPORT_ISOLATED: isolated ports cannot talk to each other */
  isolated?: boolean;
  /** answer ARP/ND for the port from the bridge's neighbour table (`neigh_suppress on|off`) */
  neighSuppress?: boolean;
}

/** Interface counters (IFLA_STATS64; `ip -s link show`). */
export interface LinkStats {
  /** packets received */
  rxPackets: number;
  /** packets sent */
  txPackets: number;
  /** bytes received */
  rxBytes: number;
  /** bytes sent */
  txBytes: number;
  /** receive errors */
  rxErrors: number;
  /** transmit errors */
  txErrors: number;
  /** packets dropped on receive */
  rxDropped: number;
  /** packets dropped on transmit */
  txDropped: number;
}

/** A link as the kernel reports it (`ip -d -j link show`). */
export interface Link {
  /** ifindex, unique within the namespace */
  index: number;
  /** interface name (IFLA_IFNAME) */
  name: string;
  /** IFLA_INFO_KIND: 'bridge', 'veth', 'vxlan', ...; absent for lo and physical devices */
  kind?: string;
  /** ARPHRD_* */
  type: number;
  /** IFF_* */
  flags: number;
  /** administratively up (IFF_UP) */
  up: boolean;
  /** RFC 2863 operational state (IFLA_OPERSTATE), as `ip link` prints it in lower case */
  operstate?: 'unknown' | 'notpresent' | 'down' | 'lowerlayerdown' | 'testing' | 'dormant' | 'up';
  /** the lower layer has carrier (IFLA_CARRIER) */
  carrier?: boolean;
  /** MTU in bytes */
  mtu?: number;
  /** the smallest MTU the device accepts */
  minMtu?: number;
  /** the largest MTU the device accepts */
  maxMtu?: number;
  /** link-layer address, like 02:42:ac:11:00:02 */
  mac?: string;
  /** link-layer broadcast address */
  broadcast?: string;
  /** ifindex of the bridge (or bond) this link is enslaved to */
  master?: number;
  /** IFLA_LINK: the peer of a veth, the lower device of a macvlan/vxlan */
  link?: number;
  /** namespace id (as this namespace sees it) where `link` lives */
  linkNetnsId?: number;
  /** transmit queue length (`qlen`) */
  txqlen?: number;
  /** transmit queues allocated (`numtxqueues`; the kernel may use fewer) */
  numTxQueues?: number;
  /** receive queues allocated (`numrxqueues`) */
  numRxQueues?: number;
  /** interface group (IFLA_GROUP) */
  group?: number;
  /** the interface's alias (IFLA_IFALIAS; `ip link set DEV alias TEXT`) */
  alias?: string;
  /** bridge settings, for kind 'bridge' */
  bridge?: BridgeInfo;
  /** VXLAN settings, for kind 'vxlan' */
  vxlan?: VxlanInfo;
  /** macvlan/macvtap settings: the mode (`private`, `vepa`, `bridge`, `passthru`, `source`) */
  macvlan?: {
    /** macvlan mode, as `ip -d link` prints it */
    mode: string;
  };
  /** tun/tap settings, for kinds 'tun' and 'tap' */
  tun?: TunInfo;
  /** IFLA_INFO_SLAVE_KIND of an enslaved link ('bridge' for bridge ports) */
  slaveKind?: string;
  /** bridge-port settings of a link enslaved to a bridge */
  port?: BridgePortInfo;
  /** counters, when the listing asked for them */
  stats?: LinkStats;
  /** IFLA_INFO_DATA of kinds netplumb does not decode */
  infoData?: Buffer;
  /** attributes netplumb does not decode, raw */
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

/** What every kind of link can be created with (`ip link add NAME ...`). */
interface CommonLinkSpec {
  /** interface name: 1 to 15 bytes, no "/", ":" or white space */
  name: string;
  /** MTU in bytes (`mtu`): any u32; the kernel holds it to the device's minMtu..maxMtu */
  mtu?: number;
  /** MAC address, like 02:42:ac:11:00:02 */
  mac?: string;
  /** bring it up in the same request */
  up?: boolean;
  /** bridge to enslave it to */
  master?: LinkRef;
  /** the interface's alias text (`alias`) */
  alias?: string;
  /** transmit queue length (`txqueuelen`) */
  txqlen?: number;
  /** interface group (IFLA_GROUP) */
  devGroup?: number;
  /** create it directly in another namespace */
  netns?: NetNS;
  /** ifindex to give it (`index IDX`; the kernel picks one when omitted) */
  index?: number;
  /** transmit queues to allocate (`numtxqueues N`, 1-4096; default: the kind's) */
  numTxQueues?: number;
  /** receive queues to allocate (`numrxqueues N`, 1-4096) */
  numRxQueues?: number;
}

/** A bridge. Equivalent to `ip link add NAME type bridge [stp_state 1] ...`. */
export interface BridgeSpec extends CommonLinkSpec {
  /** the link kind */
  kind: 'bridge';
  /** spanning tree on (`stp_state 1`) */
  stp?: boolean;
  /** forward delay in centiseconds (`forward_delay`) */
  forwardDelay?: number;
  /** FDB ageing time in centiseconds (`ageing_time`) */
  ageingTime?: number;
  /** VLAN filtering (`vlan_filtering 1`) */
  vlanFiltering?: boolean;
  /** IGMP/MLD snooping (`mcast_snooping 0|1`) */
  mcastSnooping?: boolean;
  /** bridged IPv4 through the ip/inet netfilter hooks even with the sysctl at 0 (`nf_call_iptables 1`; takes effect only with br_netfilter loaded) */
  nfCallIptables?: boolean;
  /** the same for IPv6 (`nf_call_ip6tables 1`) */
  nfCallIp6tables?: boolean;
}

/** The other end of a veth pair: born where it is meant to live. */
export interface VethPeerSpec {
  /** the peer's interface name (`peer name P`) */
  name: string;
  /** the namespace to create the peer in (`peer ... netns NS`) */
  netns?: NetNS;
  /** the peer's MTU */
  mtu?: number;
  /** the peer's MAC address */
  mac?: string;
  /** bring the peer up once it exists */
  up?: boolean;
  /** ifindex to give the peer (0: the kernel picks) */
  index?: number;
  /** transmit queues to allocate (`numtxqueues N`, 1-4096) */
  numTxQueues?: number;
  /** receive queues to allocate (`numrxqueues N`, 1-4096) */
  numRxQueues?: number;
}

/** A veth pair. Equivalent to `ip link add NAME type veth peer name P [netns NS]`. */
export interface VethSpec extends CommonLinkSpec {
  /** the link kind */
  kind: 'veth';
  /** the other end */
  peer: VethPeerSpec;
}

/** A VXLAN device. Equivalent to `ip link add NAME type vxlan id VNI [local A] [group|remote G] [dev D] [dstport P]`. */
export interface VxlanSpec extends CommonLinkSpec {
  /** the link kind */
  kind: 'vxlan';
  /** the VXLAN network identifier, 0 to 16777215 (`id`) */
  vni: number;
  /** local (source) address of the tunnel */
  local?: string;
  /** multicast group or remote unicast address */
  group?: string;
  /** underlay device */
  dev?: LinkRef;
  /** UDP destination port; IANA's 4789 when omitted */
  port?: number;
  /** learn remote MACs from received packets (`learning` / `nolearning`) */
  learning?: boolean;
  /** TTL of outer packets (`ttl`) */
  ttl?: number;
}

/** A macvlan or macvtap device. Equivalent to `ip link add NAME link LOWER type macvlan mode M`. */
export interface MacvlanSpec extends CommonLinkSpec {
  /** the link kind */
  kind: 'macvlan' | 'macvtap';
  /** the lower device */
  link: LinkRef;
  /** how devices on the same lower device reach each other (`mode`); the kernel's default is vepa */
  mode?: 'private' | 'vepa' | 'bridge' | 'passthru' | 'source';
}

/** A persistent tun or tap device. Equivalent to `ip tuntap add NAME mode tun|tap [user U] [group G] [multi_queue]`. */
export interface TunSpec extends CommonLinkSpec {
  /** the link kind: layer 3 (tun) or layer 2 (tap) */
  kind: 'tun' | 'tap';
  /** uid allowed to attach (`user`) */
  owner?: number;
  /** gid allowed to attach (`group`) */
  group?: number;
  /** several queues (`multi_queue`) */
  multiQueue?: boolean;
}

/** Kinds that take no options beyond the common ones. */
export const PLAIN_KINDS = ['dummy', 'ifb', 'bond', 'nlmon', 'vcan', 'wireguard'] as const;
/** A link of a kind without options of its own. Equivalent to `ip link add NAME type KIND`. */
export interface PlainSpec extends CommonLinkSpec {
  /** the link kind */
  kind: (typeof PLAIN_KINDS)[number];
}

/** What {@link Links.add} creates, by `kind`. */
export type LinkSpec = BridgeSpec | VethSpec | VxlanSpec | MacvlanSpec | TunSpec | PlainSpec;

/** What `set` can change. */
export interface LinkChanges {
  /** `up` / `down` */
  up?: boolean;
  /** `mtu`: any u32; the kernel holds it to the device's minMtu..maxMtu (lo's is 65536) */
  mtu?: number;
  /** `address` */
  mac?: string;
  /** rename */
  name?: string;
  /** enslave to a bridge; null releases it (`nomaster`) */
  master?: LinkRef | null;
  /** move to another namespace */
  netns?: NetNS;
  /** `alias` */
  alias?: string;
  /** `txqueuelen` */
  txqlen?: number;
  /** interface group (IFLA_GROUP) */
  devGroup?: number;
  /** bridge-port options of an enslaved link */
  port?: BridgePortInfo;
  /**
   * how the kernel makes IPv6 link-local addresses (`addrgenmode`): 'none'
   * makes none, so the link sends no DAD, router or MLD traffic (a bridge
   * port needs no address of its own)
   */
  addrGenMode?: AddrGenMode;
  /**
   * announce the link's IPv4 addresses with a gratuitous ARP when it comes
   * up or its MAC changes (`sysctl net.ipv4.conf.DEV.arp_notify=1`), set
   * over netlink: no /proc/sys write. The kernel applies it after a
   * message's `up` and `mac`: set it in an earlier call (or batch entry)
   */
  arpNotify?: boolean;
}

/** `ip link set DEV addrgenmode MODE` */
export type AddrGenMode = 'eui64' | 'none' | 'stable_secret' | 'random';

const ADDR_GEN_MODES: Record<AddrGenMode, number> = {
  eui64: K.IN6_ADDR_GEN_MODE_EUI64,
  none: K.IN6_ADDR_GEN_MODE_NONE,
  stable_secret: K.IN6_ADDR_GEN_MODE_STABLE_PRIVACY,
  random: K.IN6_ADDR_GEN_MODE_RANDOM,
};

/** Which links {@link Links.list} returns. */
export interface LinkFilter {
  /**
   * only links of this kind (`ip link show type KIND`). 'tun' is the
   * kernel's kind, tap devices included, as ip lists them (their `kind` is
   * 'tun', `tun.type` 'tap'); 'tap' is tap devices only. A kind without a
   * driver loaded matches no link.
   */
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

/** Queues to allocate, for a new link only (`field`: '' or 'peer.'). */
function queuesWire(
  spec: { numTxQueues?: number; numRxQueues?: number },
  wire: LinkBodyWire,
  field: string,
): void {
  if (spec.numTxQueues !== undefined)
    wire.numTxQueues = validateUint(spec.numTxQueues, `${field}numTxQueues`, 1, 4096);
  if (spec.numRxQueues !== undefined)
    wire.numRxQueues = validateUint(spec.numRxQueues, `${field}numRxQueues`, 1, 4096);
}

/** Fields every link has; validated into `wire`. Refs to other links are returned for resolving. */
function commonWire(spec: CommonFields, wire: LinkBodyWire, field: string): void {
  // Any u32: each device has its own bounds (IFLA_MIN_MTU/IFLA_MAX_MTU; lo's
  // MTU is 65536), which the kernel checks and names in its error.
  if (spec.mtu !== undefined) wire.mtu = validateUint(spec.mtu, `${field}.mtu`, 0, 0xffffffff);
  if (spec.mac !== undefined) wire.address = parseUnicastMac(spec.mac, `${field}.mac`);
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

/** The link is of `kind` as {@link LinkFilter.kind} means it ('tap': tun devices of IFLA_TUN_TYPE tap). */
function hasKind(link: Link, kind: string): boolean {
  if (kind === 'tap') return link.kind === 'tun' && link.tun?.type === 'tap';
  return link.kind === kind;
}

/** Links (network interfaces) of one namespace: `ip link`. Reached as {@link Rtnl.links}. */
export class Links {
  /** @internal */
  constructor(private readonly ctx: RtnlContext) {}

  /** All links, or those matching `filter`. Equivalent to `ip -d link show [master M] [type K]`. */
  async list(filter: LinkFilter = {}): Promise<Link[]> {
    const wire: LinkWire = { flags: REQ_DUMP(), family: K.AF_UNSPEC };
    if (filter.master !== undefined) {
      wire.master = await this.ctx.index(validateLinkRef(filter.master, 'master'), 'master');
    }
    const kind = filter.kind;
    if (kind !== undefined) {
      if (typeof kind !== 'string' || kind === '')
        throw new ValidationError('kind', 'must be a kind name');
      // tun and tap devices are one kernel kind, 'tun', told apart by IFLA_TUN_TYPE.
      wire.kind = kind === 'tap' ? 'tun' : kind;
    }
    const msgs = await this.ctx.channel.dumpAll({
      buf: native.encode('getlink', wire),
      op: 'RTM_GETLINK dump',
    });
    const links = msgs.map((m) => m.object as Link);
    // The kernel applies the kind filter only for kinds it has a driver for
    // (rtnl_link_ops registered): for any other it dumps every link. Filter here too.
    return kind === undefined ? links : links.filter((l) => hasKind(l, kind));
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
    if (alias !== undefined) requests.push(await this.setRequest(spec.name, { alias }));
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
    queuesWire(spec, wire, '');
    if (spec.index !== undefined) wire.index = validateUint(spec.index, 'index', 1, 0x7fffffff);
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
        if (spec.nfCallIptables !== undefined)
          data.nfCallIptables = validateBool(spec.nfCallIptables, 'nfCallIptables');
        if (spec.nfCallIp6tables !== undefined)
          data.nfCallIp6tables = validateBool(spec.nfCallIp6tables, 'nfCallIp6tables');
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
        queuesWire(p, peer, 'peer.');
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
   * bridge ports `ip link set dev REF type bridge_slave [hairpin on] [isolated on] ...`;
   * `arpNotify` is `sysctl -w net.ipv4.conf.REF.arp_notify=1`.
   */
  async set(ref: LinkRef, changes: LinkChanges): Promise<void> {
    await this.ctx.channel.send([await this.setRequest(ref, changes)]);
  }

  /** @internal the encoded request of `set` (also queued by RtnlBatch) */
  async setRequest(ref: LinkRef, changes: LinkChanges): Promise<Request> {
    return {
      buf: native.encode('newlink', await this.setWire(ref, changes)),
      op: opName('RTM_NEWLINK', ref),
    };
  }

  /** @internal validated request for `set` */
  async setWire(ref: LinkRef, changes: LinkChanges): Promise<LinkWire> {
    validateLinkRef(ref, 'link');
    if (typeof changes !== 'object' || changes === null)
      throw new ValidationError('changes', 'must be an object');
    const wire: LinkWire = { flags: REQ_ACK(), family: K.AF_UNSPEC };
    const { master: _master, addrGenMode, arpNotify, ...fields } = changes;
    commonWire(fields, wire, 'changes');
    if (addrGenMode !== undefined) {
      if (typeof addrGenMode !== 'string' || !Object.hasOwn(ADDR_GEN_MODES, addrGenMode))
        throw new ValidationError(
          'changes.addrGenMode',
          `must be one of ${Object.keys(ADDR_GEN_MODES).join(', ')}`,
        );
      wire.addrGenMode = ADDR_GEN_MODES[addrGenMode];
    }
    if (arpNotify !== undefined)
      wire.arpNotify = validateBool(arpNotify, 'changes.arpNotify') ? 1 : 0;
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
