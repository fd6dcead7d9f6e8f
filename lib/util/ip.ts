/**
 * Address parsing and formatting shared by the low-level API and the engine.
 * Parsers return bytes in network order and throw ValidationError naming the
 * field on bad input.
 */
import { isIPv6 } from 'node:net';

import { ValidationError } from '../errors';

/** IP version: 4 or 6. */
export type IpFamily = 4 | 6;

export interface ParsedIp {
  family: IpFamily;
  bytes: Buffer;
  text: string;
}

export interface ParsedCidr extends ParsedIp {
  prefixlen: number;
}

/**
 * The four bytes of a dotted quad as node:net's isIPv4 accepts it (decimal
 * 0-255, no leading zeros), else undefined. The engine parses a few
 * addresses per sandbox, and this is several times cheaper than the regular
 * expression plus split.
 */
function dottedQuad(text: string): Buffer | undefined {
  const n = text.length;
  if (n < 7 || n > 15) return undefined;
  const out = Buffer.allocUnsafe(4);
  let part = 0;
  let value = 0;
  let digits = 0;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || part === 3) return undefined;
      out[part++] = value;
      value = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57) {
      if (digits > 0 && value === 0) return undefined; // a leading zero
      value = value * 10 + (c - 48);
      if (++digits > 3 || value > 255) return undefined;
    } else {
      return undefined;
    }
  }
  if (part !== 3 || digits === 0) return undefined;
  out[3] = value;
  return out;
}

function ipv6Bytes(text: string): Buffer {
  let head = text;
  let v4tail: Buffer | null = null;
  const lastColon = head.lastIndexOf(':');
  if (head.includes('.', lastColon)) {
    // isIPv6 has checked the tail with isIPv4's grammar, dottedQuad's.
    v4tail = dottedQuad(head.slice(lastColon + 1))!;
    head = head.slice(0, lastColon + 1) + '0:0';
  }
  const halves = head.split('::');
  const left = halves[0] ? halves[0].split(':') : [];
  const right = halves.length > 1 && halves[1] ? halves[1].split(':') : [];
  const fill = 8 - left.length - right.length;
  const groups = [...left, ...Array<string>(halves.length > 1 ? fill : 0).fill('0'), ...right];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  if (v4tail) v4tail.copy(out, 12);
  return out;
}

/** Parses an IPv4 or IPv6 address. */
export function parseIp(text: unknown, field: string): ParsedIp {
  if (typeof text !== 'string') throw new ValidationError(field, 'must be an IP address string');
  const quad = dottedQuad(text);
  if (quad) return { family: 4, bytes: quad, text };
  // Zone ids (fe80::1%eth0) are not addresses the kernel takes here.
  if (isIPv6(text) && !text.includes('%')) {
    const bytes = ipv6Bytes(text);
    return { family: 6, bytes, text: formatIp(bytes) };
  }
  throw new ValidationError(field, `"${text}" is not an IPv4 or IPv6 address`);
}

/** Parses `ADDR/LEN`; a bare address gets the full-length prefix when `bareOk`. */
export function parseCidr(text: unknown, field: string, bareOk = false): ParsedCidr {
  if (typeof text !== 'string')
    throw new ValidationError(field, 'must be a CIDR string like 10.0.0.1/24');
  const slash = text.indexOf('/');
  if (slash < 0) {
    if (!bareOk)
      throw new ValidationError(field, `"${text}" has no prefix length (like 10.0.0.1/24)`);
    const ip = parseIp(text, field);
    return { ...ip, prefixlen: ip.family === 4 ? 32 : 128 };
  }
  const ip = parseIp(text.slice(0, slash), field);
  const lenText = text.slice(slash + 1);
  const max = ip.family === 4 ? 32 : 128;
  if (!/^\d{1,3}$/.test(lenText) || Number(lenText) > max) {
    throw new ValidationError(field, `"${text}" has a bad prefix length (0 to ${max})`);
  }
  return { ...ip, prefixlen: Number(lenText) };
}

/** Text form of 4 or 16 bytes. */
export function formatIp(bytes: Buffer): string {
  if (bytes.length === 4) return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i));
  // Longest run of zero groups (length >= 2) becomes '::' (RFC 5952).
  let bestAt = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestAt = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestAt < 0) return hex.join(':');
  return `${hex.slice(0, bestAt).join(':')}::${hex.slice(bestAt + bestLen).join(':')}`;
}

/** The network address of `bytes` under `prefixlen` (host bits cleared). */
export function networkOf(bytes: Buffer, prefixlen: number): Buffer {
  const out = Buffer.from(bytes);
  for (let bit = prefixlen; bit < out.length * 8; bit++) {
    const i = bit >> 3;
    out[i] = out[i]! & ~(0x80 >> (bit & 7));
  }
  return out;
}

/** The IPv4 broadcast address (all host bits set). */
export function broadcastOf(bytes: Buffer, prefixlen: number): Buffer {
  const out = Buffer.from(bytes);
  for (let bit = prefixlen; bit < out.length * 8; bit++) {
    const i = bit >> 3;
    out[i] = out[i]! | (0x80 >> (bit & 7));
  }
  return out;
}

/** Parses `aa:bb:cc:dd:ee:ff` (also with '-'). */
export function parseMac(text: unknown, field: string): Buffer {
  if (typeof text !== 'string' || !/^[0-9a-fA-F]{2}([:-][0-9a-fA-F]{2}){5}$/.test(text)) {
    throw new ValidationError(
      field,
      `${JSON.stringify(text)} is not a MAC address like 02:42:ac:11:00:02`,
    );
  }
  return Buffer.from(text.split(/[:-]/).map((h) => parseInt(h, 16)));
}

/** An interface's own MAC: not multicast (nor broadcast), not all zero. */
export function parseUnicastMac(text: unknown, field: string): Buffer {
  const b = parseMac(text, field);
  if ((b[0]! & 1) === 1)
    throw new ValidationError(field, `${String(text)} is a multicast address, not an interface's`);
  if (b.every((x) => x === 0)) throw new ValidationError(field, `${String(text)} is all zero`);
  return b;
}

/** `02:42:ac:11:00:02` for six bytes. */
export function formatMac(bytes: Buffer): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, '0')).join(':');
}

/** `02:42` + the four bytes of an IPv4 address: Docker's MAC for a container address. */
export function macFromIpv4(bytes: Buffer): string {
  const hex = (b: number): string => (b < 16 ? '0' : '') + b.toString(16);
  return `02:42:${hex(bytes[0]!)}:${hex(bytes[1]!)}:${hex(bytes[2]!)}:${hex(bytes[3]!)}`;
}
