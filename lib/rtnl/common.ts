/** Pieces shared by the rtnetlink object kinds. */
import { K, type HandleNative } from '../binding';
import type { Channel } from '../channel';
import { ValidationError } from '../errors';
import type { NetNS } from '../netns';
import type { Rtnl } from './index';

/** A link named by interface name or ifindex. */
export type LinkRef = string | number;

/** An attribute the decoder did not know, kept as it came. */
export interface RawAttr {
  /** the attribute type (nla_type, without flag bits) */
  type: number;
  /** the payload, without the attribute header */
  data: Buffer;
}

/** What each object kind needs from its Rtnl handle. @internal */
export interface RtnlContext {
  channel: Channel;
  handle: HandleNative;
  /** the namespace the handle lives in; undefined for this process's own */
  netns: NetNS | undefined;
  /** ifindex of a link, asking the kernel when given a name */
  index(ref: LinkRef, field: string): Promise<number>;
  /** runs `fn` with a short-lived handle in another namespace */
  inNetns<T>(netns: NetNS, fn: (rt: Rtnl) => Promise<T>): Promise<T>;
}

export const REQ_ACK = (): number => K.NLM_F_REQUEST | K.NLM_F_ACK;
export const REQ_CREATE = (): number =>
  K.NLM_F_REQUEST | K.NLM_F_ACK | K.NLM_F_CREATE | K.NLM_F_EXCL;
export const REQ_DUMP = (): number => K.NLM_F_REQUEST | K.NLM_F_ACK | K.NLM_F_DUMP;

/**
 * Checks an interface name as the kernel's dev_valid_name() does: 1 to 15
 * bytes, not "." or "..", no "/", ":" or white space.
 */
export function validateIfName(name: unknown, field: string): string {
  if (typeof name !== 'string' || name.length === 0)
    throw new ValidationError(field, 'must be a non-empty string');
  if (Buffer.byteLength(name) > K.IFNAMSIZ - 1) {
    throw new ValidationError(field, `"${name}" is longer than ${K.IFNAMSIZ - 1} bytes`);
  }
  if (name === '.' || name === '..' || /[/:\s\0]/.test(name)) {
    throw new ValidationError(
      field,
      `"${name}" is not a valid interface name (no "/", ":" or spaces)`,
    );
  }
  return name;
}

export function validateLinkRef(ref: unknown, field: string): LinkRef {
  if (typeof ref === 'number') {
    if (!Number.isInteger(ref) || ref <= 0 || ref > 0x7fffffff) {
      throw new ValidationError(field, 'must be a positive ifindex or an interface name');
    }
    return ref;
  }
  return validateIfName(ref, field);
}

export function validateUint(value: unknown, field: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new ValidationError(field, `must be an integer from ${min} to ${max}`);
  }
  return value;
}

export function validateBool(value: unknown, field: string): boolean {
  if (typeof value !== 'boolean') throw new ValidationError(field, 'must be true or false');
  return value;
}

/** Picks a value from a table of names, or a number in range. */
export function nameOrNumber<T extends string>(
  value: unknown,
  field: string,
  table: Readonly<Record<T, number>>,
  max = 255,
): number {
  if (typeof value === 'number') return validateUint(value, field, 0, max);
  if (typeof value === 'string' && Object.hasOwn(table, value)) return table[value as T];
  throw new ValidationError(field, `must be one of ${Object.keys(table).join(', ')} or a number`);
}

/** `RTM_NEWLINK vh0`: how requests are named in errors. */
export function opName(type: string, what: LinkRef | string | undefined): string {
  return what === undefined ? type : `${type} ${what}`;
}
