/**
 * The packet fields a rule can read (the model's Selectors): how each is
 * loaded into a register, what kind of value it holds, and which protocol it
 * depends on (nft adds `meta nfproto ipv4` before `ip saddr` in inet tables,
 * `meta l4proto tcp` before `tcp dport`). Also register numbering.
 */
import { K, type ExprWire } from '../binding';
import type { ValueKind } from './datatypes';
import type { NftType, Selector } from './types';

export type Load =
  | { name: 'payload'; base: number; offset: number; len: number }
  | { name: 'meta'; key: number; len: number }
  | { name: 'ct'; key: number; len: number };

export interface SelectorDef {
  load: Load;
  kind: ValueKind;
  /** the network protocol it reads (needs `meta nfproto` in inet tables) */
  l3?: 'ipv4' | 'ipv6';
  /** the transport protocol it reads (needs `meta l4proto P`) */
  l4?: number;
  /** a match on it with one value tells later statements the protocol */
  provides?: 'l3' | 'l4';
}

const NH = K.NFT_PAYLOAD_NETWORK_HEADER;
const TH = K.NFT_PAYLOAD_TRANSPORT_HEADER;
const payload = (base: number, offset: number, len: number): Load => ({
  name: 'payload',
  base,
  offset,
  len,
});
const meta = (key: number, len: number): Load => ({ name: 'meta', key, len });

export const SELECTORS: Readonly<Record<Selector, SelectorDef>> = {
  iifname: { load: meta(K.NFT_META_IIFNAME, K.IFNAMSIZ), kind: 'ifname' },
  oifname: { load: meta(K.NFT_META_OIFNAME, K.IFNAMSIZ), kind: 'ifname' },
  iif: { load: meta(K.NFT_META_IIF, 4), kind: 'ifindex' },
  oif: { load: meta(K.NFT_META_OIF, 4), kind: 'ifindex' },
  'meta l4proto': { load: meta(K.NFT_META_L4PROTO, 1), kind: 'inet_proto', provides: 'l4' },
  'meta nfproto': { load: meta(K.NFT_META_NFPROTO, 1), kind: 'nfproto', provides: 'l3' },
  'meta mark': { load: meta(K.NFT_META_MARK, 4), kind: 'mark' },
  'ip saddr': { load: payload(NH, 12, 4), kind: 'ipv4_addr', l3: 'ipv4' },
  'ip daddr': { load: payload(NH, 16, 4), kind: 'ipv4_addr', l3: 'ipv4' },
  'ip protocol': { load: payload(NH, 9, 1), kind: 'inet_proto', l3: 'ipv4', provides: 'l4' },
  'ip6 saddr': { load: payload(NH, 8, 16), kind: 'ipv6_addr', l3: 'ipv6' },
  'ip6 daddr': { load: payload(NH, 24, 16), kind: 'ipv6_addr', l3: 'ipv6' },
  'ip6 nexthdr': { load: payload(NH, 6, 1), kind: 'inet_proto', l3: 'ipv6', provides: 'l4' },
  'tcp sport': { load: payload(TH, 0, 2), kind: 'inet_service', l4: K.IPPROTO_TCP },
  'tcp dport': { load: payload(TH, 2, 2), kind: 'inet_service', l4: K.IPPROTO_TCP },
  'udp sport': { load: payload(TH, 0, 2), kind: 'inet_service', l4: K.IPPROTO_UDP },
  'udp dport': { load: payload(TH, 2, 2), kind: 'inet_service', l4: K.IPPROTO_UDP },
  'th sport': { load: payload(TH, 0, 2), kind: 'inet_service' },
  'th dport': { load: payload(TH, 2, 2), kind: 'inet_service' },
  'ct mark': { load: { name: 'ct', key: K.NFT_CT_MARK, len: 4 }, kind: 'mark' },
};

export function isSelector(s: unknown): s is Selector {
  return typeof s === 'string' && Object.hasOwn(SELECTORS, s);
}

/** The set type a selector's values have, for lookups; undefined when sets cannot hold it. */
export function setTypeOf(sel: Selector): NftType | undefined {
  const kind = SELECTORS[sel].kind;
  return kind === 'ifindex' || kind === 'nfproto' ? undefined : kind;
}

/**
 * Registers: the model counts 4-byte registers from 0 (NFT_REG32_00); the
 * wire uses NFT_REG_1..4 for 16-byte aligned ones, as nft does.
 */
export function regWire(r: number): number {
  return r % 4 === 0 ? K.NFT_REG_1 + r / 4 : K.NFT_REG32_00 + r;
}

/** The 4-byte register index of a wire register number; -1 for the verdict register. */
export function regIndex(wire: number): number {
  if (wire === K.NFT_REG_VERDICT) return -1;
  if (wire >= K.NFT_REG_1 && wire <= K.NFT_REG_4) return (wire - K.NFT_REG_1) * 4;
  return wire - K.NFT_REG32_00;
}

/** The expression loading `len` bytes of a selector into register `r`. */
export function loadExpr(load: Load, r: number, len = load.len): ExprWire {
  const dreg = regWire(r);
  if (load.name === 'payload')
    return { name: 'payload', dreg, base: load.base, offset: load.offset, len };
  if (load.name === 'meta') return { name: 'meta', key: load.key, dreg };
  return { name: 'ct', key: load.key, dreg };
}

/** The selector a load reads, given what the rule has established (`l3`, `l4`). */
export function selectorOfLoad(
  e: ExprWire,
  ctx: { l3?: 'ipv4' | 'ipv6'; l4?: number },
): { sel: Selector; len: number } | undefined {
  if (e.name === 'payload' && 'base' in e && e.dreg !== undefined && e.sreg === undefined) {
    for (const [name, def] of Object.entries(SELECTORS) as [Selector, SelectorDef][]) {
      const l = def.load;
      if (
        l.name !== 'payload' ||
        l.base !== e.base ||
        l.offset !== e.offset ||
        e.len > l.len ||
        e.len === 0
      )
        continue;
      // Shorter loads are byte-aligned prefixes of addresses only.
      if (e.len < l.len && !(def.kind === 'ipv4_addr' || def.kind === 'ipv6_addr')) continue;
      if (def.l3 !== undefined && def.l3 !== ctx.l3) continue;
      if (l.base === TH) {
        const want = ctx.l4 === K.IPPROTO_TCP || ctx.l4 === K.IPPROTO_UDP ? ctx.l4 : undefined;
        if (def.l4 !== want) continue;
      }
      return { sel: name, len: e.len };
    }
    return undefined;
  }
  if ((e.name === 'meta' || e.name === 'ct') && 'key' in e && e.dreg !== undefined) {
    for (const [name, def] of Object.entries(SELECTORS) as [Selector, SelectorDef][]) {
      if (def.load.name === e.name && def.load.key === e.key)
        return { sel: name, len: def.load.len };
    }
  }
  return undefined;
}
