/**
 * Properties of the nftables builder (lib/nft): rules made of generated
 * statements go through the compiler and the native encoder, and the
 * native decoder and decompiler read them back as the same statements;
 * set elements do the same; anything else given as a statement is a
 * ValidationError naming it. No kernel.
 */
import assert from 'node:assert/strict';

import fc from 'fast-check';

import { K, native } from '../../lib/binding';
import { F_CREATE, familyNumber } from '../../lib/nft/common';
import { protocolValue } from '../../lib/nft/datatypes';
import { elementsFromMsgs, elementsWire } from '../../lib/nft/elements';
import { compileRuleSpec, ruleFromMsg, ruleWire } from '../../lib/nft/rules';
import { validateSetSpec, type SetInfo } from '../../lib/nft/sets';
import type { NftType, RuleSpec, SetElement, Stmt } from '../../lib/nft/types';
import type { ElemMsg, RuleMsg } from '../../lib/nft/wire';
import { formatIp, formatMac } from '../../lib/util/ip';
import { nasty, refused, runs } from '../props';

const env = { set: (): SetInfo | undefined => undefined };

function decodeAll<T>(buf: Buffer): T[] {
  return native.decode(K.NETLINK_NETFILTER, buf).map((m) => m.object as T);
}

const port = fc.integer({ min: 0, max: 65535 });
const v4 = fc.uint8Array({ minLength: 4, maxLength: 4 }).map((b) => formatIp(Buffer.from(b)));
const v6 = fc
  .array(fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 0xffff })), {
    minLength: 8,
    maxLength: 8,
  })
  .map((gs) => {
    const b = Buffer.alloc(16);
    gs.forEach((g, i) => b.writeUInt16BE(g, i * 2));
    return formatIp(b);
  });
/** A prefix written as nft would print it: the network address and its length. */
function prefix(bytes: number): fc.Arbitrary<string> {
  return fc
    .tuple(
      fc.uint8Array({ minLength: bytes, maxLength: bytes }),
      fc.integer({ min: 1, max: bytes * 8 - 1 }),
    )
    .map(([b, len]) => {
      const buf = Buffer.from(b);
      for (let bit = len; bit < bytes * 8; bit++) buf[bit >> 3]! &= ~(0x80 >> (bit & 7));
      return `${formatIp(buf)}/${len}`;
    });
}
const ifname = fc.stringMatching(/^[a-z][a-z0-9]{0,14}$/);
const mark = fc.integer({ min: 0, max: 0xffffffff });
const op = fc.constantFrom(undefined, '!=' as const);
const withOp = <T extends object>(s: T, o: '!=' | undefined): T =>
  o === undefined ? s : { ...s, op: o };

/**
 * Statements that read back as written, for an inet table whose rule reads
 * one network protocol (`l3`) and one transport protocol (`l4`): a rule
 * mixing them is refused (its own test below).
 */
function matches(l3: 'ip' | 'ip6', l4: 'tcp' | 'udp'): fc.Arbitrary<Stmt> {
  const ports = [`${l4} dport`, `${l4} sport`] as ('tcp dport' | 'udp dport')[];
  const addrs = [`${l3} saddr`, `${l3} daddr`] as ('ip saddr' | 'ip6 saddr')[];
  const addr = l3 === 'ip' ? fc.oneof(v4, prefix(4)) : fc.oneof(v6, prefix(16));
  return fc.oneof(
    fc
      .tuple(fc.constantFrom(...ports), port, op)
      .map(([m, v, o]) => withOp({ match: m, value: v }, o)),
    fc
      .tuple(fc.constantFrom(...ports), port, port)
      .filter(([, a, b]) => a < b)
      .map(([m, a, b]) => ({ match: m, value: [a, b] as [number, number] })),
    fc
      .tuple(fc.constantFrom(...addrs), addr, op)
      .map(([m, v, o]) => withOp({ match: m, value: v }, o)),
    fc
      .tuple(fc.constantFrom('iifname', 'oifname') as fc.Arbitrary<'iifname'>, ifname, op)
      .map(([m, v, o]) => withOp({ match: m, value: v }, o)),
    fc
      .tuple(fc.constantFrom('meta mark', 'ct mark') as fc.Arbitrary<'meta mark'>, mark, op)
      .map(([m, v, o]) => withOp({ match: m, value: v }, o)),
    fc
      .tuple(
        // Read back in the order of the kernel's bits, as nft prints them.
        fc.subarray(['invalid', 'established', 'related', 'new', 'untracked'] as 'new'[], {
          minLength: 1,
        }),
        op,
      )
      .map(([v, o]) => withOp({ match: 'ct state' as const, value: v }, o)),
    fc
      .tuple(fc.integer({ min: 0, max: 2 ** 40 }), fc.integer({ min: 0, max: 2 ** 40 }))
      .map(([packets, bytes]) => ({ counter: { packets, bytes } })),
    mark.map((v) => ({ set: 'meta mark' as const, value: v })),
    mark.map((v) => ({ set: 'ct mark' as const, value: v })),
  );
}
const match: fc.Arbitrary<Stmt> = fc
  .tuple(
    fc.constantFrom('ip' as const, 'ip6' as const),
    fc.constantFrom('tcp' as const, 'udp' as const),
  )
  .chain(([l3, l4]) => matches(l3, l4));
const stmts: fc.Arbitrary<Stmt[]> = fc
  .tuple(
    fc.constantFrom('ip' as const, 'ip6' as const),
    fc.constantFrom('tcp' as const, 'udp' as const),
  )
  .chain(([l3, l4]) => fc.array(matches(l3, l4), { maxLength: 5 }));
const verdict: fc.Arbitrary<Stmt> = fc.oneof(
  fc.constantFrom('accept', 'drop', 'continue', 'return').map((v) => ({ verdict: v as 'accept' })),
  ifname.map((c) => ({ jump: c })),
  ifname.map((c) => ({ goto: c })),
);
const rule: fc.Arbitrary<RuleSpec> = fc
  .record(
    {
      stmts,
      verdict,
      comment: fc
        .string({ maxLength: 40 })
        .filter((c) => Buffer.byteLength(c) <= 127 && !c.includes('\0')),
    },
    { requiredKeys: ['stmts'] },
  )
  .map(({ stmts, verdict: v, comment }) => ({
    family: 'inet' as const,
    table: 't',
    chain: 'c',
    expr: v === undefined ? stmts : [...stmts, v],
    ...(comment !== undefined ? { comment } : {}),
  }));

describe('properties: the nftables builder (lib/nft)', () => {
  it('rules: compiled, encoded, decoded and decompiled back to the same statements', () => {
    fc.assert(
      fc.property(rule, (spec) => {
        const exprs = compileRuleSpec(spec, env);
        const msgs = decodeAll<RuleMsg>(
          native.encode('newrule', ruleWire(spec, exprs, F_CREATE())),
        );
        assert.equal(msgs.length, 1);
        const back = ruleFromMsg({ ...msgs[0]!, handle: 1 })!;
        assert.deepEqual(back.expr, spec.expr);
        assert.equal(back.comment, spec.comment);
        assert.equal(back.table, 't');
        assert.equal(back.chain, 'c');
      }),
      runs(500),
    );
  });

  it('anything else given as a statement is a ValidationError naming it', () => {
    const junk = fc.oneof(
      fc.anything(),
      fc.object(),
      fc.record({
        match: fc.oneof(nasty, fc.constantFrom('tcp dport', 'ip saddr', 'ct state')),
        value: fc.anything(),
      }),
      fc.record({ verdict: fc.oneof(nasty, fc.anything()) }),
      fc.record({ jump: fc.oneof(nasty, fc.anything()) }),
      fc.record({
        nat: fc.constantFrom('dnat', 'snat', 'x'),
        family: fc.anything(),
        addr: fc.anything(),
      }),
      fc.record({ counter: fc.anything() }),
      fc.record({ raw: fc.anything() }),
      fc.record({ set: fc.oneof(nasty, fc.constant('meta mark')), value: fc.anything() }),
    );
    fc.assert(
      fc.property(fc.array(match, { maxLength: 1 }), junk, (before, s) => {
        const spec = { family: 'inet', table: 't', chain: 'c', expr: [...before, s] } as RuleSpec;
        try {
          compileRuleSpec(spec, env);
        } catch {
          refused(
            () => compileRuleSpec(spec, env),
            new RegExp(`^rule\\.expr\\[${before.length}\\]`),
          );
        }
      }),
      runs(1000),
    );
  });

  const keyTypes: [NftType, fc.Arbitrary<string | number>][] = [
    ['ipv4_addr', v4],
    ['ipv6_addr', v6],
    ['inet_service', port],
    ['inet_proto', fc.integer({ min: 0, max: 255 }).map(protocolValue)],
    ['mark', mark],
    ['ifname', ifname],
    [
      'ether_addr',
      fc.uint8Array({ minLength: 6, maxLength: 6 }).map((b) => formatMac(Buffer.from(b))),
    ],
  ];

  it('set elements (single and concatenated keys): encoded and read back as given', () => {
    const shape = fc
      .array(fc.constantFrom(...keyTypes), { minLength: 1, maxLength: 3 })
      .chain((types) =>
        fc.tuple(
          fc.constant(types.map(([t]) => t)),
          fc.uniqueArray(fc.tuple(...types.map(([, arb]) => arb)), {
            minLength: 1,
            maxLength: 20,
            selector: (parts) => JSON.stringify(parts),
          }),
        ),
      );
    fc.assert(
      fc.property(shape, ([types, keys]) => {
        const info = validateSetSpec({
          family: 'inet',
          table: 't',
          name: 's',
          key: types.length === 1 ? types[0]! : types,
        });
        const elements: SetElement[] = keys.map((parts) => ({
          key: parts.length === 1 ? parts[0]! : parts,
        }));
        const wire = elementsWire(info, elements, 'elements');
        const buf = native.encode('newsetelem', {
          flags: F_CREATE(),
          family: familyNumber('inet'),
          table: 't',
          set: 's',
          elements: wire,
        });
        const msgs = decodeAll<{ elements: ElemMsg[] }>(buf).flatMap((m) => m.elements);
        const back = elementsFromMsgs(info, msgs);
        const sortKey = (e: SetElement): string => JSON.stringify(e.key);
        assert.deepEqual(back.map(sortKey).sort(), elements.map(sortKey).sort());
      }),
      runs(300),
    );
  });
});
