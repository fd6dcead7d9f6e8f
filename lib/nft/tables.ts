/**
 * Tables: `nft add table`, `nft delete table`, `nft flush table`,
 * `nft list tables`.
 */
import { K, type TableWire } from '../binding';
import { ValidationError } from '../errors';
import {
  commentOf,
  commentUdata,
  familyName,
  familyNumber,
  validateComment,
  validateFamily,
  validateName,
} from './common';
import type { Table, TableRef, TableSpec } from './types';
import type { TableMsg } from './wire';

type TableFlag = NonNullable<TableSpec['flags']>[number];

/**
 * NFT_TABLE_F_PERSIST is newer than some uapi headers; what NFT_TABLE_F_MASK
 * adds beyond DORMANT and OWNER is it (0 when the headers predate it).
 */
const PERSIST = K.NFT_TABLE_F_MASK & ~(K.NFT_TABLE_F_DORMANT | K.NFT_TABLE_F_OWNER);

const TABLE_FLAGS: Readonly<Record<TableFlag, number>> = {
  dormant: K.NFT_TABLE_F_DORMANT,
  owner: K.NFT_TABLE_F_OWNER,
  persist: PERSIST,
};

export function validateTableRef(ref: unknown, field = 'table'): TableRef {
  if (typeof ref !== 'object' || ref === null)
    throw new ValidationError(field, 'must be an object');
  const r = ref as Partial<TableRef>;
  return {
    family: validateFamily(r.family, `${field}.family`),
    name: validateName(r.name, `${field}.name`),
  };
}

export function validateTableSpec(spec: TableSpec, field = 'table'): void {
  validateTableRef(spec, field);
  if (spec.flags !== undefined) {
    if (!Array.isArray(spec.flags)) throw new ValidationError(`${field}.flags`, 'must be an array');
    spec.flags.forEach((f, i) => {
      if (!Object.hasOwn(TABLE_FLAGS, f)) {
        throw new ValidationError(
          `${field}.flags[${i}]`,
          `${JSON.stringify(f)} is not a table flag (${Object.keys(TABLE_FLAGS).join(', ')})`,
        );
      }
    });
    if (spec.flags.includes('persist') && PERSIST === 0) {
      throw new ValidationError(
        `${field}.flags`,
        "'persist' is unknown to the kernel headers netplumb was built with",
      );
    }
    if (spec.flags.includes('persist') && !spec.flags.includes('owner')) {
      throw new ValidationError(`${field}.flags`, "'persist' needs 'owner'");
    }
  }
  if (spec.comment !== undefined) validateComment(spec.comment, `${field}.comment`);
}

/** NFT_MSG_NEWTABLE as `nft add table` sends it (flags always, 0 included). */
export function tableWire(spec: TableSpec, flags: number): TableWire {
  let tableFlags = 0;
  for (const f of spec.flags ?? []) tableFlags |= TABLE_FLAGS[f];
  const wire: TableWire = {
    flags,
    family: familyNumber(spec.family),
    name: spec.name,
    tableFlags,
  };
  const userdata = commentUdata(spec.comment);
  if (userdata) wire.userdata = userdata;
  return wire;
}

export function tableRefWire(ref: TableRef, flags: number): TableWire {
  return { flags, family: familyNumber(ref.family), name: ref.name };
}

/** A table as the kernel reports it, in the model (undefined for an unknown family). */
export function tableFromMsg(m: TableMsg): Table | undefined {
  const family = familyName(m.family);
  if (!family) return undefined;
  const t: Table = { family, name: m.name, handle: m.handle };
  const flags = (Object.keys(TABLE_FLAGS) as TableFlag[]).filter(
    (f) => TABLE_FLAGS[f] !== 0 && ((m.tableFlags ?? 0) & TABLE_FLAGS[f]) !== 0,
  );
  if (flags.length > 0) t.flags = flags;
  const comment = commentOf(m.userdata);
  if (comment !== undefined) t.comment = comment;
  if (m.use !== undefined) t.use = m.use;
  return t;
}

/** `inet netplumb` */
export function tableText(ref: TableRef): string {
  return `${ref.family} ${ref.name}`;
}
