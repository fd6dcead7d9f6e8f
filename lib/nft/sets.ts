/**
 * Sets and maps: `nft add set|map`, `nft delete set`, `nft flush set`,
 * `nft list sets`. Key and value types are written with nft's type ids and
 * user data, so `nft list ruleset` prints them as if nft had made them.
 */
import { K, type SetWire } from '../binding';
import { ValidationError } from '../errors';
import {
  commentOf,
  encodeUdata,
  familyName,
  familyNumber,
  UDATA_SET_COMMENT,
  udataString,
  udataU32,
  validateComment,
  validateFamily,
  validateName,
  validateUint,
  type Udata,
} from './common';
import {
  BYTEORDER_INVALID,
  isNftType,
  NFT_TYPES,
  pad4,
  typeId,
  typeLen,
  typesOf,
} from './datatypes';
import type { NftSet, NftType, SetRef, SetSpec } from './types';
import type { SetMsg } from './wire';

/** What encoding elements and rules needs to know about a set. */
export interface SetInfo {
  family: SetRef['family'];
  table: string;
  name: string;
  key: NftType[];
  map?: NftType[] | 'verdict';
  interval: boolean;
  timeout: boolean;
  /** NFTA_SET_ID when the set is created in the same transaction */
  id?: number;
}

const SET_FLAGS = {
  constant: K.NFT_SET_CONSTANT,
  interval: K.NFT_SET_INTERVAL,
  timeout: K.NFT_SET_TIMEOUT,
} as const;

type SetFlag = keyof typeof SET_FLAGS;

/**
 * nft's set user-data types (libnftnl's NFTNL_UDATA_SET_*): key and data byte
 * order, `typeof` descriptions of concatenations, whether map data are
 * intervals. EXPR_CONCAT (13) is nft's expression type for `a . b`.
 */
const UDATA_SET_KEYBYTEORDER = 0;
const UDATA_SET_DATABYTEORDER = 1;
const UDATA_SET_KEY_TYPEOF = 3;
const UDATA_SET_DATA_TYPEOF = 4;
const UDATA_SET_DATA_INTERVAL = 6;
const UDATA_TYPEOF_EXPR = 0;
const UDATA_TYPEOF_DATA = 1;
const EXPR_CONCAT = 13;

/** Largest key or value the kernel's registers hold. */
const MAX_DATA_LEN = K.NFT_DATA_VALUE_MAXLEN;

function validateTypes(value: unknown, field: string): NftType[] {
  const list = Array.isArray(value) ? (value as unknown[]) : [value];
  if (list.length === 0) throw new ValidationError(field, 'must name at least one type');
  list.forEach((t, i) => {
    if (!isNftType(t)) {
      throw new ValidationError(
        Array.isArray(value) ? `${field}[${i}]` : field,
        `${JSON.stringify(t)} is not a type (${Object.keys(NFT_TYPES).join(', ')})`,
      );
    }
  });
  const types = list as NftType[];
  if (typeLen(types) > MAX_DATA_LEN) {
    throw new ValidationError(field, `is ${typeLen(types)} bytes; registers hold ${MAX_DATA_LEN}`);
  }
  return types;
}

export function validateSetRef(ref: unknown, field = 'set'): SetRef {
  if (typeof ref !== 'object' || ref === null)
    throw new ValidationError(field, 'must be an object');
  const r = ref as Partial<SetRef>;
  return {
    family: validateFamily(r.family, `${field}.family`),
    table: validateName(r.table, `${field}.table`),
    name: validateName(r.name, `${field}.name`),
  };
}

/** Checks a set spec (not its elements) and returns what encoders need. */
export function validateSetSpec(spec: SetSpec, field = 'set'): SetInfo {
  validateSetRef(spec, field);
  const key = validateTypes(spec.key, `${field}.key`);
  let map: SetInfo['map'];
  if (spec.map !== undefined) {
    map = spec.map === 'verdict' ? 'verdict' : validateTypes(spec.map, `${field}.map`);
  }
  const flags = new Set<SetFlag>();
  if (spec.flags !== undefined) {
    if (!Array.isArray(spec.flags)) throw new ValidationError(`${field}.flags`, 'must be an array');
    spec.flags.forEach((f, i) => {
      if (!Object.hasOwn(SET_FLAGS, f) || flags.has(f)) {
        throw new ValidationError(
          `${field}.flags[${i}]`,
          `${JSON.stringify(f)} is not a set flag (${Object.keys(SET_FLAGS).join(', ')}) or repeats one`,
        );
      }
      flags.add(f);
    });
  }
  const interval = flags.has('interval');
  if (interval) {
    key.forEach((t, i) => {
      // Intervals compare keys as big-endian numbers; host-order types would not sort.
      if (t === 'mark' || t === 'ifname') {
        throw new ValidationError(
          key.length > 1 ? `${field}.key[${i}]` : `${field}.key`,
          `${t} keys cannot be intervals`,
        );
      }
    });
  }
  if (spec.timeout !== undefined) {
    validateUint(spec.timeout, `${field}.timeout`, Number.MAX_SAFE_INTEGER, 1);
    if (!flags.has('timeout')) {
      throw new ValidationError(
        `${field}.timeout`,
        "needs flags: ['timeout'] (nft adds it silently)",
      );
    }
  }
  if (spec.comment !== undefined) validateComment(spec.comment, `${field}.comment`);
  return {
    family: spec.family,
    table: spec.table,
    name: spec.name,
    key,
    ...(map !== undefined ? { map } : {}),
    interval,
    timeout: flags.has('timeout'),
  };
}

function typeofConcat(): Buffer {
  return encodeUdata([
    [UDATA_TYPEOF_EXPR, udataU32(EXPR_CONCAT)],
    [UDATA_TYPEOF_DATA, Buffer.alloc(0)],
  ]);
}

/** NFT_MSG_NEWSET for a validated spec, as `nft add set|map` sends it. */
export function setWire(spec: SetSpec, info: SetInfo, flags: number): SetWire {
  let setFlags = 0;
  for (const f of spec.flags ?? []) setFlags |= SET_FLAGS[f];
  if (info.map !== undefined) setFlags |= K.NFT_SET_MAP;
  // Concatenated intervals need the pipapo backend, chosen by NFT_SET_CONCAT.
  if (info.interval && info.key.length > 1) setFlags |= K.NFT_SET_CONCAT;
  const udata: Udata = [
    [
      UDATA_SET_KEYBYTEORDER,
      udataU32(info.key.length === 1 ? NFT_TYPES[info.key[0]!].order : BYTEORDER_INVALID),
    ],
  ];
  const wire: SetWire = {
    flags,
    family: familyNumber(spec.family),
    table: spec.table,
    name: spec.name,
    setFlags,
    keyType: typeId(info.key),
    keyLen: typeLen(info.key),
  };
  if (info.map === 'verdict') {
    wire.dataType = K.NFT_DATA_VERDICT;
    wire.dataLen = 0;
  } else if (info.map) {
    wire.dataType = typeId(info.map);
    wire.dataLen = typeLen(info.map);
  }
  if (info.map !== undefined) {
    const order =
      info.map !== 'verdict' && info.map.length === 1
        ? NFT_TYPES[info.map[0]!].order
        : BYTEORDER_INVALID;
    udata.push([UDATA_SET_DATABYTEORDER, udataU32(order)]);
  }
  if (info.key.length > 1) udata.push([UDATA_SET_KEY_TYPEOF, typeofConcat()]);
  if (info.map !== undefined && info.map !== 'verdict' && info.map.length > 1)
    udata.push([UDATA_SET_DATA_TYPEOF, typeofConcat()]);
  if (info.map !== undefined) udata.push([UDATA_SET_DATA_INTERVAL, udataU32(0)]);
  if (spec.comment !== undefined) udata.push([UDATA_SET_COMMENT, udataString(spec.comment)]);
  if (info.id !== undefined) wire.id = info.id;
  if (spec.flags?.includes('constant') && spec.elements !== undefined)
    wire.size = spec.elements.length;
  if (info.interval && info.key.length > 1)
    wire.concat = info.key.map((t) => pad4(NFT_TYPES[t].len));
  if (spec.timeout !== undefined) wire.timeout = spec.timeout;
  wire.userdata = encodeUdata(udata);
  return wire;
}

/**
 * A set as the kernel reports it, in the model; undefined for anonymous sets
 * (they belong to the rule that uses them) and for sets whose types the
 * model does not name.
 */
export function setFromMsg(m: SetMsg): { set: NftSet; info: SetInfo } | undefined {
  const family = familyName(m.family);
  const setFlags = m.setFlags ?? 0;
  if (!family || (setFlags & K.NFT_SET_ANONYMOUS) !== 0) return undefined;
  if ((setFlags & K.NFT_SET_OBJECT) !== 0) return undefined;
  const key = typesOf(m.keyType ?? 0, m.keyLen ?? 0);
  if (!key) return undefined;
  let map: SetInfo['map'];
  if ((setFlags & K.NFT_SET_MAP) !== 0) {
    if (m.dataType === K.NFT_DATA_VERDICT) map = 'verdict';
    else {
      const data = typesOf(m.dataType ?? 0, m.dataLen ?? 0);
      if (!data) return undefined;
      map = data;
    }
  }
  const set: NftSet = {
    family,
    table: m.table,
    name: m.name,
    key: key.length === 1 ? key[0]! : key,
    handle: m.handle ?? 0,
  };
  if (map !== undefined) set.map = map === 'verdict' || map.length > 1 ? map : map[0]!;
  const flags = (Object.keys(SET_FLAGS) as SetFlag[]).filter(
    (f) => (setFlags & SET_FLAGS[f]) !== 0,
  );
  if (flags.length > 0) set.flags = flags;
  if (m.timeout !== undefined && m.timeout > 0) set.timeout = m.timeout;
  const comment = commentOf(m.userdata, UDATA_SET_COMMENT);
  if (comment !== undefined) set.comment = comment;
  const info: SetInfo = {
    family,
    table: m.table,
    name: m.name,
    key,
    ...(map !== undefined ? { map } : {}),
    interval: (setFlags & K.NFT_SET_INTERVAL) !== 0,
    timeout: (setFlags & K.NFT_SET_TIMEOUT) !== 0,
  };
  return { set, info };
}

/** `inet netplumb ports` */
export function setText(ref: SetRef): string {
  return `${ref.family} ${ref.table} ${ref.name}`;
}

export function setKey(ref: SetRef): string {
  return `${ref.family}\0${ref.table}\0${ref.name}`;
}
