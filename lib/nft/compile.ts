/**
 * Statements to nf_tables expressions, the way nft linearizes them, so a
 * rule from the builder is byte-identical to the same rule typed into nft:
 * protocol dependencies are added once per rule (`meta nfproto ipv4` before
 * the first `ip` match in an inet table, `meta l4proto tcp` before the first
 * `tcp` match), byte-aligned prefixes load fewer bytes, other prefixes
 * mask, `==` ranges are two comparisons and `!=` ranges one range
 * expression, concatenations fill consecutive 4-byte registers.
 */
import { K, type ExprWire } from '../binding';
import { ValidationError } from '../errors';
import {
  familyNumber,
  u32Host,
  validateName,
  validateUint,
  validateVerdictValue,
  verdictWire,
} from './common';
import {
  encodePart,
  isAddress,
  isOrdered,
  maskBytes,
  NFT_TYPES,
  pad4,
  parsePrefix,
  prefixMask,
} from './datatypes';
import { CMP_OPS, CT_STATES, CT_STATUSES, FIB_TYPES } from './keywords';
import { isSelector, loadExpr, regWire, SELECTORS, setTypeOf, type SelectorDef } from './selectors';
import type { SetInfo } from './sets';
import type { CmpOp, FibAddrType, NftFamily, Selector, Stmt } from './types';

/** What compiling needs to know about the sets a rule names. */
export interface CompileEnv {
  /** the set `name` of the rule's table, when known */
  set(name: string): SetInfo | undefined;
  /** validating only: sets not known yet exist in the kernel (checked at commit) */
  partial?: boolean;
}

/** Transport protocols that have ports, so NAT may rewrite them. */
const PORTED = new Set([K.IPPROTO_TCP, K.IPPROTO_UDP, K.IPPROTO_SCTP, K.IPPROTO_UDPLITE]);

const L3_FAMILIES: readonly NftFamily[] = ['ip', 'ip6', 'inet'];

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function flagBits<T extends string>(
  table: Readonly<Record<T, number>>,
  value: unknown,
  field: string,
): number {
  if (!Array.isArray(value) || value.length === 0)
    throw new ValidationError(
      field,
      `must be a non-empty list of ${Object.keys(table).join(', ')}`,
    );
  let bits = 0;
  value.forEach((v, i) => {
    if (typeof v !== 'string' || !Object.hasOwn(table, v))
      throw new ValidationError(
        `${field}[${i}]`,
        `${JSON.stringify(v)} is not one of ${Object.keys(table).join(', ')}`,
      );
    const bit = table[v as T];
    if ((bits & bit) !== 0) throw new ValidationError(`${field}[${i}]`, `repeats ${v}`);
    bits |= bit;
  });
  return bits;
}

class Compiler {
  readonly out: ExprWire[] = [];
  /** the network protocol the rule has established so far */
  private l3: 'ipv4' | 'ipv6' | undefined;
  /** the transport protocol the rule has established so far */
  private l4: number | undefined;

  constructor(
    private readonly family: NftFamily,
    private readonly env: CompileEnv,
  ) {
    if (family === 'ip') this.l3 = 'ipv4';
    if (family === 'ip6') this.l3 = 'ipv6';
  }

  private cmp(op: number, data: Buffer, r = 0): void {
    this.out.push({ name: 'cmp', sreg: regWire(r), op, data });
  }

  /** Adds what `def` depends on, as nft does, once per rule. */
  private deps(sel: Selector, field: string): void {
    const def: SelectorDef = SELECTORS[sel];
    if (sel === 'meta nfproto' && this.family !== 'inet')
      throw new ValidationError(field, 'meta nfproto is only useful in inet tables');
    if ((def.l3 !== undefined || def.load.name === 'payload') && !L3_FAMILIES.includes(this.family))
      throw new ValidationError(
        field,
        `${sel} matches need an ip, ip6 or inet table, not ${this.family}`,
      );
    if (def.l3 !== undefined && this.l3 !== def.l3) {
      if (this.family !== 'inet' || this.l3 !== undefined) {
        throw new ValidationError(
          field,
          `${sel} conflicts with the rule's ${this.l3 ?? this.family} protocol`,
        );
      }
      this.out.push(loadExpr(SELECTORS['meta nfproto'].load, 0));
      this.cmp(K.NFT_CMP_EQ, encodePart('nfproto', def.l3, field));
      this.l3 = def.l3;
    }
    if (def.l4 !== undefined && this.l4 !== def.l4) {
      if (this.l4 !== undefined) {
        throw new ValidationError(
          field,
          `${sel} conflicts with an earlier protocol ${this.l4} match`,
        );
      }
      this.out.push(loadExpr(SELECTORS['meta l4proto'].load, 0));
      this.cmp(K.NFT_CMP_EQ, Buffer.from([def.l4]));
      this.l4 = def.l4;
    }
  }

  private opOf(op: unknown, field: string, allowed: readonly CmpOp[]): number {
    if (op === undefined) return K.NFT_CMP_EQ;
    if (typeof op !== 'string' || !allowed.includes(op as CmpOp))
      throw new ValidationError(`${field}.op`, `must be one of ${allowed.join(' ')}`);
    return CMP_OPS[op as CmpOp];
  }

  private match(sel: Selector, op: unknown, value: unknown, field: string): void {
    const def = SELECTORS[sel];
    const kind = def.kind;
    const vfield = `${field}.value`;
    this.deps(sel, field);
    if (Array.isArray(value)) {
      if (!isOrdered(kind))
        throw new ValidationError(vfield, `ranges need ports or protocols, not ${sel}`);
      const code = this.opOf(op, field, ['==', '!=']);
      if (value.length !== 2) throw new ValidationError(vfield, 'a range is [from, to]');
      const from = encodePart(kind, value[0], `${vfield}[0]`);
      const to = encodePart(kind, value[1], `${vfield}[1]`);
      if (Buffer.compare(from, to) > 0)
        throw new ValidationError(vfield, 'range ends before it starts');
      this.out.push(loadExpr(def.load, 0));
      if (code === K.NFT_CMP_EQ) {
        this.cmp(K.NFT_CMP_GTE, from);
        this.cmp(K.NFT_CMP_LTE, to);
      } else {
        this.out.push({ name: 'range', sreg: regWire(0), op: K.NFT_RANGE_NEQ, from, to });
      }
      return;
    }
    if (isAddress(kind) && typeof value === 'string' && value.includes('/')) {
      const code = this.opOf(op, field, ['==', '!=']);
      const { bytes, prefixlen } = parsePrefix(kind, value, vfield);
      const full = bytes.length * 8;
      if (prefixlen === full) {
        this.out.push(loadExpr(def.load, 0));
        this.cmp(code, bytes);
      } else if (prefixlen % 8 === 0 && prefixlen > 0) {
        this.out.push(loadExpr(def.load, 0, prefixlen / 8));
        this.cmp(code, bytes.subarray(0, prefixlen / 8));
      } else {
        const mask = prefixMask(bytes.length, prefixlen);
        this.out.push(loadExpr(def.load, 0));
        this.out.push({
          name: 'bitwise',
          sreg: regWire(0),
          dreg: regWire(0),
          len: bytes.length,
          mask,
          xor: Buffer.alloc(bytes.length),
        });
        this.cmp(code, maskBytes(bytes, prefixlen));
      }
      return;
    }
    if (kind === 'ifname' && typeof value === 'string' && value.endsWith('*')) {
      const code = this.opOf(op, field, ['==', '!=']);
      const prefix = Buffer.from(value.slice(0, -1));
      if (prefix.length === 0 || prefix.length > K.IFNAMSIZ - 1 || value.slice(0, -1).includes('*'))
        throw new ValidationError(vfield, 'a wildcard is 1 to 15 bytes followed by one *');
      this.out.push(loadExpr(def.load, 0));
      this.cmp(code, prefix);
      return;
    }
    const code = this.opOf(
      op,
      field,
      isOrdered(kind) ? ['==', '!=', '<', '<=', '>', '>='] : ['==', '!='],
    );
    const bytes = encodePart(kind, value, vfield);
    this.out.push(loadExpr(def.load, 0));
    this.cmp(code, bytes);
    if (code === K.NFT_CMP_EQ && def.provides === 'l3')
      this.l3 = bytes[0] === K.NFPROTO_IPV6 ? 'ipv6' : 'ipv4';
    if (code === K.NFT_CMP_EQ && def.provides === 'l4') this.l4 = bytes[0];
  }

  private ctBits(
    key: number,
    table: Readonly<Record<string, number>>,
    s: Record<string, unknown>,
    field: string,
  ): void {
    const bits = flagBits(table, s.value, `${field}.value`);
    const code = s.op === undefined ? undefined : this.opOf(s.op, field, ['==', '!=']);
    this.out.push({ name: 'ct', key, dreg: regWire(0) });
    if (code === undefined) {
      // No operator: any of the flags (nft's implicit flag test).
      this.out.push({
        name: 'bitwise',
        sreg: regWire(0),
        dreg: regWire(0),
        len: 4,
        mask: u32Host(bits),
        xor: Buffer.alloc(4),
      });
      this.cmp(K.NFT_CMP_NEQ, Buffer.alloc(4));
    } else {
      this.cmp(code, u32Host(bits));
    }
  }

  /** Loads selectors into consecutive registers from 0; returns their total length. */
  private loads(sels: Selector[], field: string): number {
    for (const sel of sels) this.deps(sel, field);
    let r = 0;
    for (const sel of sels) {
      const load = SELECTORS[sel].load;
      this.out.push(loadExpr(load, r));
      r += pad4(load.len) / 4;
    }
    return r * 4;
  }

  private selectors(value: unknown, field: string): Selector[] {
    const list = Array.isArray(value) ? (value as unknown[]) : [value];
    if (list.length === 0) throw new ValidationError(field, 'must name at least one selector');
    list.forEach((s, i) => {
      if (!isSelector(s))
        throw new ValidationError(
          Array.isArray(value) ? `${field}[${i}]` : field,
          `${JSON.stringify(s)} is not a selector`,
        );
      if (setTypeOf(s) === undefined)
        throw new ValidationError(field, `sets cannot hold ${s} values`);
    });
    return list as Selector[];
  }

  /** The set a lookup names, checked against the selectors when it is known. */
  private lookupSet(
    name: unknown,
    sels: Selector[],
    field: string,
  ): { name: string; info?: SetInfo } {
    const set = validateName(name, `${field}.set`);
    const info = this.env.set(set);
    if (info) {
      const want = sels.map((s) => setTypeOf(s)!);
      if (want.length !== info.key.length || want.some((t, i) => t !== info.key[i])) {
        throw new ValidationError(
          `${field}.set`,
          `@${set} has key ${info.key.join(' . ')}; the statement reads ${sels.join(' . ')} (${want.join(' . ')})`,
        );
      }
    }
    return info ? { name: set, info } : { name: set };
  }

  private lookup(
    set: { name: string; info?: SetInfo },
    extra: { dreg?: number; flags?: number },
  ): void {
    const e: ExprWire = { name: 'lookup', sreg: regWire(0), set: set.name };
    if (extra.dreg !== undefined) e.dreg = extra.dreg;
    if (set.info?.id !== undefined) e.setId = set.info.id;
    if (extra.flags !== undefined) e.flags = extra.flags;
    this.out.push(e);
  }

  private needPorts(field: string): void {
    if (this.l4 === undefined || !PORTED.has(this.l4))
      throw new ValidationError(
        field,
        'a port needs an earlier transport protocol match (e.g. tcp dport 80)',
      );
  }

  private nat(s: Record<string, unknown>, field: string): void {
    const type = s.nat === 'dnat' ? K.NFT_NAT_DNAT : s.nat === 'snat' ? K.NFT_NAT_SNAT : undefined;
    if (type === undefined) throw new ValidationError(`${field}.nat`, 'must be dnat or snat');
    if (s.family !== 'ip' && s.family !== 'ip6')
      throw new ValidationError(`${field}.family`, 'must be ip or ip6');
    if (!L3_FAMILIES.includes(this.family) || (this.family !== 'inet' && this.family !== s.family))
      throw new ValidationError(
        `${field}.family`,
        `${s.family} NAT does not fit a ${this.family} table`,
      );
    const addrType = s.family === 'ip' ? 'ipv4_addr' : 'ipv6_addr';
    const nfproto = familyNumber(s.family);
    if (s.map !== undefined) {
      if (s.addr !== undefined || s.port !== undefined)
        throw new ValidationError(
          `${field}.map`,
          'a map gives the address and port; drop addr and port',
        );
      if (!isObject(s.map)) throw new ValidationError(`${field}.map`, 'must be { key, set }');
      const sels = this.selectors(s.map.key, `${field}.map.key`);
      const set = this.lookupSet(s.map.set, sels, `${field}.map`);
      const value = set.info?.map;
      if (
        set.info &&
        (value === undefined ||
          value === 'verdict' ||
          value[0] !== addrType ||
          value.length > 2 ||
          (value.length === 2 && value[1] !== 'inet_service'))
      ) {
        throw new ValidationError(
          `${field}.map.set`,
          `@${set.name} must map to ${addrType} or ${addrType} . inet_service for ${s.family} NAT`,
        );
      }
      if (!set.info && !this.env.partial)
        throw new ValidationError(`${field}.map.set`, `@${set.name} is not known`);
      this.loads(sels, `${field}.map.key`);
      this.lookup(set, { dreg: regWire(0) });
      const e: ExprWire = { name: 'nat', type, family: nfproto, regAddrMin: regWire(0) };
      if (Array.isArray(value) && value.length === 2) {
        this.needPorts(`${field}.map`);
        e.regProtoMin = regWire(pad4(NFT_TYPES[addrType].len) / 4);
      }
      this.out.push(e);
      return;
    }
    if (s.addr === undefined && s.port === undefined)
      throw new ValidationError(field, 'needs addr, port or map');
    const e: ExprWire = { name: 'nat', type, family: nfproto };
    let r = 0;
    if (s.addr !== undefined) {
      if (typeof s.addr === 'string' && s.addr.includes('/'))
        throw new ValidationError(`${field}.addr`, 'must be one address');
      this.out.push({
        name: 'immediate',
        dreg: regWire(r),
        data: encodePart(addrType, s.addr, `${field}.addr`),
      });
      e.regAddrMin = regWire(r);
      r += 4;
    }
    if (s.port !== undefined) {
      this.needPorts(`${field}.port`);
      validateUint(s.port, `${field}.port`, 65535, 1);
      this.out.push({
        name: 'immediate',
        dreg: regWire(r),
        data: encodePart('inet_service', s.port, `${field}.port`),
      });
      e.regProtoMin = regWire(r);
      e.flags = K.NF_NAT_RANGE_PROTO_SPECIFIED;
    }
    this.out.push(e);
  }

  private reject(value: unknown, field: string): void {
    const icmpx = ['inet', 'bridge', 'netdev'].includes(this.family);
    if (value === true) {
      if (this.family === 'ip')
        this.out.push({
          name: 'reject',
          type: K.NFT_REJECT_ICMP_UNREACH,
          code: K.ICMP_PORT_UNREACH,
        });
      else if (this.family === 'ip6')
        this.out.push({
          name: 'reject',
          type: K.NFT_REJECT_ICMP_UNREACH,
          code: K.ICMPV6_PORT_UNREACH,
        });
      else if (icmpx)
        this.out.push({
          name: 'reject',
          type: K.NFT_REJECT_ICMPX_UNREACH,
          code: K.NFT_REJECT_ICMPX_PORT_UNREACH,
        });
      else throw new ValidationError(field, `reject is not available in ${this.family} tables`);
      return;
    }
    if (value === 'tcp reset') {
      this.deps('tcp dport', field);
      this.out.push({ name: 'reject', type: K.NFT_REJECT_TCP_RST, code: 0 });
      return;
    }
    const codes: Record<string, number> = {
      'icmpx port-unreachable': K.NFT_REJECT_ICMPX_PORT_UNREACH,
      'icmpx admin-prohibited': K.NFT_REJECT_ICMPX_ADMIN_PROHIBITED,
    };
    if (typeof value === 'string' && Object.hasOwn(codes, value)) {
      if (!icmpx)
        throw new ValidationError(
          field,
          `icmpx needs an inet, bridge or netdev table, not ${this.family}`,
        );
      this.out.push({ name: 'reject', type: K.NFT_REJECT_ICMPX_UNREACH, code: codes[value]! });
      return;
    }
    throw new ValidationError(
      field,
      "must be true, 'tcp reset', 'icmpx port-unreachable' or 'icmpx admin-prohibited'",
    );
  }

  stmt(s: unknown, field: string): void {
    if (!isObject(s)) throw new ValidationError(field, 'must be a statement object');
    if ('match' in s && 'set' in s) {
      const sels = this.selectors(s.match, `${field}.match`);
      const code = this.opOf(s.op, field, ['==', '!=']);
      const set = this.lookupSet(s.set, sels, field);
      this.loads(sels, `${field}.match`);
      this.lookup(set, code === K.NFT_CMP_NEQ ? { flags: K.NFT_LOOKUP_F_INV } : {});
    } else if ('match' in s) {
      if (s.match === 'ct state') this.ctBits(K.NFT_CT_STATE, CT_STATES, s, field);
      else if (s.match === 'ct status') this.ctBits(K.NFT_CT_STATUS, CT_STATUSES, s, field);
      else if (s.match === 'fib daddr type') {
        const code = this.opOf(s.op, field, ['==', '!=']);
        if (typeof s.value !== 'string' || !Object.hasOwn(FIB_TYPES, s.value))
          throw new ValidationError(
            `${field}.value`,
            `must be one of ${Object.keys(FIB_TYPES).join(', ')}`,
          );
        this.out.push({
          name: 'fib',
          flags: K.NFTA_FIB_F_DADDR,
          result: K.NFT_FIB_RESULT_ADDRTYPE,
          dreg: regWire(0),
        });
        this.cmp(code, u32Host(FIB_TYPES[s.value as FibAddrType]));
      } else if (isSelector(s.match)) {
        this.match(s.match, s.op, s.value, field);
      } else {
        throw new ValidationError(`${field}.match`, `${JSON.stringify(s.match)} is not a selector`);
      }
    } else if ('counter' in s) {
      if (s.counter === true) this.out.push({ name: 'counter' });
      else if (isObject(s.counter)) {
        this.out.push({
          name: 'counter',
          bytes: validateUint(s.counter.bytes, `${field}.counter.bytes`, Number.MAX_SAFE_INTEGER),
          packets: validateUint(
            s.counter.packets,
            `${field}.counter.packets`,
            Number.MAX_SAFE_INTEGER,
          ),
        });
      } else throw new ValidationError(`${field}.counter`, 'must be true or { packets, bytes }');
    } else if ('set' in s) {
      if (s.set !== 'meta mark' && s.set !== 'ct mark')
        throw new ValidationError(`${field}.set`, "must be 'meta mark' or 'ct mark'");
      this.out.push({
        name: 'immediate',
        dreg: regWire(0),
        data: encodePart('mark', s.value, `${field}.value`),
      });
      if (s.set === 'meta mark')
        this.out.push({ name: 'meta', key: K.NFT_META_MARK, sreg: regWire(0) });
      else this.out.push({ name: 'ct', key: K.NFT_CT_MARK, sreg: regWire(0) });
    } else if ('verdict' in s || 'jump' in s || 'goto' in s) {
      this.out.push({
        name: 'immediate',
        dreg: K.NFT_REG_VERDICT,
        verdict: verdictWire(validateVerdictValue(s, field)),
      });
    } else if ('reject' in s) {
      this.reject(s.reject, `${field}.reject`);
    } else if ('nat' in s) {
      this.nat(s, field);
    } else if ('masquerade' in s) {
      this.masquerade(s.masquerade, `${field}.masquerade`);
    } else if ('redirect' in s) {
      if (s.redirect === true) this.out.push({ name: 'redir' });
      else if (isObject(s.redirect)) {
        this.needPorts(`${field}.redirect.port`);
        validateUint(s.redirect.port, `${field}.redirect.port`, 65535, 1);
        this.out.push({
          name: 'immediate',
          dreg: regWire(0),
          data: encodePart('inet_service', s.redirect.port, `${field}.redirect.port`),
        });
        this.out.push({
          name: 'redir',
          regProtoMin: regWire(0),
          flags: K.NF_NAT_RANGE_PROTO_SPECIFIED,
        });
      } else throw new ValidationError(`${field}.redirect`, 'must be true or { port }');
    } else if ('vmap' in s) {
      if (!isObject(s.vmap)) throw new ValidationError(`${field}.vmap`, 'must be { key, set }');
      const sels = this.selectors(s.vmap.key, `${field}.vmap.key`);
      const set = this.lookupSet(s.vmap.set, sels, `${field}.vmap`);
      if (set.info && set.info.map !== 'verdict')
        throw new ValidationError(`${field}.vmap.set`, `@${set.name} is not a verdict map`);
      this.loads(sels, `${field}.vmap.key`);
      this.lookup(set, { dreg: K.NFT_REG_VERDICT });
    } else if ('raw' in s) {
      this.raw(s.raw, `${field}.raw`);
    } else {
      throw new ValidationError(field, 'is not a statement the builder knows');
    }
  }

  private masquerade(v: unknown, field: string): void {
    if (v === true) {
      this.out.push({ name: 'masq' });
      return;
    }
    if (!isObject(v))
      throw new ValidationError(field, 'must be true or { fullyRandom?, random?, persistent? }');
    const bits = {
      fullyRandom: K.NF_NAT_RANGE_PROTO_RANDOM_FULLY,
      random: K.NF_NAT_RANGE_PROTO_RANDOM,
      persistent: K.NF_NAT_RANGE_PERSISTENT,
    };
    let flags = 0;
    for (const [k, val] of Object.entries(v)) {
      if (!Object.hasOwn(bits, k) || typeof val !== 'boolean')
        throw new ValidationError(
          `${field}.${k}`,
          'is not a masquerade flag (fullyRandom, random, persistent: boolean)',
        );
      if (val) flags |= bits[k as keyof typeof bits];
    }
    this.out.push(flags === 0 ? { name: 'masq' } : { name: 'masq', flags });
  }

  private raw(list: unknown, field: string): void {
    if (!Array.isArray(list) || list.length === 0)
      throw new ValidationError(field, 'must be a non-empty list');
    list.forEach((e, i) => {
      const f = `${field}[${i}]`;
      if (!isObject(e) || typeof e.name !== 'string' || e.name === '' || !isObject(e.attrs))
        throw new ValidationError(f, 'must be { name, attrs }');
      const attrs: Record<number, number | string | Buffer> = {};
      for (const [k, v] of Object.entries(e.attrs)) {
        if (!/^\d+$/.test(k) || Number(k) < 1 || Number(k) > 0x7fff)
          throw new ValidationError(`${f}.attrs`, `${k} is not an attribute number`);
        if (typeof v === 'number') validateUint(v, `${f}.attrs[${k}]`, 0xffffffff);
        else if (typeof v !== 'string' && !Buffer.isBuffer(v))
          throw new ValidationError(`${f}.attrs[${k}]`, 'must be a number, string or Buffer');
        attrs[Number(k)] = v;
      }
      this.out.push({ name: e.name, attrs });
    });
  }
}

/** The expressions of a rule's statements; throws ValidationError naming `field`.expr[i]. */
export function compileRule(
  family: NftFamily,
  stmts: readonly Stmt[],
  env: CompileEnv,
  field = 'rule',
): ExprWire[] {
  if (!Array.isArray(stmts))
    throw new ValidationError(`${field}.expr`, 'must be an array of statements');
  const c = new Compiler(family, env);
  stmts.forEach((s, i) => {
    c.stmt(s, `${field}.expr[${i}]`);
  });
  return c.out;
}
