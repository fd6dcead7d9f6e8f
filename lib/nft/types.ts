/**
 * The typed nftables model: tables, chains, sets/maps, rules and the
 * statements a rule is made of. What is written and what `list` reads back
 * have the same shape, so a rule read back compares equal (deepStrictEqual)
 * to the spec that created it, once `handle` (and counter values) are set
 * aside.
 *
 * Statements are spelled after nft(8) syntax so a reader can map them:
 * ```
 *   { match: 'ip saddr', value: '10.0.0.0/24' }         ip saddr 10.0.0.0/24
 *   { match: 'tcp dport', op: '!=', value: 22 }         tcp dport != 22
 *   { match: ['ip daddr', 'tcp dport'], set: 'ports' }  ip daddr . tcp dport @ports
 *   { nat: 'dnat', family: 'ip', map: { key: ['ip daddr', 'tcp dport'], set: 'ports' } }
 *                                                        dnat ip to ip daddr . tcp dport map @ports
 * ```
 */

/** Address families of tables, as nft names them (`nft add table inet NAME`). */
export type NftFamily = 'ip' | 'ip6' | 'inet' | 'bridge' | 'arp' | 'netdev';
/** Base chain types (`type filter|nat|route hook ...`). */
export type ChainType = 'filter' | 'nat' | 'route';
/** Netfilter hooks a base chain attaches to (`hook prerouting`, ...). */
export type Hook = 'prerouting' | 'input' | 'forward' | 'output' | 'postrouting' | 'ingress';
/** nft's named priorities ('dstnat' = -100, 'srcnat' = 100, 'filter' = 0, ...) or a number. */
export type Priority = number | 'raw' | 'mangle' | 'dstnat' | 'filter' | 'security' | 'srcnat';
/** Terminal (and `continue`/`return`) verdicts, as nft spells them. */
export type Verdict = 'accept' | 'drop' | 'continue' | 'return';

/** Names a table: `FAMILY NAME`, as in `nft list table inet netplumb`. */
export interface TableRef {
  /** the table's family */
  family: NftFamily;
  /** the table's name */
  name: string;
}

/** A table to create (`nft add table FAMILY NAME { flags ...; comment "..." }`). */
export interface TableSpec extends TableRef {
  /** NFT_TABLE_F_DORMANT etc. by name */
  flags?: ('dormant' | 'owner' | 'persist')[];
  /** stored in NFTA_TABLE_USERDATA as nft does */
  comment?: string;
}

/** A table as listed (`nft -a list tables`). */
export interface Table extends TableSpec {
  /** the kernel's handle for it (`# handle N`) */
  handle: number;
  /** number of chains, as the kernel reports it */
  use?: number;
}

/** Names a chain: `FAMILY TABLE NAME`. */
export interface ChainRef {
  /** the table's family */
  family: NftFamily;
  /** the table's name */
  table: string;
  /** the chain's name */
  name: string;
}

/** A chain to create (`nft add chain FAMILY TABLE NAME { type T hook H priority P; policy X; }`). */
export interface ChainSpec extends ChainRef {
  /** base chains have type + hook + priority; regular chains have none */
  type?: ChainType;
  /** the hook of a base chain */
  hook?: Hook;
  /** the priority of a base chain */
  priority?: Priority;
  /** what happens to packets no rule decided on (base chains); accept when omitted */
  policy?: 'accept' | 'drop';
  /** for netdev ingress chains */
  device?: string;
  /** stored in NFTA_CHAIN_USERDATA as nft does (`comment "..."`) */
  comment?: string;
}

/** A chain as listed (`nft -a list chains`). */
export interface Chain extends ChainSpec {
  /** the kernel's handle for it */
  handle: number;
}

/** Data types of set keys and map values, as nft names them. */
export type NftType =
  'ipv4_addr' | 'ipv6_addr' | 'inet_service' | 'inet_proto' | 'ifname' | 'mark' | 'ether_addr';

/** Names a set or map: `FAMILY TABLE NAME`. */
export interface SetRef {
  /** the table's family */
  family: NftFamily;
  /** the table's name */
  table: string;
  /** the set's name */
  name: string;
}

/** A set or map to create (`nft add set|map FAMILY TABLE NAME { type K [: V]; flags ...; }`). */
export interface SetSpec extends SetRef {
  /** one type, or several for a concatenation (`ipv4_addr . inet_service`) */
  key: NftType | NftType[];
  /** present for maps: the value type(s), or 'verdict' for verdict maps */
  map?: NftType | NftType[] | 'verdict';
  /** `flags constant, interval, timeout` */
  flags?: ('constant' | 'interval' | 'timeout')[];
  /** default element timeout, ms */
  timeout?: number;
  /** stored in NFTA_SET_USERDATA as nft does (`comment "..."`) */
  comment?: string;
  /** elements created together with the set */
  elements?: SetElement[];
}

/** A set or map as listed (`nft -a list sets`). */
export interface NftSet extends SetSpec {
  /** the kernel's handle for it */
  handle: number;
}

/**
 * A key or value part: an address ('10.0.0.1'; with the interval flag also
 * '10.0.0.0/24'), a port or protocol or mark (number), an interface name, a
 * MAC address. Ranges in interval sets: [from, to].
 */
export type ElemPart = string | number;

/** The value of a verdict-map element (`: accept`, `: jump CHAIN`, `: goto CHAIN`). */
export type VerdictValue =
  | {
      /** `accept`, `drop`, ... */
      verdict: Verdict;
    }
  | {
      /** `jump CHAIN` */
      jump: string;
    }
  | {
      /** `goto CHAIN` */
      goto: string;
    };

/** An element of a set or map (`nft add element ... { KEY [: VALUE] [timeout T] [comment C] }`). */
export interface SetElement {
  /**
   * one part, or one per concatenated type; in interval sets a part may be
   * a range: a prefix (`'10.0.0.0/24'`), `[from, to]` or `'from-to'` text.
   * `'*'` is the catch-all element (nft's `*`, NFT_SET_ELEM_CATCHALL): it
   * matches what no other element does, and reads back last. A bare `'*'`
   * means it in every set, ifname sets included, as in nft.
   */
  key: ElemPart | ElemPart[] | [ElemPart, ElemPart];
  /** maps only */
  value?: ElemPart | ElemPart[] | VerdictValue;
  /** ms, for sets with the timeout flag */
  timeout?: number;
  /** the element's comment (`comment "..."`) */
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

/** Comparison operators of a match (`tcp dport != 22`, `meta mark > 3`). */
export type CmpOp = '==' | '!=' | '<' | '<=' | '>' | '>=';
/** Connection states (`ct state established,related`). */
export type CtState = 'new' | 'established' | 'related' | 'invalid' | 'untracked';
/** Connection status bits (`ct status dnat`). */
export type CtStatus =
  'expected' | 'seen-reply' | 'assured' | 'confirmed' | 'snat' | 'dnat' | 'dying';
/** Address types a fib lookup yields (`fib daddr type local`). */
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

/**
 * One statement of a rule, spelled after nft(8): a match, a set lookup, a
 * counter, a verdict, NAT, ... Each member's first property says which.
 */
export type Stmt =
  /** `iifname "np0"`, `ip saddr 10.0.0.0/8`, `tcp dport 80`, `tcp dport 8000-8010`, `meta mark 0x1` */
  | {
      /** the packet field */
      match: Selector;
      /** how to compare; == when omitted */
      op?: CmpOp;
      /** a value, a prefix ('10.0.0.0/8') or a range ([8000, 8010]) */
      value: ElemPart | [number, number];
    }
  /** `ip daddr @allowed`, `ip daddr . tcp dport @published`, `ip saddr != @x` */
  | {
      /** the field, or fields concatenated, to look up */
      match: Selector | Selector[];
      /** found (==, the default) or not found (!=) */
      op?: '==' | '!=';
      /** the set's name */
      set: string;
    }
  /** `ct state established,related` */
  | {
      /** connection state */
      match: 'ct state';
      /**
       * omitted: the state is any of `value` (nft's `ct state
       * established,related`, a bit test); '==' / '!=': the state register
       * equals / differs from the bits of `value` OR-ed together, a plain
       * compare as nft's `ct state == established|related` makes. A
       * connection has one state, so with several states '==' never
       * matches and '!=' always does: use no operator for "any of these".
       */
      op?: '==' | '!=';
      /** the states */
      value: CtState[];
    }
  /** `ct status dnat` */
  | {
      /** connection status */
      match: 'ct status';
      /**
       * omitted: any of the bits is set (nft's `ct status dnat,snat`);
       * '==' / '!=': the status equals / differs from exactly these bits
       * OR-ed together (a plain compare, as nft's `ct status == dnat|snat`)
       */
      op?: '==' | '!=';
      /** the status bits */
      value: CtStatus[];
    }
  /** `fib daddr type local` */
  | {
      /** the destination address's type, by routing lookup */
      match: 'fib daddr type';
      /** is (==, the default) or is not (!=) */
      op?: '==' | '!=';
      /** the address type */
      value: FibAddrType;
    }
  /** `counter` (read back as { counter: { packets, bytes } }) */
  | {
      /** true to add one; listings give its values */
      counter:
        | true
        | {
            /** packets counted */
            packets: number;
            /** bytes counted */
            bytes: number;
          };
    }
  /** `meta mark set 0x1`, `ct mark set 0x1` */
  | {
      /** the mark to set */
      set: 'meta mark' | 'ct mark';
      /** its new value */
      value: number;
    }
  /** `accept`, `drop`, `continue`, `return`, `jump CHAIN`, `goto CHAIN` */
  | VerdictValue
  /** `reject`, `reject with tcp reset`, `reject with icmpx admin-prohibited` */
  | {
      /** true for the default (ICMP port unreachable), or how to reject */
      reject: true | 'tcp reset' | 'icmpx port-unreachable' | 'icmpx admin-prohibited';
    }
  /**
   * `dnat ip to 10.0.0.2:80`, `snat ip to 192.0.2.1`,
   * `dnat ip to ip daddr . tcp dport map @ports` (map gives address and port)
   */
  | {
      /** destination or source NAT */
      nat: 'dnat' | 'snat';
      /** the address family translated to */
      family: 'ip' | 'ip6';
      /** the new address */
      addr?: string;
      /** the new port */
      port?: number;
      /** address (and port) looked up in a map instead */
      map?: {
        /** the field, or fields concatenated, to look up */
        key: Selector | Selector[];
        /** the map's name */
        set: string;
      };
    }
  /** `masquerade`, `masquerade fully-random` */
  | {
      /** true, or with port-allocation flags */
      masquerade:
        | true
        | {
            /** `fully-random` */
            fullyRandom?: boolean;
            /** `random` */
            random?: boolean;
            /** `persistent` */
            persistent?: boolean;
          };
    }
  /** `redirect to :8080` */
  | {
      /** true (same port), or the local port to redirect to */
      redirect:
        | true
        | {
            /** the local port */
            port: number;
          };
    }
  /** `ip daddr vmap @dispatch`, `iifname . oifname vmap @pairs` */
  | {
      /** the verdict map lookup */
      vmap: {
        /** the field, or fields concatenated, to look up */
        key: Selector | Selector[];
        /** the verdict map's name */
        set: string;
      };
    }
  /** escape hatch: expressions as the kernel sees them */
  | {
      /** the expressions, in order */
      raw: RawExpr[];
    };

/** Names a chain to put rules in: `FAMILY TABLE CHAIN`. */
export interface RuleRef {
  /** the table's family */
  family: NftFamily;
  /** the table's name */
  table: string;
  /** the chain's name */
  chain: string;
}

/** A rule to add (`nft add rule FAMILY TABLE CHAIN STATEMENTS... [comment "..."]`). */
export interface RuleSpec extends RuleRef {
  /** its statements, in order */
  expr: Stmt[];
  /** stored in NFTA_RULE_USERDATA as nft does (`comment "..."`) */
  comment?: string;
}

/** A rule as listed (`nft -a list chain ...`). */
export interface Rule extends RuleSpec {
  /** the kernel's handle for it (`# handle N`), for deleting or positioning */
  handle: number;
}

/** Everything in a namespace's nf_tables, as `nft list ruleset` shows it. */
export interface Ruleset {
  /** every table */
  tables: Table[];
  /** every chain */
  chains: Chain[];
  /** every set and map, with its elements */
  sets: NftSet[];
  /** every rule */
  rules: Rule[];
}
