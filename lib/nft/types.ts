/**
 * The typed nftables model: tables, chains, sets/maps, rules and the
 * statements a rule is made of. What is written and what `list` reads back
 * have the same shape, so a rule read back compares equal (deepStrictEqual)
 * to the spec that created it, once `handle` (and counter values) are set
 * aside.
 *
 * Statements are spelled after nft(8) syntax so a reader can map them:
 *   { match: 'ip saddr', value: '10.0.0.0/24' }         ip saddr 10.0.0.0/24
 *   { match: 'tcp dport', op: '!=', value: 22 }         tcp dport != 22
 *   { match: ['ip daddr', 'tcp dport'], set: 'ports' }  ip daddr . tcp dport @ports
 *   { nat: 'dnat', family: 'ip', map: { key: ['ip daddr', 'tcp dport'], set: 'ports' } }
 *                                                        dnat ip to ip daddr . tcp dport map @ports
 */

export type NftFamily = 'ip' | 'ip6' | 'inet' | 'bridge' | 'arp' | 'netdev';
export type ChainType = 'filter' | 'nat' | 'route';
export type Hook = 'prerouting' | 'input' | 'forward' | 'output' | 'postrouting' | 'ingress';
/** nft's named priorities ('dstnat' = -100, 'srcnat' = 100, 'filter' = 0, ...) or a number. */
export type Priority = number | 'raw' | 'mangle' | 'dstnat' | 'filter' | 'security' | 'srcnat';
export type Verdict = 'accept' | 'drop' | 'continue' | 'return';

export interface TableRef {
  family: NftFamily;
  name: string;
}

export interface TableSpec extends TableRef {
  /** NFT_TABLE_F_DORMANT etc. by name */
  flags?: ('dormant' | 'owner' | 'persist')[];
  /** stored in NFTA_TABLE_USERDATA as nft does */
  comment?: string;
}

export interface Table extends TableSpec {
  handle: number;
  /** number of chains, as the kernel reports it */
  use?: number;
}

export interface ChainRef {
  family: NftFamily;
  table: string;
  name: string;
}

export interface ChainSpec extends ChainRef {
  /** base chains have type + hook + priority; regular chains have none */
  type?: ChainType;
  hook?: Hook;
  priority?: Priority;
  policy?: 'accept' | 'drop';
  /** for netdev ingress chains */
  device?: string;
  comment?: string;
}

export interface Chain extends ChainSpec {
  handle: number;
}

/** Data types of set keys and map values, as nft names them. */
export type NftType =
  'ipv4_addr' | 'ipv6_addr' | 'inet_service' | 'inet_proto' | 'ifname' | 'mark' | 'ether_addr';

export interface SetRef {
  family: NftFamily;
  table: string;
  name: string;
}

export interface SetSpec extends SetRef {
  /** one type, or several for a concatenation (`ipv4_addr . inet_service`) */
  key: NftType | NftType[];
  /** present for maps: the value type(s), or 'verdict' for verdict maps */
  map?: NftType | NftType[] | 'verdict';
  flags?: ('constant' | 'interval' | 'timeout')[];
  /** default element timeout, ms */
  timeout?: number;
  comment?: string;
  /** elements created together with the set */
  elements?: SetElement[];
}

export interface NftSet extends SetSpec {
  handle: number;
}

/**
 * A key or value part: an address ('10.0.0.1'; with the interval flag also
 * '10.0.0.0/24'), a port or protocol or mark (number), an interface name, a
 * MAC address. Ranges in interval sets: [from, to].
 */
export type ElemPart = string | number;

export type VerdictValue = { verdict: Verdict } | { jump: string } | { goto: string };

export interface SetElement {
  /** one part, or one per concatenated type */
  key: ElemPart | ElemPart[] | [ElemPart, ElemPart];
  /** maps only */
  value?: ElemPart | ElemPart[] | VerdictValue;
  /** ms, for sets with the timeout flag */
  timeout?: number;
  comment?: string;
}

/** Packet fields a match or a set lookup can read. */
export type Selector =
  | 'iifname'
  | 'oifname'
  | 'iif'
  | 'oif'
  | 'meta l4proto'
  | 'meta nfproto'
  | 'meta mark'
  | 'ip saddr'
  | 'ip daddr'
  | 'ip protocol'
  | 'ip6 saddr'
  | 'ip6 daddr'
  | 'ip6 nexthdr'
  | 'tcp sport'
  | 'tcp dport'
  | 'udp sport'
  | 'udp dport'
  | 'th sport'
  | 'th dport'
  | 'ct mark';

export type CmpOp = '==' | '!=' | '<' | '<=' | '>' | '>=';
export type CtState = 'new' | 'established' | 'related' | 'invalid' | 'untracked';
export type CtStatus =
  'expected' | 'seen-reply' | 'assured' | 'confirmed' | 'snat' | 'dnat' | 'dying';
export type FibAddrType =
  | 'unspec'
  | 'unicast'
  | 'local'
  | 'broadcast'
  | 'anycast'
  | 'multicast'
  | 'blackhole'
  | 'unreachable'
  | 'prohibit';

/** A raw nf_tables expression, for what the builder does not cover. */
export interface RawExpr {
  /** expression name: 'payload', 'cmp', 'meta', 'immediate', ... */
  name: string;
  /**
   * NFTA_<NAME>_* attributes by number; values are u32 numbers (host order), strings, or Buffers.
   * (netplumb: a number is the attribute's 32-bit value and goes out in network byte order, as
   * nf_tables expressions carry them; reading back, 4-byte attributes are numbers and all others
   * Buffers, so strings come back as NUL-terminated Buffers.)
   */
  attrs: Record<number, number | string | Buffer>;
}

export type Stmt =
  /** `iifname "np0"`, `ip saddr 10.0.0.0/8`, `tcp dport 80`, `tcp dport 8000-8010`, `meta mark 0x1` */
  | { match: Selector; op?: CmpOp; value: ElemPart | [number, number] }
  /** `ip daddr @allowed`, `ip daddr . tcp dport @published`, `ip saddr != @x` */
  | { match: Selector | Selector[]; op?: '==' | '!='; set: string }
  /** `ct state established,related` */
  | { match: 'ct state'; op?: '==' | '!='; value: CtState[] }
  /** `ct status dnat` */
  | { match: 'ct status'; op?: '==' | '!='; value: CtStatus[] }
  /** `fib daddr type local` */
  | { match: 'fib daddr type'; op?: '==' | '!='; value: FibAddrType }
  /** `counter` (read back as { counter: { packets, bytes } }) */
  | { counter: true | { packets: number; bytes: number } }
  /** `meta mark set 0x1`, `ct mark set 0x1` */
  | { set: 'meta mark' | 'ct mark'; value: number }
  | { verdict: Verdict }
  | { jump: string }
  | { goto: string }
  /** `reject`, `reject with tcp reset`, `reject with icmpx admin-prohibited` */
  | { reject: true | 'tcp reset' | 'icmpx port-unreachable' | 'icmpx admin-prohibited' }
  /**
   * `dnat ip to 10.0.0.2:80`, `snat ip to 192.0.2.1`,
   * `dnat ip to ip daddr . tcp dport map @ports` (map gives address and port)
   */
  | {
      nat: 'dnat' | 'snat';
      family: 'ip' | 'ip6';
      addr?: string;
      port?: number;
      map?: { key: Selector | Selector[]; set: string };
    }
  /** `masquerade`, `masquerade fully-random` */
  | { masquerade: true | { fullyRandom?: boolean; random?: boolean; persistent?: boolean } }
  /** `redirect to :8080` */
  | { redirect: true | { port: number } }
  /** `ip daddr vmap @dispatch`, `iifname . oifname vmap @pairs` */
  | { vmap: { key: Selector | Selector[]; set: string } }
  /** escape hatch: expressions as the kernel sees them */
  | { raw: RawExpr[] };

export interface RuleRef {
  family: NftFamily;
  table: string;
  chain: string;
}

export interface RuleSpec extends RuleRef {
  expr: Stmt[];
  /** stored in NFTA_RULE_USERDATA as nft does (`comment "..."`) */
  comment?: string;
}

export interface Rule extends RuleSpec {
  handle: number;
}

/** Everything in a namespace's nf_tables, as `nft list ruleset` shows it. */
export interface Ruleset {
  tables: Table[];
  chains: Chain[];
  sets: NftSet[];
  rules: Rule[];
}
