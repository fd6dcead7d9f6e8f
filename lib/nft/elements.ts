/**
 * Set and map elements: `nft add|delete element`, `nft list set`. Interval
 * sets store a range as a start element and an end element one past the
 * range (flagged NFT_SET_ELEM_INTERVAL_END), or, for concatenations, one
 * element with a closing key (NFTA_SET_ELEM_KEY_END) as nft does. The
 * catch-all element (`*`) has no key, only NFT_SET_ELEM_CATCHALL.
 */
import { K, type ElemWire } from '../binding';
import { ValidationError } from '../errors';
import { formatIp } from '../util/ip';
import {
  commentOf,
  commentUdata,
  isList,
  validateComment,
  validateUint,
  validateVerdictValue,
  verdictValue,
  verdictWire,
} from './common';
import {
  asPrefix,
  concatParts,
  decodePart,
  decrement,
  encodePart,
  increment,
  isAddress,
  lastOfPrefix,
  parsePrefix,
  splitParts,
} from './datatypes';
import type { SetInfo } from './sets';
import type { ElemPart, NftType, SetElement } from './types';
import type { ElemMsg } from './wire';

function typesText(types: readonly NftType[]): string {
  return types.join(' . ');
}

/** The key that names the catch-all element, as nft writes it. */
export const CATCH_ALL = '*';

/** [first, last] of one interval part: a prefix, `a-b` text, [a, b], or one value. */
function partRange(t: NftType, value: unknown, field: string): [Buffer, Buffer] {
  if (Array.isArray(value)) {
    if (value.length !== 2) throw new ValidationError(field, 'a range is [from, to]');
    const from = encodePart(t, value[0], `${field}[0]`);
    const to = encodePart(t, value[1], `${field}[1]`);
    if (Buffer.compare(from, to) > 0)
      throw new ValidationError(field, 'range ends before it starts');
    return [from, to];
  }
  if (isAddress(t) && typeof value === 'string' && value.includes('/')) {
    const p = parsePrefix(t, value, field);
    return [p.bytes, lastOfPrefix(p.bytes, p.prefixlen)];
  }
  // Addresses and MACs hold no '-': `10.0.0.1-10.0.0.5`, as a concatenation lists them.
  if (typeof value === 'string' && (isAddress(t) || t === 'ether_addr') && value.includes('-')) {
    const ends = value.split('-');
    if (ends.length !== 2) throw new ValidationError(field, 'a range is `from-to`');
    return partRange(t, ends, field);
  }
  if (typeof value === 'string' && /^\w+-\w+$/.test(value) && !isAddress(t)) {
    const [a, b] = value.split('-');
    const num = (s: string): string | number => (/^\d+$/.test(s) ? Number(s) : s);
    return partRange(t, [num(a!), num(b!)], field);
  }
  const v = encodePart(t, value, field);
  return [v, v];
}

function keyParts(info: SetInfo, key: unknown, field: string): unknown[] {
  if (info.key.length === 1) {
    if (Array.isArray(key) && !info.interval) {
      throw new ValidationError(field, `the set's key is one ${info.key[0]!}, not a list`);
    }
    return [key];
  }
  if (!Array.isArray(key) || key.length !== info.key.length) {
    const n = Array.isArray(key) ? key.length : 1;
    throw new ValidationError(
      field,
      `has ${n} part${n === 1 ? '' : 's'}; the set's key is ${typesText(info.key)} (${info.key.length} parts)`,
    );
  }
  return key as unknown[];
}

function encodeValue(types: readonly NftType[], value: unknown, field: string): Buffer {
  if (types.length === 1) {
    if (Array.isArray(value)) throw new ValidationError(field, `must be one ${types[0]!}`);
    return encodePart(types[0]!, value, field);
  }
  if (!Array.isArray(value) || value.length !== types.length) {
    throw new ValidationError(field, `must be ${types.length} parts: ${typesText(types)}`);
  }
  return concatParts(types.map((t, i) => encodePart(t, value[i], `${field}[${i}]`)));
}

/**
 * Element requests for `elements` of the set `info`. `forDelete`: values and
 * timeouts are not sent (the key names the element).
 */
export function elementsWire(
  info: SetInfo,
  elements: readonly SetElement[],
  field: string,
  forDelete = false,
): ElemWire[] {
  if (!isList(elements)) throw new ValidationError(field, 'must be an array');
  const out: ElemWire[] = [];
  elements.forEach((e, i) => {
    const f = `${field}[${i}]`;
    if (typeof e !== 'object' || e === null) throw new ValidationError(f, 'must be an object');
    if (e.key === undefined) throw new ValidationError(`${f}.key`, 'is required');
    const catchAll = e.key === CATCH_ALL;
    const parts = catchAll ? [] : keyParts(info, e.key, `${f}.key`);
    const w: ElemWire = {};
    let end: ElemWire | undefined;
    if (catchAll) {
      w.flags = K.NFT_SET_ELEM_CATCHALL;
    } else if (info.interval) {
      const ranges = info.key.map((t, j) =>
        partRange(t, parts[j], info.key.length > 1 ? `${f}.key[${j}]` : `${f}.key`),
      );
      if (info.key.length > 1) {
        w.key = concatParts(ranges.map((r) => r[0]));
        w.keyEnd = concatParts(ranges.map((r) => r[1]));
      } else {
        const [first, last] = ranges[0]!;
        w.key = first;
        const next = increment(last);
        // A range running to the largest value needs no end element.
        if (next) end = { key: next, flags: K.NFT_SET_ELEM_INTERVAL_END };
      }
    } else {
      w.key =
        info.key.length === 1
          ? encodePart(info.key[0]!, parts[0], `${f}.key`)
          : concatParts(info.key.map((t, j) => encodePart(t, parts[j], `${f}.key[${j}]`)));
    }
    if (!forDelete) {
      if (info.map === undefined) {
        if (e.value !== undefined)
          throw new ValidationError(`${f}.value`, 'sets have no values (only maps)');
      } else if (e.value === undefined) {
        throw new ValidationError(`${f}.value`, 'is required: the set is a map');
      } else if (info.map === 'verdict') {
        w.verdict = verdictWire(validateVerdictValue(e.value, `${f}.value`));
      } else {
        w.data = encodeValue(info.map, e.value, `${f}.value`);
      }
      if (e.timeout !== undefined) {
        if (!info.timeout)
          throw new ValidationError(`${f}.timeout`, "needs a set with flags: ['timeout']");
        w.timeout = validateUint(e.timeout, `${f}.timeout`, Number.MAX_SAFE_INTEGER, 1);
      }
      if (e.comment !== undefined)
        w.userdata = commentUdata(validateComment(e.comment, `${f}.comment`));
    }
    // nft's order: flags, timeout, key, data, user data.
    out.push(orderElem(w));
    if (end) out.push(end);
  });
  return out;
}

function orderElem(w: ElemWire): ElemWire {
  const o: ElemWire = {};
  if (w.flags !== undefined) o.flags = w.flags;
  if (w.timeout !== undefined) o.timeout = w.timeout;
  if (w.key) o.key = w.key;
  if (w.keyEnd) o.keyEnd = w.keyEnd;
  if (w.data) o.data = w.data;
  if (w.verdict) o.verdict = w.verdict;
  if (w.userdata) o.userdata = w.userdata;
  return o;
}

/** One part of a range read back: a prefix, one value, or [from, to] / `from-to`. */
function rangeValue(
  t: NftType,
  first: Buffer,
  last: Buffer,
  inConcat: boolean,
): ElemPart | [ElemPart, ElemPart] {
  if (first.equals(last)) return decodePart(t, first);
  if (isAddress(t)) {
    const len = asPrefix(first, last);
    if (len !== undefined) return `${formatIp(first)}/${len}`;
  }
  const a = decodePart(t, first);
  const b = decodePart(t, last);
  return inConcat ? `${a}-${b}` : [a, b];
}

function baseElement(info: SetInfo, m: ElemMsg): Omit<SetElement, 'key'> {
  const out: Omit<SetElement, 'key'> = {};
  if (info.map === 'verdict') {
    const v = verdictValue(m.verdict);
    if (v) out.value = v;
  } else if (info.map && m.data) {
    const parts = splitParts(info.map, m.data).map((b, i) =>
      decodePart(info.map![i] as NftType, b),
    );
    out.value = parts.length === 1 ? parts[0]! : parts;
  }
  // The kernel leaves NFTA_SET_ELEM_TIMEOUT out when it equals the set's default.
  if (m.timeout !== undefined) out.timeout = m.timeout;
  const comment = commentOf(m.userdata);
  if (comment !== undefined) out.comment = comment;
  return out;
}

/** Elements as the kernel lists them, in the model, sorted by key. */
export function elementsFromMsgs(info: SetInfo, msgs: readonly ElemMsg[]): SetElement[] {
  const isEnd = (m: ElemMsg): number =>
    ((m.flags ?? 0) & K.NFT_SET_ELEM_INTERVAL_END) !== 0 ? 1 : 0;
  const withKey = msgs.filter((m): m is ElemMsg & { key: Buffer } => m.key !== undefined);
  // Adjacent ranges (1-5, 6-10) share a key: the end of one (6) goes before
  // the start of the next.
  withKey.sort((a, b) => Buffer.compare(a.key, b.key) || isEnd(b) - isEnd(a));
  const catchAll = msgs
    .filter((m) => m.key === undefined && ((m.flags ?? 0) & K.NFT_SET_ELEM_CATCHALL) !== 0)
    .map((m): SetElement => ({ key: CATCH_ALL, ...baseElement(info, m) }));
  const out = elementsByKey(info, withKey);
  return catchAll.length > 0 ? [...out, ...catchAll] : out;
}

function elementsByKey(info: SetInfo, withKey: (ElemMsg & { key: Buffer })[]): SetElement[] {
  const out: SetElement[] = [];
  if (info.interval && info.key.length === 1) {
    const t = info.key[0]!;
    for (let i = 0; i < withKey.length; i++) {
      const m = withKey[i]!;
      if (((m.flags ?? 0) & K.NFT_SET_ELEM_INTERVAL_END) !== 0) continue; // nft's leading 0 end
      const next = withKey[i + 1];
      let last: Buffer;
      if (next && ((next.flags ?? 0) & K.NFT_SET_ELEM_INTERVAL_END) !== 0) {
        last = decrement(next.key);
        i++;
      } else {
        last = Buffer.alloc(m.key.length, 0xff);
      }
      out.push({ key: rangeValue(t, m.key, last, false), ...baseElement(info, m) });
    }
    return out;
  }
  for (const m of withKey) {
    let key: SetElement['key'];
    const firsts = splitParts(info.key, m.key);
    if (info.interval) {
      const lasts = m.keyEnd ? splitParts(info.key, m.keyEnd) : firsts;
      key = info.key.map((t, i) => rangeValue(t, firsts[i]!, lasts[i]!, true) as ElemPart);
    } else {
      const parts = info.key.map((t, i) => decodePart(t, firsts[i]!));
      key = parts.length === 1 ? parts[0]! : parts;
    }
    out.push({ key, ...baseElement(info, m) });
  }
  return out;
}
