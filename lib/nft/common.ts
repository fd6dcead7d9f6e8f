/**
 * Pieces every nf_tables object kind shares: families, names, comments in
 * nft's user-data format, request flags.
 */
import { endianness } from 'node:os';

import { K } from '../binding';
import { ValidationError } from '../errors';
import type { NftFamily } from './types';

/** NFPROTO_* of each family, as `nft` names them. */
export const FAMILIES: Readonly<Record<NftFamily, number>> = {
  ip: K.NFPROTO_IPV4,
  ip6: K.NFPROTO_IPV6,
  inet: K.NFPROTO_INET,
  bridge: K.NFPROTO_BRIDGE,
  arp: K.NFPROTO_ARP,
  netdev: K.NFPROTO_NETDEV,
};

export function validateFamily(family: unknown, field = 'family'): NftFamily {
  if (typeof family === 'string' && Object.hasOwn(FAMILIES, family)) return family as NftFamily;
  throw new ValidationError(
    field,
    `${JSON.stringify(family)} is not an nftables family (${Object.keys(FAMILIES).join(', ')})`,
  );
}

export function familyNumber(family: NftFamily): number {
  return FAMILIES[family];
}

/** The family name of NFPROTO_* `n`, or undefined for one nft has no name for. */
export function familyName(n: number): NftFamily | undefined {
  for (const [name, value] of Object.entries(FAMILIES)) if (value === n) return name as NftFamily;
  return undefined;
}

/**
 * Table, chain and set names: 1 to NFT_NAME_MAXLEN-1 bytes (the kernel's
 * limit, NUL excluded), no NUL, no control characters (nft could not print
 * them back).
 */
export function validateName(name: unknown, field: string): string {
  if (typeof name !== 'string' || name.length === 0)
    throw new ValidationError(field, 'must be a non-empty string');
  if (Buffer.byteLength(name) > K.NFT_NAME_MAXLEN - 1) {
    throw new ValidationError(field, `is longer than ${K.NFT_NAME_MAXLEN - 1} bytes`);
  }
  if (/[\x00-\x1f\x7f]/.test(name)) {
    throw new ValidationError(field, `${JSON.stringify(name)} contains control characters`);
  }
  return name;
}

/** nft refuses comments over 128 bytes (NUL included) when it reads them back. */
export const COMMENT_MAX_BYTES = 127;

export function validateComment(comment: unknown, field = 'comment'): string {
  if (typeof comment !== 'string') throw new ValidationError(field, 'must be a string');
  if (Buffer.byteLength(comment) > COMMENT_MAX_BYTES) {
    throw new ValidationError(field, `is longer than ${COMMENT_MAX_BYTES} bytes`);
  }
  if (comment.includes('\0')) throw new ValidationError(field, 'must not contain NUL');
  return comment;
}

/**
 * nft's user-data TLVs (libnftnl's udata format): type (u8), length (u8),
 * value. Comments are NUL-terminated strings; integers are 32-bit host order.
 */
export type Udata = [type: number, value: Buffer][];

export function encodeUdata(items: Udata): Buffer {
  return Buffer.concat(
    items.map(([type, value]) => Buffer.concat([Buffer.from([type, value.length]), value])),
  );
}

export function decodeUdata(buf: Buffer | undefined): Map<number, Buffer> {
  const out = new Map<number, Buffer>();
  if (!buf) return out;
  for (let o = 0; o + 2 <= buf.length;) {
    const type = buf[o]!;
    const len = buf[o + 1]!;
    if (o + 2 + len > buf.length) break;
    out.set(type, buf.subarray(o + 2, o + 2 + len));
    o += 2 + len;
  }
  return out;
}

export function udataString(s: string): Buffer {
  return Buffer.concat([Buffer.from(s), Buffer.alloc(1)]);
}

const HOST_LE = endianness() === 'LE';

/** A 32-bit integer in host byte order. */
export function udataU32(n: number): Buffer {
  const b = Buffer.alloc(4);
  if (HOST_LE) b.writeUInt32LE(n >>> 0);
  else b.writeUInt32BE(n >>> 0);
  return b;
}

export function stringOf(buf: Buffer | undefined): string | undefined {
  if (!buf) return undefined;
  const nul = buf.indexOf(0);
  return buf.subarray(0, nul < 0 ? buf.length : nul).toString();
}

/**
 * Comment user-data types (libnftnl's udata.h: NFTNL_UDATA_TABLE_COMMENT,
 * _CHAIN_COMMENT, _RULE_COMMENT, _SET_ELEM_COMMENT are 0; NFTNL_UDATA_SET_COMMENT
 * is 7). They are nft's format, not kernel uapi, so they are spelled here.
 */
export const UDATA_COMMENT = 0;
export const UDATA_SET_COMMENT = 7;

/** A comment as the user data of a table, chain, rule or element. */
export function commentUdata(
  comment: string | undefined,
  type = UDATA_COMMENT,
): Buffer | undefined {
  return comment === undefined ? undefined : encodeUdata([[type, udataString(comment)]]);
}

export function commentOf(userdata: Buffer | undefined, type = UDATA_COMMENT): string | undefined {
  return stringOf(decodeUdata(userdata).get(type));
}

// nlmsghdr flags for the requests of a batch. Every change asks for an ACK so
// the failing one can be named; nft itself only asks for errors.
export const F_ACK = (): number => K.NLM_F_REQUEST | K.NLM_F_ACK;
export const F_CREATE = (): number => K.NLM_F_REQUEST | K.NLM_F_ACK | K.NLM_F_CREATE;
export const F_DUMP = (): number => K.NLM_F_REQUEST | K.NLM_F_ACK | K.NLM_F_DUMP;

/** Host-order u32 (marks, interface indexes, ct state bits live in host order). */
export function u32Host(n: number): Buffer {
  return udataU32(n);
}

export function readU32Host(b: Buffer): number {
  const c = Buffer.alloc(4);
  b.copy(c, 0, 0, Math.min(4, b.length));
  return HOST_LE ? c.readUInt32LE(0) : c.readUInt32BE(0);
}

export function validateUint(value: unknown, field: string, max: number, min = 0): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new ValidationError(field, `must be an integer from ${min} to ${max}`);
  }
  return value;
}

/** `inet netplumb` / `inet netplumb forward`: how changes are named in errors. */
export function refText(...parts: (string | number | undefined)[]): string {
  return parts.filter((p) => p !== undefined).join(' ');
}

/** A verdict value (rule verdicts and verdict-map values) as nft_data. */
export function verdictWire(v: { verdict: string } | { jump: string } | { goto: string }): {
  code: number;
  chain?: string;
} {
  if ('jump' in v) return { code: K.NFT_JUMP, chain: v.jump };
  if ('goto' in v) return { code: K.NFT_GOTO, chain: v.goto };
  return { code: VERDICT_CODES[v.verdict as keyof typeof VERDICT_CODES] };
}

export const VERDICT_CODES = {
  accept: K.NF_ACCEPT,
  drop: K.NF_DROP,
  continue: K.NFT_CONTINUE,
  return: K.NFT_RETURN,
} as const;

export type VerdictName = keyof typeof VERDICT_CODES;

/** The model's form of a verdict read back, or undefined for one it has no name for (NFT_BREAK). */
export function verdictValue(
  w: { code: number; chain?: string } | undefined,
): { verdict: VerdictName } | { jump: string } | { goto: string } | undefined {
  if (!w) return undefined;
  if (w.code === K.NFT_JUMP && w.chain !== undefined) return { jump: w.chain };
  if (w.code === K.NFT_GOTO && w.chain !== undefined) return { goto: w.chain };
  for (const [name, code] of Object.entries(VERDICT_CODES)) {
    if (code === w.code) return { verdict: name as VerdictName };
  }
  return undefined;
}

/** Checks { verdict } | { jump } | { goto }, naming the field. */
export function validateVerdictValue(
  v: unknown,
  field: string,
): { verdict: VerdictName } | { jump: string } | { goto: string } {
  if (typeof v === 'object' && v !== null) {
    const o = v as Record<string, unknown>;
    const keys = Object.keys(o);
    if (keys.length === 1 && 'verdict' in o) {
      if (typeof o.verdict === 'string' && Object.hasOwn(VERDICT_CODES, o.verdict))
        return { verdict: o.verdict as VerdictName };
      throw new ValidationError(
        `${field}.verdict`,
        `must be one of ${Object.keys(VERDICT_CODES).join(', ')}`,
      );
    }
    if (keys.length === 1 && 'jump' in o) return { jump: validateName(o.jump, `${field}.jump`) };
    if (keys.length === 1 && 'goto' in o) return { goto: validateName(o.goto, `${field}.goto`) };
  }
  throw new ValidationError(field, 'must be { verdict }, { jump: CHAIN } or { goto: CHAIN }');
}

/** Array.isArray without narrowing a typed (readonly) array to any[]. */
export function isList(v: unknown): boolean {
  return Array.isArray(v);
}
