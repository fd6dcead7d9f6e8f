/**
 * Values as nf_tables carries them: set key and map value types, the bytes
 * of addresses, ports, protocols, marks and interface names, and their text
 * or number form in the typed model.
 */
import { K } from '../binding';
import { ValidationError } from '../errors';
import { formatIp, parseIp, parseMac } from '../util/ip';
import { readU32Host, u32Host, validateUint } from './common';
import type { ElemPart, NftType } from './types';

/**
 * nft's data type ids and byte orders (nft's datatype.h: TYPE_IPADDR = 7,
 * ...; enum byteorder: 0 invalid, 1 host, 2 big endian). The kernel stores
 * them opaquely in NFTA_SET_KEY_TYPE/DATA_TYPE and nft reads them back to
 * print elements, so netplumb writes the same ids.
 */
export const BYTEORDER_INVALID = 0;
export const BYTEORDER_HOST = 1;
export const BYTEORDER_BIG = 2;
/** nft's concatenation: type ids packed 6 bits each (TYPE_BITS). */
const TYPE_BITS = 6;
export const TYPE_VERDICT = 1;

export interface TypeInfo {
  id: number;
  len: number;
  order: number;
}

export const NFT_TYPES: Readonly<Record<NftType, TypeInfo>> = {
  ipv4_addr: { id: 7, len: 4, order: BYTEORDER_BIG },
  ipv6_addr: { id: 8, len: 16, order: BYTEORDER_BIG },
  ether_addr: { id: 9, len: 6, order: BYTEORDER_BIG },
  inet_proto: { id: 12, len: 1, order: BYTEORDER_INVALID },
  inet_service: { id: 13, len: 2, order: BYTEORDER_BIG },
  mark: { id: 19, len: 4, order: BYTEORDER_HOST },
  ifname: { id: 41, len: 16, order: BYTEORDER_HOST },
};

export function isNftType(t: unknown): t is NftType {
  return typeof t === 'string' && Object.hasOwn(NFT_TYPES, t);
}

/** 4-byte aligned length: what one field of a concatenation takes. */
export const pad4 = (n: number): number => (n + 3) & ~3;

/** NFTA_SET_KEY_TYPE / DATA_TYPE of one type or a concatenation. */
export function typeId(types: readonly NftType[]): number {
  return types.reduce((acc, t) => (acc << TYPE_BITS) | NFT_TYPES[t].id, 0) >>> 0;
}

/** NFTA_SET_KEY_LEN / DATA_LEN. */
export function typeLen(types: readonly NftType[]): number {
  if (types.length === 1) return NFT_TYPES[types[0]!].len;
  return types.reduce((acc, t) => acc + pad4(NFT_TYPES[t].len), 0);
}

/** The types of a type id, or undefined when one of them is not modelled. */
export function typesOf(id: number, len: number): NftType[] | undefined {
  const ids: number[] = [];
  for (let rest = id; rest > 0; rest = Math.floor(rest / (1 << TYPE_BITS))) {
    ids.unshift(rest & ((1 << TYPE_BITS) - 1));
  }
  const types: NftType[] = [];
  for (const i of ids) {
    const t = (Object.keys(NFT_TYPES) as NftType[]).find((n) => NFT_TYPES[n].id === i);
    if (!t) return undefined;
    types.push(t);
  }
  if (types.length === 0 || typeLen(types) !== len) return undefined;
  return types;
}

/** What a match or an element part can hold: a set type, or a meta value kind. */
export type ValueKind = NftType | 'ifindex' | 'nfproto';

/** Transport protocols by the names nft prints them with. */
export const PROTOCOLS: Readonly<Record<string, number>> = {
  icmp: K.IPPROTO_ICMP,
  igmp: K.IPPROTO_IGMP,
  tcp: K.IPPROTO_TCP,
  udp: K.IPPROTO_UDP,
  gre: K.IPPROTO_GRE,
  esp: K.IPPROTO_ESP,
  ah: K.IPPROTO_AH,
  icmpv6: K.IPPROTO_ICMPV6,
  sctp: K.IPPROTO_SCTP,
  udplite: K.IPPROTO_UDPLITE,
};

export const NFPROTOS: Readonly<Record<string, number>> = {
  ipv4: K.NFPROTO_IPV4,
  ipv6: K.NFPROTO_IPV6,
};

function nameOf(table: Readonly<Record<string, number>>, n: number): string | undefined {
  return Object.keys(table).find((k) => table[k] === n);
}

function byName(
  table: Readonly<Record<string, number>>,
  value: unknown,
  field: string,
  what: string,
): number {
  if (typeof value === 'number') return validateUint(value, field, 255);
  if (typeof value === 'string' && Object.hasOwn(table, value)) return table[value]!;
  throw new ValidationError(
    field,
    `${JSON.stringify(value)} is not ${what} (${Object.keys(table).join(', ')} or 0-255)`,
  );
}

export function protocolNumber(value: unknown, field: string): number {
  return byName(PROTOCOLS, value, field, 'a protocol');
}

export function protocolValue(n: number): ElemPart {
  return nameOf(PROTOCOLS, n) ?? n;
}

/** Interface names: 1 to IFNAMSIZ-1 bytes. */
function ifnameBytes(value: unknown, field: string): Buffer {
  if (typeof value !== 'string' || value.length === 0)
    throw new ValidationError(field, 'must be an interface name');
  const b = Buffer.from(value);
  if (b.length > K.IFNAMSIZ - 1 || value.includes('\0'))
    throw new ValidationError(field, `"${value}" is longer than ${K.IFNAMSIZ - 1} bytes`);
  const out = Buffer.alloc(K.IFNAMSIZ);
  b.copy(out);
  return out;
}

/** Dotted quads as node's isIPv4 takes them (no leading zeros): the fast path for long element lists. */
const OCTET = '(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)';
const IPV4 = new RegExp(`^${OCTET}\\.${OCTET}\\.${OCTET}\\.${OCTET}$`);

function ipBytes(kind: 'ipv4_addr' | 'ipv6_addr', value: unknown, field: string): Buffer {
  if (kind === 'ipv4_addr' && typeof value === 'string') {
    const m = IPV4.exec(value);
    if (m) return Buffer.from([Number(m[1]), Number(m[2]), Number(m[3]), Number(m[4])]);
  }
  const ip = parseIp(value, field);
  const want = kind === 'ipv4_addr' ? 4 : 6;
  if (ip.family !== want)
    throw new ValidationError(field, `"${ip.text}" is not an IPv${want} address`);
  return ip.bytes;
}

/** The bytes of one value (natural length, as a match compares them). */
export function encodePart(kind: ValueKind, value: unknown, field: string): Buffer {
  switch (kind) {
    case 'ipv4_addr':
    case 'ipv6_addr':
      return ipBytes(kind, value, field);
    case 'ether_addr':
      return parseMac(value, field);
    case 'inet_proto':
      return Buffer.from([protocolNumber(value, field)]);
    case 'nfproto':
      return Buffer.from([byName(NFPROTOS, value, field, 'a network protocol')]);
    case 'inet_service': {
      const b = Buffer.alloc(2);
      b.writeUInt16BE(validateUint(value, field, 65535));
      return b;
    }
    case 'mark':
      return u32Host(validateUint(value, field, 0xffffffff));
    case 'ifindex':
      return u32Host(validateUint(value, field, 0x7fffffff, 1));
    case 'ifname':
      return ifnameBytes(value, field);
  }
}

/** The model's form of one value read back. */
export function decodePart(kind: ValueKind, b: Buffer): ElemPart {
  switch (kind) {
    case 'ipv4_addr':
      return formatIp(b.subarray(0, 4));
    case 'ipv6_addr':
      return formatIp(b.subarray(0, 16));
    case 'ether_addr':
      return [...b.subarray(0, 6)].map((x) => x.toString(16).padStart(2, '0')).join(':');
    case 'inet_proto':
      return protocolValue(b[0] ?? 0);
    case 'nfproto':
      return nameOf(NFPROTOS, b[0] ?? 0) ?? b[0] ?? 0;
    case 'inet_service':
      return b.length >= 2 ? b.readUInt16BE(0) : 0;
    case 'mark':
    case 'ifindex':
      return readU32Host(b);
    case 'ifname': {
      const nul = b.indexOf(0);
      return b.subarray(0, nul < 0 ? b.length : nul).toString();
    }
  }
}

/** Numeric kinds that compare in network order, so ranges and `<`/`>` work. */
export function isOrdered(kind: ValueKind): boolean {
  return kind === 'inet_service' || kind === 'inet_proto';
}

export function isAddress(kind: ValueKind): kind is 'ipv4_addr' | 'ipv6_addr' {
  return kind === 'ipv4_addr' || kind === 'ipv6_addr';
}

/** `10.0.0.0/24` -> network bytes and prefix length; a bare address is a full-length prefix. */
export function parsePrefix(
  kind: 'ipv4_addr' | 'ipv6_addr',
  value: unknown,
  field: string,
): { bytes: Buffer; prefixlen: number } {
  if (typeof value !== 'string') throw new ValidationError(field, 'must be an address or CIDR');
  const slash = value.indexOf('/');
  const bytes = ipBytes(kind, slash < 0 ? value : value.slice(0, slash), field);
  const max = bytes.length * 8;
  if (slash < 0) return { bytes, prefixlen: max };
  const lenText = value.slice(slash + 1);
  if (!/^\d{1,3}$/.test(lenText) || Number(lenText) > max) {
    throw new ValidationError(field, `"${value}" has a bad prefix length (0 to ${max})`);
  }
  const prefixlen = Number(lenText);
  const masked = maskBytes(bytes, prefixlen);
  if (!masked.equals(bytes)) {
    throw new ValidationError(
      field,
      `"${value}" has host bits set; the network is ${formatIp(masked)}/${prefixlen}`,
    );
  }
  return { bytes, prefixlen };
}

/** The prefix mask of `len` bytes with `prefixlen` leading ones. */
export function prefixMask(len: number, prefixlen: number): Buffer {
  const m = Buffer.alloc(len);
  for (let bit = 0; bit < prefixlen; bit++) m[bit >> 3] = m[bit >> 3]! | (0x80 >> (bit & 7));
  return m;
}

export function maskBytes(bytes: Buffer, prefixlen: number): Buffer {
  const m = prefixMask(bytes.length, prefixlen);
  return Buffer.from(bytes.map((b, i) => b & m[i]!));
}

/** The prefix length of a mask made of leading ones, or -1. */
export function maskPrefixlen(mask: Buffer): number {
  let n = 0;
  while (n < mask.length * 8 && (mask[n >> 3]! & (0x80 >> (n & 7))) !== 0) n++;
  return prefixMask(mask.length, n).equals(mask) ? n : -1;
}

/** The last address of a prefix (host bits set). */
export function lastOfPrefix(bytes: Buffer, prefixlen: number): Buffer {
  const m = prefixMask(bytes.length, prefixlen);
  return Buffer.from(bytes.map((b, i) => (b & m[i]!) | (~m[i]! & 0xff)));
}

/** `a/len` if [first, last] is exactly a prefix, else undefined. */
export function asPrefix(first: Buffer, last: Buffer): number | undefined {
  for (let len = 0; len <= first.length * 8; len++) {
    if (maskBytes(first, len).equals(first) && lastOfPrefix(first, len).equals(last)) return len;
  }
  return undefined;
}

/** bytes + 1 as a big-endian number; undefined when it overflows. */
export function increment(bytes: Buffer): Buffer | undefined {
  const out = Buffer.from(bytes);
  for (let i = out.length - 1; i >= 0; i--) {
    if (out[i] !== 0xff) {
      out[i] = out[i]! + 1;
      return out;
    }
    out[i] = 0;
  }
  return undefined;
}

/** bytes - 1 as a big-endian number (bytes > 0). */
export function decrement(bytes: Buffer): Buffer {
  const out = Buffer.from(bytes);
  for (let i = out.length - 1; i >= 0; i--) {
    if (out[i] !== 0) {
      out[i] = out[i]! - 1;
      return out;
    }
    out[i] = 0xff;
  }
  return out;
}

/** Concatenation: each field padded to 4 bytes. */
export function concatParts(parts: Buffer[]): Buffer {
  const out = Buffer.alloc(parts.reduce((n, p) => n + pad4(p.length), 0));
  let o = 0;
  for (const p of parts) {
    p.copy(out, o);
    o += pad4(p.length);
  }
  return out;
}

/** Splits a concatenated value back into its fields. */
export function splitParts(types: readonly NftType[], b: Buffer): Buffer[] {
  if (types.length === 1) return [b];
  const out: Buffer[] = [];
  let o = 0;
  for (const t of types) {
    out.push(b.subarray(o, o + NFT_TYPES[t].len));
    o += pad4(NFT_TYPES[t].len);
  }
  return out;
}
