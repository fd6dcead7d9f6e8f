/**
 * Every rule shape the builder supports, each with the nft command that
 * wrote the same rule when the fixtures were captured (test/fixtures/nft/
 * rule-NAME.json) and the line `nft list ruleset` prints for it. Shared by
 * the golden-bytes unit tests and the integration tests.
 */
import type { NftFamily, SetSpec, Stmt } from '../../lib/nft/types';

export interface Shape {
  /** fixture test/fixtures/nft/rule-NAME.json */
  name: string;
  family: NftFamily;
  table: string;
  chain: string;
  expr: Stmt[];
  comment?: string;
  /** the rule as `nft list ruleset` prints it */
  text: string;
}

const inet = (
  name: string,
  chain: string,
  expr: Stmt[],
  text: string,
  comment?: string,
): Shape => ({
  name,
  family: 'inet',
  table: 't',
  chain,
  expr,
  text,
  ...(comment !== undefined ? { comment } : {}),
});

export const SHAPES: Shape[] = [
  inet(
    'match-ip-saddr',
    'c',
    [{ match: 'ip saddr', value: '10.0.0.1' }, { verdict: 'accept' }],
    'ip saddr 10.0.0.1 accept',
  ),
  inet(
    'match-prefix-byte',
    'post',
    [
      { match: 'ip saddr', value: '10.0.0.0/24' },
      { match: 'ip daddr', op: '!=', value: '10.0.0.0/24' },
      { masquerade: true },
    ],
    'ip saddr 10.0.0.0/24 ip daddr != 10.0.0.0/24 masquerade',
  ),
  inet(
    'match-prefix-bits',
    'c',
    [{ match: 'ip saddr', value: '10.0.0.0/22' }, { verdict: 'drop' }],
    'ip saddr 10.0.0.0/22 drop',
  ),
  inet(
    'match-tcp-dport',
    'c',
    [{ match: 'tcp dport', value: 80 }, { counter: true }, { verdict: 'accept' }],
    'tcp dport 80 counter packets 0 bytes 0 accept',
  ),
  inet(
    'match-udp-sport',
    'c',
    [{ match: 'udp sport', value: 53 }, { verdict: 'accept' }],
    'udp sport 53 accept',
  ),
  inet(
    'match-th-dport',
    'c',
    [{ match: 'th dport', value: 80 }, { verdict: 'drop' }],
    'th dport 80 drop',
  ),
  inet(
    'match-range',
    'c',
    [{ match: 'tcp dport', value: [8000, 8010] }, { verdict: 'accept' }],
    'tcp dport 8000-8010 accept',
  ),
  inet(
    'match-range-neq',
    'c',
    [{ match: 'tcp dport', op: '!=', value: [8000, 8010] }, { verdict: 'accept' }],
    'tcp dport != 8000-8010 accept',
  ),
  inet(
    'match-lt',
    'c',
    [{ match: 'tcp dport', op: '<', value: 1024 }, { verdict: 'accept' }],
    'tcp dport < 1024 accept',
  ),
  inet(
    'match-ge',
    'c',
    [{ match: 'tcp dport', op: '>=', value: 1024 }, { verdict: 'accept' }],
    'tcp dport >= 1024 accept',
  ),
  inet(
    'match-l4proto',
    'c',
    [{ match: 'meta l4proto', value: 'udp' }, { verdict: 'accept' }],
    'meta l4proto udp accept',
  ),
  inet(
    'match-ip-protocol',
    'c',
    [{ match: 'ip protocol', value: 'tcp' }, { verdict: 'accept' }],
    'ip protocol tcp accept',
  ),
  inet(
    'match-nfproto',
    'c',
    [{ match: 'meta nfproto', value: 'ipv6' }, { verdict: 'accept' }],
    'meta nfproto ipv6 accept',
  ),
  inet(
    'match-ip6',
    'c',
    [
      { match: 'ip6 saddr', value: 'fd00::/64' },
      { match: 'ip6 daddr', value: 'fd00::1' },
      { verdict: 'accept' },
    ],
    'ip6 saddr fd00::/64 ip6 daddr fd00::1 accept',
  ),
  inet(
    'match-ip6-nexthdr',
    'c',
    [{ match: 'ip6 nexthdr', value: 'udp' }, { verdict: 'accept' }],
    'ip6 nexthdr udp accept',
  ),
  inet(
    'match-mark',
    'c',
    [{ match: 'meta mark', value: 5 }, { verdict: 'accept' }],
    'meta mark 0x00000005 accept',
  ),
  inet(
    'match-mark-neq',
    'c',
    [{ match: 'meta mark', op: '!=', value: 5 }, { verdict: 'accept' }],
    'meta mark != 0x00000005 accept',
  ),
  inet(
    'match-ct-mark',
    'c',
    [{ match: 'ct mark', value: 5 }, { verdict: 'accept' }],
    'ct mark 0x00000005 accept',
  ),
  inet('match-iif', 'c', [{ match: 'iif', value: 1 }, { verdict: 'accept' }], 'iif "lo" accept'),
  inet(
    'match-ifname',
    'c',
    [
      { match: 'iifname', value: 'np0' },
      { match: 'oifname', op: '!=', value: 'veth*' },
      { jump: 'reg' },
    ],
    'iifname "np0" oifname != "veth*" jump reg',
  ),
  inet(
    'match-ct-state',
    'c',
    [{ match: 'ct state', value: ['established', 'related'] }, { verdict: 'accept' }],
    'ct state established,related accept',
  ),
  inet(
    'match-ct-state-eq',
    'c',
    [{ match: 'ct state', op: '==', value: ['new'] }, { verdict: 'drop' }],
    'ct state == new drop',
  ),
  inet(
    'match-ct-state-neq',
    'c',
    [{ match: 'ct state', op: '!=', value: ['invalid'] }, { verdict: 'accept' }],
    'ct state != invalid accept',
  ),
  inet(
    'match-ct-status',
    'c',
    [{ match: 'ct status', value: ['dnat'] }, { verdict: 'accept' }],
    'ct status dnat accept',
  ),
  inet(
    'match-fib',
    'c',
    [{ match: 'fib daddr type', value: 'local' }, { verdict: 'accept' }],
    'fib daddr type local accept',
  ),
  inet(
    'lookup',
    'c',
    [{ match: 'ip daddr', set: 's4' }, { verdict: 'accept' }],
    'ip daddr @s4 accept',
  ),
  inet(
    'lookup-inv',
    'c',
    [{ match: 'ip saddr', op: '!=', set: 's4' }, { verdict: 'drop' }],
    'ip saddr != @s4 drop',
  ),
  inet(
    'lookup-concat',
    'c',
    [{ match: ['ip daddr', 'tcp dport'], set: 'ports' }, { verdict: 'accept' }],
    'ip daddr . tcp dport @ports accept',
  ),
  inet('vmap', 'c', [{ vmap: { key: 'ip daddr', set: 'vm' } }], 'ip daddr vmap @vm'),
  inet(
    'vmap-concat',
    'c',
    [{ vmap: { key: ['iifname', 'oifname'], set: 'pairs' } }],
    'iifname . oifname vmap @pairs',
  ),
  inet(
    'dnat-map',
    'pre',
    [{ nat: 'dnat', family: 'ip', map: { key: ['ip daddr', 'tcp dport'], set: 'ports' } }],
    'dnat ip to ip daddr . tcp dport map @ports',
  ),
  inet(
    'dnat',
    'pre',
    [
      { match: 'tcp dport', value: 80 },
      { nat: 'dnat', family: 'ip', addr: '10.0.0.2', port: 80 },
    ],
    'tcp dport 80 dnat ip to 10.0.0.2:80',
  ),
  inet(
    'dnat-addr',
    'pre',
    [{ nat: 'dnat', family: 'ip', addr: '10.0.0.2' }],
    'dnat ip to 10.0.0.2',
  ),
  inet('snat', 'post', [{ nat: 'snat', family: 'ip', addr: '192.0.2.1' }], 'snat ip to 192.0.2.1'),
  inet('masq', 'post', [{ masquerade: true }], 'masquerade'),
  inet(
    'masq-flags',
    'post',
    [{ masquerade: { fullyRandom: true, persistent: true } }],
    'masquerade fully-random,persistent',
  ),
  inet(
    'redirect',
    'pre',
    [{ match: 'tcp dport', value: 80 }, { redirect: { port: 8080 } }],
    'tcp dport 80 redirect to :8080',
  ),
  inet('redirect-plain', 'pre', [{ redirect: true }], 'redirect'),
  inet('mark-set', 'c', [{ set: 'meta mark', value: 1 }], 'meta mark set 0x00000001'),
  inet('ct-mark-set', 'c', [{ set: 'ct mark', value: 1 }], 'ct mark set 0x00000001'),
  inet('reject', 'c', [{ reject: true }], 'reject'),
  inet('reject-tcp', 'c', [{ reject: 'tcp reset' }], 'meta l4proto tcp reject with tcp reset'),
  inet(
    'reject-icmpx',
    'c',
    [{ reject: 'icmpx admin-prohibited' }],
    'reject with icmpx admin-prohibited',
  ),
  inet(
    'verdicts',
    'c',
    [{ counter: true }, { verdict: 'continue' }],
    'counter packets 0 bytes 0 continue',
  ),
  inet('return', 'reg', [{ verdict: 'return' }], 'return'),
  inet('goto', 'c', [{ goto: 'reg' }], 'goto reg'),
  inet('comment', 'c', [{ verdict: 'accept' }], 'accept comment "hi there"', 'hi there'),
  inet(
    'counter-values',
    'c',
    [{ counter: { packets: 5, bytes: 100 } }],
    'counter packets 5 bytes 100',
  ),
  {
    name: 'ip-match',
    family: 'ip',
    table: 'f4',
    chain: 'c',
    expr: [
      { match: 'ip saddr', value: '10.0.0.0/8' },
      { match: 'tcp dport', value: 22 },
      { verdict: 'accept' },
    ],
    text: 'ip saddr 10.0.0.0/8 tcp dport 22 accept',
  },
  {
    name: 'ip-reject',
    family: 'ip',
    table: 'f4',
    chain: 'c',
    expr: [{ reject: true }],
    text: 'reject',
  },
  {
    name: 'ip-dnat',
    family: 'ip',
    table: 'f4',
    chain: 'pre',
    expr: [
      { match: 'tcp dport', value: 80 },
      { nat: 'dnat', family: 'ip', addr: '10.0.0.2', port: 80 },
    ],
    text: 'tcp dport 80 dnat to 10.0.0.2:80',
  },
  {
    name: 'ip6-reject',
    family: 'ip6',
    table: 'f6',
    chain: 'c',
    expr: [{ reject: true }],
    text: 'reject',
  },
  {
    name: 'ip6-match',
    family: 'ip6',
    table: 'f6',
    chain: 'c',
    expr: [
      { match: 'ip6 saddr', value: 'fd00::1' },
      { match: 'tcp dport', value: 22 },
      { verdict: 'accept' },
    ],
    text: 'ip6 saddr fd00::1 tcp dport 22 accept',
  },
];

/** The sets of table `inet t` the rule shapes use (as in the capture namespace). */
export const SHAPE_SETS: SetSpec[] = [
  { family: 'inet', table: 't', name: 's4', key: 'ipv4_addr', comment: 'sc' },
  {
    family: 'inet',
    table: 't',
    name: 'ports',
    key: ['ipv4_addr', 'inet_service'],
    map: ['ipv4_addr', 'inet_service'],
  },
  { family: 'inet', table: 't', name: 'vm', key: 'ipv4_addr', map: 'verdict' },
  { family: 'inet', table: 't', name: 'pairs', key: ['ifname', 'ifname'], map: 'verdict' },
];

/** More shapes, checked against the kernel and nft only (no captured bytes). */
export const EXTRA_SHAPES: Shape[] = [
  inet(
    'proto-range',
    'c',
    [{ match: 'meta l4proto', value: [6, 17] }, { verdict: 'accept' }],
    'meta l4proto 6-17 accept',
  ),
  inet(
    'ct-status-two',
    'c',
    [{ match: 'ct status', value: ['snat', 'dnat'] }, { verdict: 'accept' }],
    'ct status snat,dnat accept',
  ),
  inet(
    'ct-state-neq-two',
    'c',
    [{ match: 'ct state', op: '!=', value: ['established', 'related'] }, { verdict: 'drop' }],
    'ct state != established | related drop',
  ),
  inet(
    'lookup-ip6-interval',
    'c',
    [{ match: 'ip6 daddr', set: 'iv6' }, { verdict: 'accept' }],
    'ip6 daddr @iv6 accept',
  ),
  inet(
    'prefix-zero',
    'c',
    [{ match: 'ip saddr', op: '!=', value: '0.0.0.0/0' }, { verdict: 'accept' }],
    'ip saddr != 0.0.0.0/0 accept',
  ),
  inet(
    'many-matches',
    'c',
    [
      { match: 'ip saddr', value: '10.1.2.3' },
      { match: 'ip daddr', value: '10.0.0.0/8' },
      { match: 'tcp sport', value: 1 },
      { match: 'tcp dport', op: '<=', value: 5 },
    ],
    'ip saddr 10.1.2.3 ip daddr 10.0.0.0/8 tcp sport 1 tcp dport <= 5',
  ),
  inet(
    'ct-mark-max',
    'c',
    [
      { match: 'oifname', op: '!=', value: 'np0' },
      { set: 'ct mark', value: 0xffffffff },
    ],
    'oifname != "np0" ct mark set 0xffffffff',
  ),
  inet(
    'mark-goto',
    'c',
    [{ match: 'meta mark', value: 0x80000000 }, { goto: 'reg' }],
    'meta mark 0x80000000 goto reg',
  ),
  inet(
    'redirect-udp',
    'pre',
    [{ match: 'udp dport', value: 53 }, { redirect: { port: 5353 } }],
    'udp dport 53 redirect to :5353',
  ),
  inet(
    'dnat-ip6',
    'pre',
    [
      { match: 'tcp dport', value: 80 },
      { nat: 'dnat', family: 'ip6', addr: 'fd00::2', port: 8080 },
    ],
    'tcp dport 80 dnat ip6 to [fd00::2]:8080',
  ),
  inet(
    'dnat-ip6-map',
    'pre',
    [{ nat: 'dnat', family: 'ip6', map: { key: ['ip6 daddr', 'tcp dport'], set: 'p6' } }],
    'dnat ip6 to ip6 daddr . tcp dport map @p6',
  ),
  inet(
    'snat-port',
    'post',
    [
      { match: 'udp sport', value: 53 },
      { nat: 'snat', family: 'ip', port: 1053 },
    ],
    'udp sport 53 snat ip to :1053',
  ),
  inet('masq-random', 'post', [{ masquerade: { random: true } }], 'masquerade random'),
];

export const EXTRA_SETS: SetSpec[] = [
  { family: 'inet', table: 't', name: 'iv6', key: 'ipv6_addr', flags: ['interval'] },
  {
    family: 'inet',
    table: 't',
    name: 'p6',
    key: ['ipv6_addr', 'inet_service'],
    map: ['ipv6_addr', 'inet_service'],
  },
];
