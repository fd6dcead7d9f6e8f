/**
 * Helpers for the nf_tables golden tests: fixtures captured from nft by
 * test/fixtures/capture-nft.sh, and a netlink attribute tree to compare
 * batches with the few deliberate differences normalised away.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';

import { K } from '../../lib/binding';
import { ROOT } from '../helpers';

const FIXTURES = path.join(ROOT, 'test', 'fixtures', 'nft');

export interface NftFixture {
  name: string;
  command: string;
  script?: string;
  vars?: Record<string, number>;
  batch?: string;
  requests?: string[];
  replies?: string[];
}

export function fixture(name: string): NftFixture {
  return JSON.parse(readFileSync(path.join(FIXTURES, `${name}.json`), 'utf8')) as NftFixture;
}

interface Attr {
  type: number;
  data: Buffer;
  nested?: Attr[];
}

interface Msg {
  type: number;
  flags: number;
  header: Buffer;
  attrs: Attr[];
}

function parseAttrs(buf: Buffer): Attr[] {
  const out: Attr[] = [];
  for (let o = 0; o + 4 <= buf.length;) {
    const len = buf.readUInt16LE(o);
    const type = buf.readUInt16LE(o + 2);
    if (len < 4) break;
    const data = buf.subarray(o + 4, o + len);
    const a: Attr = { type, data };
    if ((type & K.NLA_F_NESTED) !== 0) a.nested = parseAttrs(data);
    out.push(a);
    o += (len + 3) & ~3;
  }
  return out;
}

function writeAttrs(attrs: Attr[]): Buffer {
  return Buffer.concat(
    attrs.map((a) => {
      const data = a.nested ? writeAttrs(a.nested) : a.data;
      const h = Buffer.alloc(4);
      h.writeUInt16LE(data.length + 4, 0);
      h.writeUInt16LE(a.type, 2);
      const pad = Buffer.alloc(((data.length + 3) & ~3) - data.length);
      return Buffer.concat([h, data, pad]);
    }),
  );
}

function parseBatch(buf: Buffer): Msg[] {
  const out: Msg[] = [];
  for (let o = 0; o + 16 <= buf.length;) {
    const len = buf.readUInt32LE(o);
    out.push({
      type: buf.readUInt16LE(o + 4),
      flags: buf.readUInt16LE(o + 6),
      header: buf.subarray(o + 16, o + 20),
      attrs: parseAttrs(buf.subarray(o + 20, o + len)),
    });
    o += (len + 3) & ~3;
  }
  return out;
}

const NFT_MSG_NEWRULE = 6;
const NFT_MSG_NEWSETELEM = 12;
const NFT_MSG_DELSETELEM = 14;
const NFTA_RULE_EXPRESSIONS = 4;
const NFTA_EXPR_NAME = 1;
const NFTA_EXPR_DATA = 2;
const NFTA_LOOKUP_SET_ID = 4;
const NFTA_SET_ELEM_LIST_SET_ID = 4;

export interface Differences {
  /**
   * nft also names existing sets by an id of its own (NFTA_*_SET_ID); the
   * kernel finds them by name first, and netplumb sends ids only for sets
   * created in the same batch.
   */
  setIds?: boolean;
  /**
   * Before the ranges of an interval set nft sends an end element at key 0
   * (closing the "gap" below the first range); the kernel does not need it
   * and netplumb does not send it.
   */
  leadingZeroEnd?: boolean;
}

const NFTA_SET_ELEM_LIST_ELEMENTS = 3;
const NFTA_SET_ELEM_FLAGS = 3;
const NFTA_SET_ELEM_KEY = 1;

function isZeroEnd(elem: Attr): boolean {
  const flags = elem.nested?.find((a) => a.type === NFTA_SET_ELEM_FLAGS);
  const key = elem.nested?.find((a) => (a.type & ~K.NLA_F_NESTED) === NFTA_SET_ELEM_KEY);
  const value = key?.nested?.[0]?.data;
  return (
    flags !== undefined &&
    (flags.data.readUInt32BE(0) & K.NFT_SET_ELEM_INTERVAL_END) !== 0 &&
    value !== undefined &&
    value.every((b) => b === 0)
  );
}

/**
 * One line per message: type, flags without NLM_F_ACK / NLM_F_ECHO (netplumb
 * asks for an ACK of every change, and the echo of new rules for their
 * handles; nft asks for neither), nfgenmsg and attributes. Sequence numbers
 * and port ids are left out.
 */
export function normalise(hex: Buffer | string, diff: Differences = {}): string[] {
  const buf = typeof hex === 'string' ? Buffer.from(hex, 'hex') : hex;
  return parseBatch(buf).map((m) => {
    const sub = m.type & 0xff;
    let attrs = m.attrs;
    if (diff.setIds && (sub === NFT_MSG_NEWSETELEM || sub === NFT_MSG_DELSETELEM)) {
      attrs = attrs.filter((a) => (a.type & ~K.NLA_F_NESTED) !== NFTA_SET_ELEM_LIST_SET_ID);
    }
    if (diff.leadingZeroEnd && sub === NFT_MSG_NEWSETELEM) {
      for (const a of attrs) {
        if ((a.type & ~K.NLA_F_NESTED) !== NFTA_SET_ELEM_LIST_ELEMENTS || !a.nested) continue;
        if (a.nested[0] && isZeroEnd(a.nested[0])) a.nested = a.nested.slice(1);
        // nft numbers list elements 1, 2, ...
        a.nested = a.nested.map((e, i) => ({ ...e, type: (i + 1) | K.NLA_F_NESTED }));
      }
    }
    if (diff.setIds && sub === NFT_MSG_NEWRULE) {
      for (const a of attrs) {
        if ((a.type & ~K.NLA_F_NESTED) !== NFTA_RULE_EXPRESSIONS || !a.nested) continue;
        for (const elem of a.nested) {
          const name = elem.nested
            ?.find((x) => x.type === NFTA_EXPR_NAME)
            ?.data.toString()
            .replace(/\0+$/, '');
          const data = elem.nested?.find((x) => (x.type & ~K.NLA_F_NESTED) === NFTA_EXPR_DATA);
          if (name === 'lookup' && data?.nested)
            data.nested = data.nested.filter((x) => x.type !== NFTA_LOOKUP_SET_ID);
        }
      }
    }
    const flags = m.flags & ~(K.NLM_F_ACK | K.NLM_F_ECHO);
    return `type=0x${m.type.toString(16)} flags=0x${flags.toString(16)} ${m.header.toString('hex')} ${writeAttrs(attrs).toString('hex')}`;
  });
}

/** Asserts netplumb's batch equals nft's (as captured in fixture `name`). */
export function assertSameBatch(name: string, ours: Buffer, diff: Differences = {}): void {
  const f = fixture(name);
  assert.ok(f.batch, `fixture ${name} has no batch`);
  assert.deepEqual(
    normalise(ours, diff),
    normalise(f.batch, diff),
    `batch differs from \`${f.command}\``,
  );
}
