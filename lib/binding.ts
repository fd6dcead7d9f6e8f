/**
 * The one place that loads the native addon, with its full type. Nothing
 * else imports the addon. Decoded objects are typed by the modules that
 * request them (lib/rtnl, lib/nft).
 */
import path from 'node:path';

import type { RouteMetrics } from './rtnl/routes';

/** An open network-namespace file (/run/netns/NAME, /proc/PID/ns/net). */
export interface NsFdNative {
  /** the descriptor number, -1 once closed */
  readonly fd: number;
  close(): void;
  /** [st_dev, st_ino] of the namespace */
  identity(): [number, number];
}

/** How one request of a transaction ended. */
export interface NativeCompletion {
  done: boolean;
  /** positive errno; 0 for success */
  error: number;
  code?: string;
  extack?: string;
  offset?: number;
  missing?: number;
}

/** A data message received in answer to request number `index`. */
export interface NativeMessage {
  index: number;
  type: number;
  flags: number;
  object: unknown;
}

export interface NativeTransaction {
  completions: NativeCompletion[];
  messages: NativeMessage[];
  /** some dump part carried NLM_F_DUMP_INTR: the dump may be inconsistent */
  interrupted: boolean;
  /**
   * the receive queue overran (ENOBUFS): the kernel dropped the replies it
   * could not queue; those that arrived are here, the missing ACKs are
   * completions with error ENOBUFS
   */
  overrun: boolean;
}

export interface NativeDumpChunk extends NativeTransaction {
  done: boolean;
}

export interface TunNativeSpec {
  name: string;
  tap: boolean;
  multiQueue?: boolean;
  owner?: number;
  group?: number;
}

/**
 * One step of a sequence run by a handle's thread in one job: a transaction
 * (on the handle's socket, or with `outer` on the socket it opened in its
 * starting namespace), or a file write as the namespace sees it.
 */
export type NativeStep =
  | { protocol: number; outer?: boolean; batch: Buffer }
  /**
   * with `outer` (a builder's job: enter with `reuse`), a write below
   * /proc/sys/net/ipv6/conf/ of the namespace the thread started in
   */
  | { write: string; data: string; outer?: boolean }
  /**
   * a state-directory operation; a `create` or `reserveFirst` that finds the
   * name taken fails the step. With `aside`, it runs on a helper thread from
   * the start of the sequence, beside the steps before it, in order with the
   * other aside steps; the next step that is a file operation without
   * `aside`, and the end of the sequence, wait for them. One that fails
   * fails the sequence at its index unless an earlier step failed first
   * (aside steps after a failed step may have run: the caller takes them
   * back). For writes that need nothing the sequence makes. When other
   * jobs wait for the thread, they run in order like any step.
   */
  | { fs: FsOp; aside?: boolean }
  /** a bind test of a port as the thread's namespace sees it; fails the step when it is in use */
  | { probe: { protocol: 'tcp' | 'udp'; addr?: Buffer; port: number } };

export interface NativeSequenceResult {
  /** one per step run: transactions for netlink steps, FsResult for fs steps, `{ probe }` for probes */
  results: (NativeTransaction | FsResult | { probe: string | null })[];
  /** index of the step that failed, or -1 */
  failed: number;
  /** where the job's time went, when asked for (EnterOptions.timing) */
  timing?: NativeTiming;
}

/** Nanoseconds, measured on the handle's thread (CLOCK_MONOTONIC). */
export interface NativeTiming {
  /** from the call to the thread starting the job (other jobs, or the namespace made ahead, before it) */
  queuedNs: number;
  /** entering the namespace (an enter's: making or adopting it, the bind mount, setns) */
  netnsNs?: number;
  /** each step that ran, in order (an enter's: `before`, then `steps`) */
  stepNs: number[];
}

export interface EnterOptions {
  netns?: NsFdNative;
  /** make a new namespace and bind-mount it at this path */
  create?: string;
  /** protocols to open sockets for in the starting namespace, before entering */
  outer?: number[];
  /** the namespace those `outer` sockets live in, when not the process's (entered first) */
  outerNetns?: NsFdNative;
  /** the handle ends with this job (its thread goes back to the pool) */
  close?: boolean;
  /**
   * with `create` and steps: after the job the thread goes back to the
   * namespace it started in, ready for the next (a sandbox builder); while
   * idle it makes the next namespace ahead and runs `prepare` in it
   */
  reuse?: boolean;
  /** writes and inner transactions run in each new namespace first (with `reuse`) */
  prepare?: NativeStep[];
  /** report where the job's time went (`timing` in the result) */
  timing?: boolean;
  /**
   * with `reuse`, a token (1 to 2^32-1): when the steps went well, the thread
   * stays in the new namespace and runs nothing else (but a close) until
   * `release(token)`, which finishes there
   */
  hold?: number;
}

/** A dedicated native thread living in one network namespace. */
export interface HandleNative {
  enter(opts: EnterOptions): Promise<NsFdNative>;
  /**
   * Enters, then runs `steps` in the same job; `before` steps run before
   * entering (if one fails nothing is entered, and `ns` is absent). If
   * entering fails, `failed` is the index just past the `before` steps and
   * `enterError` says why.
   */
  enter(
    opts: EnterOptions & { steps: NativeStep[]; before?: NativeStep[] },
  ): Promise<NativeSequenceResult & { ns?: NsFdNative; enterError?: Error }>;
  sequence(steps: NativeStep[]): Promise<NativeSequenceResult>;
  /**
   * After an enter with `hold: token`: runs `steps` in the namespace it
   * held, then the thread goes home. `held` false: that enter did not hold
   * (it failed), nothing ran.
   */
  release(
    token: number,
    steps: NativeStep[],
    timing?: boolean,
  ): Promise<NativeSequenceResult & { held: boolean }>;
  /**
   * Sends `batch` in one sendmsg and collects every reply. `rcvbuf`: a fixed
   * receive buffer (SO_RCVBUF) for this batch, not grown for its replies
   * (tests use it to make the kernel drop replies).
   */
  transact(protocol: number, batch: Buffer, opts?: { rcvbuf?: number }): Promise<NativeTransaction>;
  /**
   * One chunk of stream `stream`'s dump (a request starts it; null goes
   * on); each stream has a socket of its own, closed when the dump ends or
   * with `abort`.
   */
  dump(
    protocol: number,
    request: Buffer | null,
    budget: number,
    abort: boolean,
    stream: number,
  ): Promise<NativeDumpChunk>;
  writeFile(path: string, data: string): Promise<void>;
  readFile(path: string): Promise<string>;
  createTun(spec: TunNativeSpec): Promise<void>;
  /** binds each port as the namespace sees it: null when free, else the errno name (EADDRINUSE) */
  probePorts(
    probes: { protocol: 'tcp' | 'udp'; addr?: Buffer; port: number }[],
  ): Promise<(string | null)[]>;
  subscribe(
    protocol: number,
    groups: number[],
    callback: (err: Error | null, messages: NativeMessage[] | null) => void,
    /** nlmsg_types to keep (a socket filter drops the others in the kernel); all when omitted */
    types?: number[],
  ): Promise<void>;
  unsubscribe(): Promise<void>;
  close(): Promise<void>;
}

/** Names of the kernel constants the addon exports (values from the uapi headers). */
export const CONSTANT_NAMES = [
  'NETLINK_ROUTE', 'NETLINK_NETFILTER',
  'NLM_F_REQUEST', 'NLM_F_MULTI', 'NLM_F_ACK', 'NLM_F_ECHO', 'NLM_F_DUMP_INTR', 'NLM_F_ROOT',
  'NLM_F_MATCH', 'NLM_F_DUMP', 'NLM_F_REPLACE', 'NLM_F_EXCL', 'NLM_F_CREATE', 'NLM_F_APPEND',
  'NLM_F_NONREC',
  'RTM_NEWLINK', 'RTM_DELLINK', 'RTM_GETLINK', 'RTM_NEWADDR', 'RTM_DELADDR', 'RTM_GETADDR',
  'RTM_NEWROUTE', 'RTM_DELROUTE', 'RTM_GETROUTE', 'RTM_NEWNEIGH', 'RTM_DELNEIGH', 'RTM_GETNEIGH',
  'RTNLGRP_LINK', 'RTNLGRP_NEIGH', 'RTNLGRP_IPV4_IFADDR', 'RTNLGRP_IPV6_IFADDR',
  'RTNLGRP_IPV4_ROUTE', 'RTNLGRP_IPV6_ROUTE',
  'AF_UNSPEC', 'AF_INET', 'AF_INET6', 'AF_BRIDGE', 'AF_PACKET',
  'IFF_UP', 'IFF_BROADCAST', 'IFF_LOOPBACK', 'IFF_POINTOPOINT', 'IFF_RUNNING', 'IFF_NOARP',
  'IFF_PROMISC', 'IFF_MULTICAST', 'IFF_LOWER_UP', 'IFNAMSIZ',
  'ARPHRD_ETHER', 'ARPHRD_LOOPBACK', 'ARPHRD_NONE',
  'RTEXT_FILTER_VF', 'RTEXT_FILTER_SKIP_STATS',
  'MACVLAN_MODE_PRIVATE', 'MACVLAN_MODE_VEPA', 'MACVLAN_MODE_BRIDGE', 'MACVLAN_MODE_PASSTHRU',
  'MACVLAN_MODE_SOURCE', 'IN6_ADDR_GEN_MODE_EUI64', 'IN6_ADDR_GEN_MODE_NONE',
  'IN6_ADDR_GEN_MODE_STABLE_PRIVACY', 'IN6_ADDR_GEN_MODE_RANDOM', 'IPV4_DEVCONF_ARP_NOTIFY',
  'IFLA_AF_SPEC', 'IFLA_INET_CONF',
  'IFA_F_NODAD', 'IFA_F_PERMANENT', 'IFA_F_NOPREFIXROUTE', 'IFA_F_SECONDARY',
  'RT_TABLE_UNSPEC', 'RT_TABLE_MAIN', 'RT_TABLE_LOCAL',
  'RTPROT_UNSPEC', 'RTPROT_KERNEL', 'RTPROT_BOOT', 'RTPROT_STATIC',
  'RT_SCOPE_UNIVERSE', 'RT_SCOPE_SITE', 'RT_SCOPE_LINK', 'RT_SCOPE_HOST', 'RT_SCOPE_NOWHERE',
  'RTN_UNSPEC', 'RTN_UNICAST', 'RTN_LOCAL', 'RTN_BROADCAST', 'RTN_ANYCAST', 'RTN_MULTICAST',
  'RTN_BLACKHOLE', 'RTN_UNREACHABLE', 'RTN_PROHIBIT', 'RTNH_F_ONLINK',
  'NUD_INCOMPLETE', 'NUD_REACHABLE', 'NUD_STALE', 'NUD_DELAY', 'NUD_PROBE', 'NUD_FAILED',
  'NUD_NOARP', 'NUD_PERMANENT', 'NUD_NONE',
  'NTF_USE', 'NTF_SELF', 'NTF_MASTER', 'NTF_PROXY', 'NTF_EXT_LEARNED', 'NTF_ROUTER',
  'NFPROTO_UNSPEC', 'NFPROTO_INET', 'NFPROTO_IPV4', 'NFPROTO_ARP', 'NFPROTO_NETDEV',
  'NFPROTO_BRIDGE', 'NFPROTO_IPV6', 'NF_INET_PRE_ROUTING', 'NF_INET_LOCAL_IN', 'NF_INET_FORWARD',
  'NF_INET_LOCAL_OUT', 'NF_INET_POST_ROUTING', 'NF_INET_INGRESS', 'NF_NETDEV_INGRESS', 'NF_ARP_IN',
  'NF_ARP_OUT', 'NF_ARP_FORWARD', 'NF_BR_PRE_ROUTING', 'NF_BR_LOCAL_IN', 'NF_BR_FORWARD',
  'NF_BR_LOCAL_OUT', 'NF_BR_POST_ROUTING', 'NF_IP_PRI_RAW', 'NF_IP_PRI_MANGLE',
  'NF_IP_PRI_NAT_DST', 'NF_IP_PRI_FILTER', 'NF_IP_PRI_SECURITY', 'NF_IP_PRI_NAT_SRC',
  'NF_BR_PRI_NAT_DST_BRIDGED', 'NF_BR_PRI_FILTER_BRIDGED', 'NF_BR_PRI_NAT_SRC', 'NF_DROP',
  'NF_ACCEPT', 'NFT_CONTINUE', 'NFT_BREAK', 'NFT_JUMP', 'NFT_GOTO', 'NFT_RETURN',
  'NFT_REG_VERDICT', 'NFT_REG_1', 'NFT_REG_4', 'NFT_REG32_00', 'NFT_REG32_15', 'NFT_REG_SIZE',
  'NFT_REG32_SIZE', 'NFT_PAYLOAD_LL_HEADER', 'NFT_PAYLOAD_NETWORK_HEADER',
  'NFT_PAYLOAD_TRANSPORT_HEADER', 'NFT_CMP_EQ', 'NFT_CMP_NEQ', 'NFT_CMP_LT', 'NFT_CMP_LTE',
  'NFT_CMP_GT', 'NFT_CMP_GTE', 'NFT_RANGE_EQ', 'NFT_RANGE_NEQ', 'NFT_BITWISE_BOOL',
  'NFT_META_MARK', 'NFT_META_IIF', 'NFT_META_OIF', 'NFT_META_IIFNAME', 'NFT_META_OIFNAME',
  'NFT_META_NFPROTO', 'NFT_META_L4PROTO', 'NFT_CT_STATE', 'NFT_CT_MARK', 'NFT_CT_STATUS',
  'NFTA_FIB_F_SADDR', 'NFTA_FIB_F_DADDR', 'NFTA_FIB_F_MARK', 'NFTA_FIB_F_IIF', 'NFTA_FIB_F_OIF',
  'NFTA_FIB_F_PRESENT', 'NFT_FIB_RESULT_OIF', 'NFT_FIB_RESULT_OIFNAME', 'NFT_FIB_RESULT_ADDRTYPE',
  'NFT_LOOKUP_F_INV', 'NFT_NAT_SNAT', 'NFT_NAT_DNAT', 'NF_NAT_RANGE_MAP_IPS',
  'NF_NAT_RANGE_PROTO_SPECIFIED', 'NF_NAT_RANGE_PROTO_RANDOM', 'NF_NAT_RANGE_PERSISTENT',
  'NF_NAT_RANGE_PROTO_RANDOM_FULLY', 'NFT_REJECT_ICMP_UNREACH', 'NFT_REJECT_TCP_RST',
  'NFT_REJECT_ICMPX_UNREACH', 'NFT_REJECT_ICMPX_NO_ROUTE', 'NFT_REJECT_ICMPX_PORT_UNREACH',
  'NFT_REJECT_ICMPX_HOST_UNREACH', 'NFT_REJECT_ICMPX_ADMIN_PROHIBITED', 'ICMP_PORT_UNREACH',
  'ICMPV6_PORT_UNREACH', 'NFT_SET_ANONYMOUS', 'NFT_SET_CONSTANT', 'NFT_SET_INTERVAL',
  'NFT_SET_MAP', 'NFT_SET_TIMEOUT', 'NFT_SET_EVAL', 'NFT_SET_OBJECT', 'NFT_SET_CONCAT',
  'NFT_SET_ELEM_INTERVAL_END', 'NFT_SET_ELEM_CATCHALL', 'NFT_DATA_VALUE', 'NFT_DATA_VERDICT', 'NFT_DATA_VALUE_MAXLEN',
  'NFT_TABLE_F_DORMANT', 'NFT_TABLE_F_OWNER', 'NFT_TABLE_F_MASK', 'NFT_NAME_MAXLEN',
  'NFT_TABLE_MAXNAMELEN', 'NFT_CHAIN_MAXNAMELEN', 'NFT_SET_MAXNAMELEN', 'NFT_USERDATA_MAXLEN',
  'IP_CT_ESTABLISHED', 'IP_CT_RELATED', 'IP_CT_NEW', 'NF_CT_STATE_INVALID_BIT',
  'NF_CT_STATE_UNTRACKED_BIT', 'IPS_EXPECTED', 'IPS_SEEN_REPLY', 'IPS_ASSURED', 'IPS_CONFIRMED',
  'IPS_SRC_NAT', 'IPS_DST_NAT', 'IPS_DYING', 'IPPROTO_ICMP', 'IPPROTO_IGMP', 'IPPROTO_TCP',
  'IPPROTO_UDP', 'IPPROTO_GRE', 'IPPROTO_ESP', 'IPPROTO_AH', 'IPPROTO_ICMPV6', 'IPPROTO_SCTP',
  'IPPROTO_UDPLITE', 'NFNLGRP_NFTABLES', 'NLA_F_NESTED',
] as const; // prettier-ignore

export type ConstantName = (typeof CONSTANT_NAMES)[number];

/** Request encoders of the addon. */
export type RtnlOp =
  | 'newlink' | 'dellink' | 'getlink'
  | 'newaddr' | 'deladdr' | 'getaddr'
  | 'newroute' | 'delroute' | 'getroute'
  | 'newneigh' | 'delneigh' | 'getneigh'; // prettier-ignore

/** ifinfomsg + IFLA_* as the link encoder reads them. */
export interface LinkWire {
  flags: number;
  family?: number;
  index?: number;
  ifiFlags?: number;
  ifiChange?: number;
  link?: number;
  mtu?: number;
  address?: Buffer;
  broadcast?: Buffer;
  master?: number;
  txqlen?: number;
  group?: number;
  /** IFLA_NUM_TX_QUEUES / IFLA_NUM_RX_QUEUES: queues allocated at creation */
  numTxQueues?: number;
  numRxQueues?: number;
  netnsFd?: number;
  netnsPid?: number;
  newIndex?: number;
  alias?: string;
  name?: string;
  /** IN6_ADDR_GEN_MODE_*, sent as IFLA_AF_SPEC / AF_INET6 / IFLA_INET6_ADDR_GEN_MODE */
  addrGenMode?: number;
  /** 0 or 1, sent as IFLA_AF_SPEC / AF_INET / IFLA_INET_CONF / IPV4_DEVCONF_ARP_NOTIFY */
  arpNotify?: number;
  extMask?: number;
  kind?: string;
  data?: Record<string, number | boolean | Buffer | undefined>;
  peer?: Omit<LinkWire, 'flags' | 'kind' | 'data' | 'peer' | 'slaveKind' | 'slaveData' | 'extMask'>;
  slaveKind?: string;
  slaveData?: Record<string, number | boolean | undefined>;
}

export interface AddrWire {
  flags: number;
  family: number;
  prefixlen?: number;
  ifaFlags?: number;
  scope?: number;
  index?: number;
  local?: Buffer;
  address?: Buffer;
  broadcast?: Buffer;
  label?: string;
  validLft?: number;
  preferredLft?: number;
}

export interface RouteWire {
  flags: number;
  family: number;
  dstLen?: number;
  srcLen?: number;
  tos?: number;
  table?: number;
  protocol?: number;
  scope?: number;
  type?: number;
  rtmFlags?: number;
  dst?: Buffer;
  src?: Buffer;
  gateway?: Buffer;
  priority?: number;
  prefsrc?: Buffer;
  metrics?: RouteMetricsWire;
  pref?: number;
  oif?: number;
  nexthops?: { gateway?: Buffer; oif?: number; hops: number; flags: number }[];
  unknown?: { type: number; data: Buffer }[];
}

/** RTAX_* metrics: the public RouteMetrics, whose names the addon checks at load (routeMetrics). */
export type RouteMetricsWire = RouteMetrics;

export interface NeighWire {
  flags: number;
  family: number;
  index?: number;
  state?: number;
  ntfFlags?: number;
  type?: number;
  dst?: Buffer;
  lladdr?: Buffer;
  vni?: number;
  port?: number;
  ifindex?: number;
  master?: number;
}

/** An flock(2) held on a file; the kernel drops it if the process dies. */
export interface FileLockNative {
  release(): void;
}

/**
 * An open lock file whose locks are tried on the calling thread and never
 * wait (LOCK_NB, F_OFD_SETLK): false when another open file of it holds a
 * conflicting lock, in this process or another. Closing it (or the death of
 * the process) drops every lock it holds.
 */
export interface LockFileNative {
  /** flock(2) LOCK_SH, or LOCK_EX when `exclusive` (converting one already held) */
  tryLock(exclusive: boolean): boolean;
  /** flock(2) LOCK_UN */
  unlock(): void;
  /** an OFD lock (F_OFD_SETLK) on the byte at `offset` (an integer below 2^53) */
  tryLockRange(offset: number, exclusive: boolean): boolean;
  unlockRange(offset: number): void;
  /** closes the file; idempotent */
  close(): void;
}

/** One file operation of a batch (see native/fsops.cc). */
export type FsOp =
  | { op: 'create' | 'replace'; path: string; data: string; mode?: number }
  | { op: 'mkdir'; path: string; mode?: number }
  | { op: 'read' | 'unlink' | 'rmdir' | 'readdir'; path: string }
  | { op: 'reserveFirst'; path: string; names: string[]; data: string }
  /** holds (and, in a step, passes) when `path` does not exist */
  | { op: 'absent'; path: string }
  /** holds when directory `path` has no entry but those named in `data` ('/'-separated; dot files aside; a missing one is empty) */
  | { op: 'onlyEntry'; path: string; data: string };

export interface FsResult {
  /** false for ops after an unexpected failure (not run) */
  ran: boolean;
  /** create: made; read/readdir: found; unlink/mkdir/rmdir: changed something */
  ok: boolean;
  error?: Error;
  text?: string;
  index?: number;
  entries?: string[];
}

/** nf_tables request encoders (NFT_MSG_* by name; batchbegin/end delimit a batch). */
export type NftOp =
  | 'batchbegin' | 'batchend' | 'getgen'
  | 'newtable' | 'deltable' | 'gettable'
  | 'newchain' | 'delchain' | 'getchain'
  | 'newrule' | 'delrule' | 'getrule'
  | 'newset' | 'delset' | 'getset'
  | 'newsetelem' | 'delsetelem' | 'getsetelem'; // prettier-ignore

/** nlmsghdr flags and nfgenmsg family (NFPROTO_*) of an nf_tables request. */
export interface NftMsgWire {
  flags: number;
  family: number;
}

export interface BatchWire {
  /** NFNL_BATCH_GENID: refuse the batch if the ruleset generation moved on */
  genId?: number;
}

export interface TableWire extends NftMsgWire {
  name?: string;
  /** NFT_TABLE_F_* */
  tableFlags?: number;
  userdata?: Buffer;
  handle?: number;
}

export interface ChainWire extends NftMsgWire {
  table?: string;
  name?: string;
  handle?: number;
  type?: string;
  /** NF_ACCEPT / NF_DROP */
  policy?: number;
  hook?: { num: number; priority: number; dev?: string };
  userdata?: Buffer;
}

/** An nft_data verdict: NF_ACCEPT, NF_DROP, NFT_JUMP (+ chain), ... */
export interface VerdictWire {
  code: number;
  chain?: string;
}

/**
 * nf_tables expressions as the kernel sees them. Registers use the kernel's
 * numbering (NFT_REG_VERDICT, NFT_REG_1..4, NFT_REG32_00..15).
 */
export type ExprWire =
  | { name: 'payload'; dreg?: number; base: number; offset: number; len: number; sreg?: number;
      csumType?: number; csumOffset?: number; csumFlags?: number }
  | { name: 'cmp'; sreg: number; op: number; data: Buffer }
  | { name: 'meta'; key: number; dreg?: number; sreg?: number }
  | { name: 'ct'; key: number; dreg?: number; sreg?: number; dir?: number }
  | { name: 'fib'; flags: number; result: number; dreg: number }
  | { name: 'lookup'; sreg: number; dreg?: number; set: string; setId?: number; flags?: number }
  | { name: 'immediate'; dreg: number; data?: Buffer; verdict?: VerdictWire }
  | { name: 'counter'; bytes?: number; packets?: number }
  | { name: 'nat'; type: number; family: number; regAddrMin?: number; regAddrMax?: number;
      regProtoMin?: number; regProtoMax?: number; flags?: number }
  | { name: 'masq'; flags?: number; regProtoMin?: number; regProtoMax?: number }
  | { name: 'redir'; regProtoMin?: number; regProtoMax?: number; flags?: number }
  | { name: 'reject'; type: number; code: number }
  | { name: 'bitwise'; sreg: number; dreg: number; len: number; mask?: Buffer; xor?: Buffer;
      op?: number; data?: Buffer }
  | { name: 'range'; sreg: number; op: number; from: Buffer; to: Buffer }
  /** any expression, attributes as given (numbers go out as 32-bit network order) */
  | { name: string; attrs: Record<number, number | string | Buffer> }; // prettier-ignore

export interface RuleWire extends NftMsgWire {
  table?: string;
  chain?: string;
  handle?: number;
  exprs?: ExprWire[];
  /** NFTA_RULE_POSITION: the rule to add after (append) or insert before */
  position?: number;
  userdata?: Buffer;
  id?: number;
}

export interface SetWire extends NftMsgWire {
  table?: string;
  name?: string;
  handle?: number;
  /** NFT_SET_* */
  setFlags?: number;
  keyType?: number;
  keyLen?: number;
  dataType?: number;
  dataLen?: number;
  /** NFTA_SET_ID: names the set to later messages of the same batch */
  id?: number;
  /** NFTA_SET_DESC_SIZE */
  size?: number;
  /** NFTA_SET_DESC_CONCAT field lengths */
  concat?: number[];
  /** ms */
  timeout?: number;
  userdata?: Buffer;
}

export interface ElemWire {
  key?: Buffer;
  keyEnd?: Buffer;
  data?: Buffer;
  verdict?: VerdictWire;
  /** NFT_SET_ELEM_* */
  flags?: number;
  /** ms */
  timeout?: number;
  userdata?: Buffer;
}

export interface SetElemsWire extends NftMsgWire {
  table: string;
  set: string;
  setId?: number;
  /** absent: flush the set */
  elements?: ElemWire[];
}

/** One direction of a conntrack entry, as ctnetlink carries it. */
export interface CtTupleWire {
  src?: Buffer;
  dst?: Buffer;
  protocol: number;
  sport?: number;
  dport?: number;
  icmpId?: number;
  icmpType?: number;
  icmpCode?: number;
}

export interface CtDeleteWire {
  flags: number;
  family: number;
  orig?: CtTupleWire;
  reply?: CtTupleWire;
  zone?: number;
}

export interface NativeBinding {
  Handle: new () => HandleNative;
  NsFd: abstract new () => NsFdNative;
  encode(op: 'newlink' | 'dellink' | 'getlink', spec: LinkWire): Buffer;
  encode(op: 'newaddr' | 'deladdr' | 'getaddr', spec: AddrWire): Buffer;
  encode(op: 'newroute' | 'delroute' | 'getroute', spec: RouteWire): Buffer;
  encode(op: 'newneigh' | 'delneigh' | 'getneigh', spec: NeighWire): Buffer;
  encode(op: 'batchbegin' | 'batchend', spec: BatchWire): Buffer;
  encode(op: 'getgen', spec: NftMsgWire): Buffer;
  encode(op: 'newtable' | 'deltable' | 'gettable', spec: TableWire): Buffer;
  encode(op: 'newchain' | 'delchain' | 'getchain', spec: ChainWire): Buffer;
  encode(op: 'newrule' | 'delrule' | 'getrule', spec: RuleWire): Buffer;
  encode(op: 'newset' | 'delset' | 'getset', spec: SetWire): Buffer;
  /** may return several messages (long element lists are split) */
  encode(op: 'newsetelem' | 'delsetelem' | 'getsetelem', spec: SetElemsWire): Buffer;
  encode(op: 'ctget', spec: { flags: number; family: number }): Buffer;
  encode(op: 'ctdelete', spec: CtDeleteWire): Buffer;
  decode(protocol: number, data: Buffer): { type: number; flags: number; object: unknown }[];
  /** the order of a decoded route's fields: routes decode as rows (see lib/rtnl/routes.ts) */
  routeFields: string[];
  /** the u32 route metrics (RTAX_*) the codec knows by name, in RTAX order */
  routeMetrics: string[];
  constants: Readonly<Record<ConstantName, number>>;
  netnsCreate(path: string): Promise<NsFdNative>;
  netnsOpen(path: string): Promise<NsFdNative>;
  netnsDelete(path: string): Promise<void>;
  /** bind-mounts the namespace file `target` at `path` (ip netns attach) */
  netnsAttach(target: string, path: string): Promise<NsFdNative>;
  /** runs the ops in order on the libuv pool, stopping at an unexpected failure */
  fsOps(ops: FsOp[]): Promise<FsResult[]>;
  /** LOCK_NB: resolves null when another holder has it */
  tryLock(path: string, exclusive: boolean): Promise<FileLockNative | null>;
  /** opens (creating, following no symlink) a lock file on the libuv pool */
  openLockFile(path: string): Promise<LockFileNative>;
}

type Loader = (dir: string) => unknown;

// dist/lib/binding.js -> the package root holds build/ and prebuilds/.
const root = path.resolve(__dirname, '..', '..');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const load = require('node-gyp-build') as Loader;

export const native = load(root) as NativeBinding;
/**
 * Kernel constants by their uapi names (`IFLA_MASTER`, `NFT_MSG_NEWRULE`,
 * `RTM_NEWLINK`, ...), as the addon was compiled against the kernel's own
 * headers. Exported as `constants`.
 */
export const K = native.constants;
