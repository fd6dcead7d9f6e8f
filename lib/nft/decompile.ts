/**
 * nf_tables expressions back to statements: the inverse of ./compile, and
 * also readable for rules nft wrote. Protocol dependencies that only serve a
 * later match (`meta nfproto ipv4` before `ip saddr`) fold into it, as nft
 * prints them; whatever does not fit a statement stays as `{ raw: [...] }`.
 */
import { K, type ExprWire } from '../binding';
import { formatIp } from '../util/ip';
import { readU32Host, verdictValue } from './common';
import { CMP_OPS, CT_STATES, CT_STATUSES, FIB_TYPES } from './keywords';
import {
  decodePart,
  isAddress,
  isOrdered,
  maskPrefixlen,
  NFT_TYPES,
  pad4,
  PROTOCOLS,
} from './datatypes';
import { regIndex, SELECTORS, selectorOfLoad } from './selectors';
import type { CmpOp, ElemPart, NftFamily, RawExpr, Selector, Stmt } from './types';
import type { DecodedExpr } from './wire';

type Typed<N extends string> = Extract<ExprWire, { name: N }>;

function as<
  N extends
    | 'payload'
    | 'cmp'
    | 'meta'
    | 'ct'
    | 'fib'
    | 'lookup'
    | 'immediate'
    | 'counter'
    | 'nat'
    | 'masq'
    | 'redir'
    | 'reject'
    | 'bitwise'
    | 'range',
>(e: DecodedExpr | undefined, name: N): Typed<N> | undefined {
  return e !== undefined && e.name === name && e.partial !== true
    ? (e as unknown as Typed<N>)
    : undefined;
}

function opName(code: number): CmpOp | undefined {
  return (Object.keys(CMP_OPS) as CmpOp[]).find((k) => CMP_OPS[k] === code);
}

function names<T extends string>(
  table: Readonly<Record<T, number>>,
  bits: number,
): T[] | undefined {
  const out = (Object.keys(table) as T[]).filter((k) => (bits & table[k]) !== 0);
  const covered = out.reduce((acc, k) => acc | table[k], 0);
  return covered === bits && out.length > 0 ? out : undefined;
}

interface Parsed {
  stmt: Stmt;
  /** expressions consumed */
  n: number;
  /** selectors it reads (for dependency folding) */
  reads?: Selector[];
  /** it needs the transport protocol (reject with tcp reset) */
  needsL4?: boolean;
}

class Decompiler {
  private l3: 'ipv4' | 'ipv6' | undefined;
  private l4: number | undefined;
  /** out index of a `meta nfproto` / `meta l4proto` match that may be a dependency */
  private l3Dep: number | undefined;
  private l4Dep: number | undefined;
  private readonly out: (Stmt | null)[] = [];

  constructor(
    private readonly family: NftFamily,
    private readonly e: readonly DecodedExpr[],
  ) {
    if (family === 'ip') this.l3 = 'ipv4';
    if (family === 'ip6') this.l3 = 'ipv6';
  }

  run(): Stmt[] {
    let raw: RawExpr[] = [];
    for (let i = 0; i < this.e.length;) {
      const p = this.parse(i);
      if (!p) {
        raw.push(toRaw(this.e[i]!));
        i++;
        continue;
      }
      if (raw.length > 0) {
        this.out.push({ raw });
        raw = [];
      }
      this.fold(p);
      this.out.push(p.stmt);
      i += p.n;
    }
    if (raw.length > 0) this.out.push({ raw });
    return this.out.filter((s): s is Stmt => s !== null);
  }

  /** Drops the dependency matches `p` relied on, and notes what `p` establishes. */
  private fold(p: Parsed): void {
    const defs = (p.reads ?? []).map((s) => SELECTORS[s]);
    if (
      this.family === 'inet' &&
      defs.some((d) => d.l3 !== undefined) &&
      this.l3Dep !== undefined
    ) {
      this.out[this.l3Dep] = null;
      this.l3Dep = undefined;
    }
    if ((p.needsL4 || defs.some((d) => d.l4 !== undefined)) && this.l4Dep !== undefined) {
      this.out[this.l4Dep] = null;
      this.l4Dep = undefined;
    }
    const s = p.stmt;
    if ('match' in s && 'value' in s && s.op === undefined && !Array.isArray(s.value)) {
      if (s.match === 'meta nfproto' && typeof s.value === 'string') {
        this.l3 = s.value === 'ipv6' ? 'ipv6' : 'ipv4';
        this.l3Dep = this.out.length;
      } else if (
        s.match === 'meta l4proto' ||
        s.match === 'ip protocol' ||
        s.match === 'ip6 nexthdr'
      ) {
        this.l4 = num(s.value);
        this.l4Dep = s.match === 'meta l4proto' ? this.out.length : undefined;
      }
    }
  }

  private parse(i: number): Parsed | undefined {
    const e = this.e[i]!;
    return (
      this.loads(i) ??
      this.ct(i) ??
      this.fib(i) ??
      this.immediate(i) ??
      (as(e, 'counter')
        ? {
            stmt: {
              counter: {
                packets: as(e, 'counter')!.packets ?? 0,
                bytes: as(e, 'counter')!.bytes ?? 0,
              },
            },
            n: 1,
          }
        : undefined) ??
      this.masq(i) ??
      (as(e, 'redir') && Object.keys(e.attrs).length === 0
        ? { stmt: { redirect: true }, n: 1 }
        : undefined) ??
      this.reject(i)
    );
  }

  /** A load, or several into consecutive registers, and what consumes them. */
  private loads(i: number): Parsed | undefined {
    const loads: { sel: Selector; len: number; reg: number }[] = [];
    let j = i;
    const ctx = { l3: this.l3, l4: this.l4 };
    for (;;) {
      const e = this.e[j];
      const p = as(e, 'payload') ?? as(e, 'meta') ?? as(e, 'ct');
      if (!p || p.dreg === undefined || ('sreg' in p && p.sreg !== undefined)) break;
      const s = selectorOfLoad(p, ctx);
      if (!s) break;
      const reg = regIndex(p.dreg);
      const prev = loads[loads.length - 1];
      if (prev && reg !== prev.reg + pad4(prev.len) / 4) break;
      if (!prev && reg !== 0) break;
      loads.push({ ...s, reg });
      j++;
    }
    if (loads.length === 0) return undefined;
    const full = loads.every((l) => l.len === SELECTORS[l.sel].load.len);
    const lookup = as(this.e[j], 'lookup');
    if (lookup && full && regIndex(lookup.sreg) === 0) {
      const sels = loads.map((l) => l.sel);
      const key: Selector | Selector[] = sels.length === 1 ? sels[0]! : sels;
      const n = j - i + 1;
      if (lookup.dreg === undefined) {
        const inv = ((lookup.flags ?? 0) & K.NFT_LOOKUP_F_INV) !== 0;
        if (((lookup.flags ?? 0) & ~K.NFT_LOOKUP_F_INV) !== 0) return undefined;
        return {
          stmt: inv ? { match: key, op: '!=', set: lookup.set } : { match: key, set: lookup.set },
          n,
          reads: sels,
        };
      }
      if (lookup.flags) return undefined;
      if (lookup.dreg === K.NFT_REG_VERDICT)
        return { stmt: { vmap: { key, set: lookup.set } }, n, reads: sels };
      const nat = this.natAfter(j + 1, regIndex(lookup.dreg), { key, set: lookup.set });
      return nat ? { ...nat, n: n + 1, reads: sels } : undefined;
    }
    if (loads.length !== 1) return undefined;
    const m = this.matchAfter(loads[0]!.sel, loads[0]!.len, j);
    return m ? { stmt: m.stmt, n: j - i + m.n, reads: [loads[0]!.sel] } : undefined;
  }

  /** The comparison(s) after a load of `len` bytes of `sel` into register 0. */
  private matchAfter(sel: Selector, len: number, j: number): { stmt: Stmt; n: number } | undefined {
    const kind = SELECTORS[sel].kind;
    const fullLen = SELECTORS[sel].load.len;
    const at = (k: number): DecodedExpr | undefined => this.e[j + k];
    const reg0 = (r: number | undefined): boolean => r !== undefined && regIndex(r) === 0;
    const bw = as(at(0), 'bitwise');
    if (bw) {
      const c = as(at(1), 'cmp');
      if (!c || !reg0(bw.sreg) || !reg0(bw.dreg) || !reg0(c.sreg) || !bw.mask || !bw.xor || bw.op)
        return undefined;
      if (!isAddress(kind) || bw.xor.some((b) => b !== 0) || len !== fullLen) return undefined;
      const prefixlen = maskPrefixlen(bw.mask);
      const op = opName(c.op);
      if (prefixlen < 0 || (op !== '==' && op !== '!=')) return undefined;
      return { stmt: withOp({ match: sel, value: `${formatIp(c.data)}/${prefixlen}` }, op), n: 2 };
    }
    const c = as(at(0), 'cmp');
    if (c && reg0(c.sreg)) {
      const c2 = as(at(1), 'cmp');
      if (
        isOrdered(kind) &&
        c.op === K.NFT_CMP_GTE &&
        c2 &&
        reg0(c2.sreg) &&
        c2.op === K.NFT_CMP_LTE
      ) {
        return {
          stmt: {
            match: sel,
            value: [num(decodePart(kind, c.data)), num(decodePart(kind, c2.data))],
          },
          n: 2,
        };
      }
      const op = opName(c.op);
      if (!op) return undefined;
      if (len < fullLen) {
        if (!isAddress(kind) || c.data.length !== len || (op !== '==' && op !== '!='))
          return undefined;
        const padded = Buffer.concat([c.data, Buffer.alloc(fullLen - len)]);
        return { stmt: withOp({ match: sel, value: `${formatIp(padded)}/${len * 8}` }, op), n: 1 };
      }
      if (
        kind === 'ifname' &&
        c.data.length < K.IFNAMSIZ &&
        c.data.length > 0 &&
        c.data[c.data.length - 1] !== 0
      ) {
        return { stmt: withOp({ match: sel, value: `${c.data.toString()}*` }, op), n: 1 };
      }
      const want = kind === 'ifname' ? K.IFNAMSIZ : SELECTORS[sel].load.len;
      if (c.data.length !== want) return undefined;
      return { stmt: withOp({ match: sel, value: decodePart(kind, c.data) }, op), n: 1 };
    }
    const r = as(at(0), 'range');
    if (r && reg0(r.sreg) && isOrdered(kind)) {
      const value: [number, number] = [num(decodePart(kind, r.from)), num(decodePart(kind, r.to))];
      if (r.op === K.NFT_RANGE_NEQ) return { stmt: { match: sel, op: '!=', value }, n: 1 };
      if (r.op === K.NFT_RANGE_EQ) return { stmt: { match: sel, value }, n: 1 };
    }
    return undefined;
  }

  /** `ct state established,related` and friends. */
  private ct(i: number): Parsed | undefined {
    const load = as(this.e[i], 'ct');
    if (!load || load.dreg === undefined || regIndex(load.dreg) !== 0) return undefined;
    const which =
      load.key === K.NFT_CT_STATE
        ? 'ct state'
        : load.key === K.NFT_CT_STATUS
          ? 'ct status'
          : undefined;
    if (!which) return undefined;
    const table: Readonly<Record<string, number>> = which === 'ct state' ? CT_STATES : CT_STATUSES;
    const bw = as(this.e[i + 1], 'bitwise');
    if (bw) {
      const c = as(this.e[i + 2], 'cmp');
      if (!c || !bw.mask || c.op !== K.NFT_CMP_NEQ || readU32Host(c.data) !== 0 || bw.op)
        return undefined;
      if (!bw.xor || readU32Host(bw.xor) !== 0) return undefined;
      const v = names(table, readU32Host(bw.mask));
      return v ? { stmt: { match: which, value: v } as Stmt, n: 3 } : undefined;
    }
    const c = as(this.e[i + 1], 'cmp');
    if (!c || (c.op !== K.NFT_CMP_EQ && c.op !== K.NFT_CMP_NEQ) || c.data.length !== 4)
      return undefined;
    const v = names(table, readU32Host(c.data));
    return v
      ? { stmt: { match: which, op: c.op === K.NFT_CMP_EQ ? '==' : '!=', value: v } as Stmt, n: 2 }
      : undefined;
  }

  private fib(i: number): Parsed | undefined {
    const f = as(this.e[i], 'fib');
    const c = as(this.e[i + 1], 'cmp');
    if (!f || !c || f.flags !== K.NFTA_FIB_F_DADDR || f.result !== K.NFT_FIB_RESULT_ADDRTYPE)
      return undefined;
    if (regIndex(f.dreg) !== 0 || regIndex(c.sreg) !== 0 || c.data.length !== 4) return undefined;
    const type = (Object.keys(FIB_TYPES) as (keyof typeof FIB_TYPES)[]).find(
      (k) => FIB_TYPES[k] === readU32Host(c.data),
    );
    const op = opName(c.op);
    if (!type || (op !== '==' && op !== '!=')) return undefined;
    return { stmt: withOp({ match: 'fib daddr type', value: type }, op) as Stmt, n: 2 };
  }

  /** Verdicts, and immediates feeding a mark, NAT or redirect. */
  private immediate(i: number): Parsed | undefined {
    const im = as(this.e[i], 'immediate');
    if (!im) return undefined;
    if (im.dreg === K.NFT_REG_VERDICT) {
      const v = verdictValue(im.verdict);
      return v ? { stmt: v, n: 1 } : undefined;
    }
    if (!im.data) return undefined;
    const next = this.e[i + 1];
    const setter = as(next, 'meta') ?? as(next, 'ct');
    if (
      setter &&
      setter.sreg === im.dreg &&
      setter.dreg === undefined &&
      setter.key === (setter.name === 'meta' ? K.NFT_META_MARK : K.NFT_CT_MARK) &&
      im.data.length === 4
    ) {
      return {
        stmt: {
          set: setter.name === 'meta' ? 'meta mark' : 'ct mark',
          value: readU32Host(im.data),
        },
        n: 2,
      };
    }
    const redir = as(next, 'redir');
    if (
      redir &&
      redir.regProtoMin === im.dreg &&
      (redir.regProtoMax ?? im.dreg) === im.dreg &&
      im.data.length === 2
    ) {
      if (((redir.flags ?? 0) & ~K.NF_NAT_RANGE_PROTO_SPECIFIED) !== 0) return undefined;
      return { stmt: { redirect: { port: im.data.readUInt16BE(0) } }, n: 2 };
    }
    const nat = this.natAfter(i, -1, undefined);
    return nat;
  }

  /**
   * A NAT statement at `j`: after a map lookup into register `mapReg`, or
   * fed by the immediates starting at `j`.
   */
  private natAfter(
    j: number,
    mapReg: number,
    map: { key: Selector | Selector[]; set: string } | undefined,
  ): Parsed | undefined {
    let k = j;
    const imm: Typed<'immediate'>[] = [];
    if (!map) {
      for (let x = 0; x < 2; x++) {
        const im = as(this.e[k], 'immediate');
        if (!im || !im.data || im.dreg === K.NFT_REG_VERDICT) break;
        imm.push(im);
        k++;
      }
    }
    const nat = as(this.e[k], 'nat');
    // The kernel reports max registers equal to the min ones it was given.
    if (!nat || (nat.regAddrMax ?? nat.regAddrMin) !== nat.regAddrMin) return undefined;
    if ((nat.regProtoMax ?? nat.regProtoMin) !== nat.regProtoMin) return undefined;
    const family =
      nat.family === K.NFPROTO_IPV4 ? 'ip' : nat.family === K.NFPROTO_IPV6 ? 'ip6' : undefined;
    const type =
      nat.type === K.NFT_NAT_DNAT ? 'dnat' : nat.type === K.NFT_NAT_SNAT ? 'snat' : undefined;
    if (!family || !type) return undefined;
    if (((nat.flags ?? 0) & ~(K.NF_NAT_RANGE_PROTO_SPECIFIED | K.NF_NAT_RANGE_MAP_IPS)) !== 0)
      return undefined;
    const addrLen = NFT_TYPES[family === 'ip' ? 'ipv4_addr' : 'ipv6_addr'].len;
    if (map) {
      if (nat.regAddrMin === undefined || regIndex(nat.regAddrMin) !== mapReg) return undefined;
      if (nat.regProtoMin !== undefined && regIndex(nat.regProtoMin) !== mapReg + pad4(addrLen) / 4)
        return undefined;
      return { stmt: { nat: type, family, map }, n: 1 };
    }
    const byReg = (r: number | undefined): Typed<'immediate'> | undefined =>
      imm.find((im) => im.dreg === r);
    const stmt: Stmt = { nat: type, family };
    let used = 0;
    if (nat.regAddrMin !== undefined) {
      const a = byReg(nat.regAddrMin);
      if (!a?.data || a.data.length !== addrLen) return undefined;
      stmt.addr = formatIp(a.data);
      used++;
    }
    if (nat.regProtoMin !== undefined) {
      const p = byReg(nat.regProtoMin);
      if (!p?.data || p.data.length !== 2) return undefined;
      stmt.port = p.data.readUInt16BE(0);
      used++;
    }
    if (used !== imm.length || used === 0) return undefined;
    return { stmt, n: k - j + 1 };
  }

  private masq(i: number): Parsed | undefined {
    const m = as(this.e[i], 'masq');
    if (!m || m.regProtoMin !== undefined || m.regProtoMax !== undefined) return undefined;
    const flags = m.flags ?? 0;
    if (flags === 0) return { stmt: { masquerade: true }, n: 1 };
    const bits = {
      fullyRandom: K.NF_NAT_RANGE_PROTO_RANDOM_FULLY,
      random: K.NF_NAT_RANGE_PROTO_RANDOM,
      persistent: K.NF_NAT_RANGE_PERSISTENT,
    };
    const o: { fullyRandom?: boolean; random?: boolean; persistent?: boolean } = {};
    let covered = 0;
    for (const [k, bit] of Object.entries(bits)) {
      if ((flags & bit) !== 0) {
        o[k as keyof typeof bits] = true;
        covered |= bit;
      }
    }
    return covered === flags ? { stmt: { masquerade: o }, n: 1 } : undefined;
  }

  private reject(i: number): Parsed | undefined {
    const r = as(this.e[i], 'reject');
    if (!r) return undefined;
    if (r.type === K.NFT_REJECT_TCP_RST && this.l4 === K.IPPROTO_TCP)
      return { stmt: { reject: 'tcp reset' }, n: 1, needsL4: true };
    if (
      r.type === K.NFT_REJECT_ICMPX_UNREACH &&
      ['inet', 'bridge', 'netdev'].includes(this.family)
    ) {
      if (r.code === K.NFT_REJECT_ICMPX_PORT_UNREACH) return { stmt: { reject: true }, n: 1 };
      if (r.code === K.NFT_REJECT_ICMPX_ADMIN_PROHIBITED)
        return { stmt: { reject: 'icmpx admin-prohibited' }, n: 1 };
    }
    if (r.type === K.NFT_REJECT_ICMP_UNREACH) {
      if (this.family === 'ip' && r.code === K.ICMP_PORT_UNREACH)
        return { stmt: { reject: true }, n: 1 };
      if (this.family === 'ip6' && r.code === K.ICMPV6_PORT_UNREACH)
        return { stmt: { reject: true }, n: 1 };
    }
    return undefined;
  }
}

function num(v: ElemPart): number {
  return typeof v === 'number' ? v : (PROTOCOLS[v] ?? -1);
}

function withOp<T extends { match: string; value: unknown }>(s: T, op: CmpOp): T & { op?: CmpOp } {
  return op === '==' ? s : { ...s, op };
}

function toRaw(e: DecodedExpr): RawExpr {
  const attrs: Record<number, number | string | Buffer> = {};
  for (const [k, v] of Object.entries(e.attrs)) attrs[Number(k)] = v;
  return { name: e.name, attrs };
}

/** The statements of a rule's expressions. */
export function decompileRule(family: NftFamily, exprs: readonly DecodedExpr[]): Stmt[] {
  return new Decompiler(family, exprs).run();
}
