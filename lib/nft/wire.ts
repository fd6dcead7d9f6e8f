/**
 * What the addon's nf_tables decoders return (native/nft/*.cc): kernel-level
 * objects, turned into the typed model (./types) by the per-kind modules.
 */
import type { ExprWire, VerdictWire } from '../binding';
import type { RawAttr } from '../rtnl/common';

/** An expression as decoded: typed fields plus every attribute as sent. */
export type DecodedExpr = ExprWire & {
  /** 4-byte attributes as numbers (host order), the rest as Buffers */
  attrs: Record<number, number | Buffer>;
  /** an unknown expression kind or attribute: only `attrs` is complete */
  partial?: true;
};

interface MsgBase {
  /** NFPROTO_* from nfgenmsg */
  family: number;
  unknown?: RawAttr[];
}

export interface TableMsg extends MsgBase {
  kind: 'table';
  name: string;
  handle: number;
  tableFlags?: number;
  use?: number;
  userdata?: Buffer;
  owner?: number;
}

export interface ChainMsg extends MsgBase {
  kind: 'chain';
  table: string;
  name: string;
  handle: number;
  hook?: { num: number; priority: number; dev?: string };
  policy?: number;
  type?: string;
  use?: number;
  chainFlags?: number;
  userdata?: Buffer;
}

export interface RuleMsg extends MsgBase {
  kind: 'rule';
  table: string;
  chain: string;
  handle: number;
  position?: number;
  exprs?: DecodedExpr[];
  userdata?: Buffer;
  id?: number;
}

export interface SetMsg extends MsgBase {
  kind: 'set';
  table: string;
  name: string;
  handle?: number;
  setFlags?: number;
  keyType?: number;
  keyLen?: number;
  dataType?: number;
  dataLen?: number;
  policy?: number;
  size?: number;
  concat?: number[];
  id?: number;
  timeout?: number;
  gcInterval?: number;
  userdata?: Buffer;
  objType?: number;
}

export interface ElemMsg {
  key?: Buffer;
  keyEnd?: Buffer;
  data?: Buffer;
  verdict?: VerdictWire;
  flags?: number;
  timeout?: number;
  expiration?: number;
  userdata?: Buffer;
  unknown?: RawAttr[];
}

export interface SetElemMsg extends MsgBase {
  kind: 'setelem';
  table: string;
  set: string;
  elements: ElemMsg[];
}

export interface GenMsg extends MsgBase {
  kind: 'gen';
  id: number;
  procPid?: number;
  procName?: string;
}

export type NftMsg = TableMsg | ChainMsg | RuleMsg | SetMsg | SetElemMsg | GenMsg;
