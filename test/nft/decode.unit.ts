/**
 * Decoding: the replies nft got for `nft list ruleset` over everything the
 * capture script wrote (test/fixtures/nft/list-ruleset.json) read back into
 * the typed model. Every rule shape nft wrote must read back as the
 * statements the builder writes for it. No kernel, no root.
 */
import assert from 'node:assert/strict';
import { isDeepStrictEqual } from 'node:util';

import { K, native } from '../../lib/binding';
import { chainFromMsg } from '../../lib/nft/chains';
import { elementsFromMsgs } from '../../lib/nft/elements';
import { ruleFromMsg } from '../../lib/nft/rules';
import { setFromMsg } from '../../lib/nft/sets';
import { tableFromMsg } from '../../lib/nft/tables';
import type { Rule, SetElement, Stmt } from '../../lib/nft/types';
import type { ChainMsg, NftMsg, RuleMsg, SetElemMsg, SetMsg, TableMsg } from '../../lib/nft/wire';
import { fixture } from './golden';
import { SHAPES } from './shapes';

const msgs: NftMsg[] = fixture('list-ruleset')
  .replies!.flatMap((hex) => native.decode(K.NETLINK_NETFILTER, Buffer.from(hex, 'hex')))
  .map((m) => m.object as NftMsg)
  .filter((o) => typeof (o as { kind?: unknown }).kind === 'string');

function of<T extends NftMsg>(kind: T['kind']): T[] {
  return msgs.filter((m): m is T => m.kind === kind);
}

/** Counters read back with values; the shapes write `counter: true`. */
function withoutCounts(expr: Stmt[], keep: Stmt[]): Stmt[] {
  return expr.map((s, i) => {
    const k = keep[i];
    return 'counter' in s && k && 'counter' in k && k.counter === true ? { counter: true } : s;
  });
}

describe('nftables replies decode into the typed model', () => {
  const rules = of<RuleMsg>('rule').map((m) => ruleFromMsg(m)!);

  it('reads tables with flags, comments and use counts', () => {
    const tables = of<TableMsg>('table').map((m) => tableFromMsg(m));
    assert.deepEqual(
      tables.map((t) => t && `${t.family} ${t.name}`),
      ['inet t', 'ip f4', 'ip6 f6', 'inet nat1'],
    );
    assert.equal(typeof tables[0]!.use, 'number');
  });

  it('reads base chains with named priorities, numbers where nft has no name', () => {
    const chains = of<ChainMsg>('chain').map((m) => chainFromMsg(m)!);
    const byName = (name: string): unknown =>
      chains.find((c) => c.table === 't' && c.name === name);
    assert.deepEqual(byName('c'), {
      family: 'inet',
      table: 't',
      name: 'c',
      handle: (byName('c') as { handle: number }).handle,
      type: 'filter',
      hook: 'forward',
      priority: 'filter',
      policy: 'accept',
    });
    const input = byName('in') as Record<string, unknown>;
    assert.equal(input.priority, 10);
    assert.equal(input.policy, 'drop');
    assert.equal(input.comment, 'bc');
    const pre = byName('pre') as Record<string, unknown>;
    assert.equal(pre.type, 'nat');
    assert.equal(pre.priority, 'dstnat');
    assert.deepEqual(Object.keys(byName('reg') as object).sort(), [
      'family',
      'handle',
      'name',
      'table',
    ]);
  });

  for (const s of SHAPES) {
    it(`reads back \`${s.text}\` as the builder writes it`, () => {
      const found = rules.filter(
        (r) => r.family === s.family && r.table === s.table && r.chain === s.chain,
      );
      const match = found.find(
        (r: Rule) =>
          isDeepStrictEqual(withoutCounts(r.expr, s.expr), s.expr) && r.comment === s.comment,
      );
      assert.ok(
        match,
        `no rule reads back as ${JSON.stringify(s.expr)}; candidates:\n${found.map((r) => JSON.stringify(r.expr)).join('\n')}`,
      );
    });
  }

  it('reads counters with their values', () => {
    const r = rules.find((x) => x.expr.length === 1 && 'counter' in x.expr[0]!);
    assert.deepEqual(r?.expr, [{ counter: { packets: 5, bytes: 100 } }]);
  });

  describe('sets and elements', () => {
    const sets = of<SetMsg>('set').flatMap((m) => setFromMsg(m) ?? []);
    const elems = of<SetElemMsg>('setelem');
    const elementsOf = (name: string): SetElement[] => {
      const s = sets.find((x) => x.set.table === 't' && x.set.name === name);
      assert.ok(s, `set ${name}`);
      return elementsFromMsgs(
        s.info,
        elems.filter((m) => m.table === 't' && m.set === name).flatMap((m) => m.elements),
      );
    };
    const setNamed = (name: string): Record<string, unknown> => {
      const s = sets.find((x) => x.set.table === 't' && x.set.name === name);
      assert.ok(s);
      const { handle: _h, ...rest } = s.set;
      return rest;
    };

    it('reads set and map types, flags, timeouts, comments', () => {
      assert.deepEqual(setNamed('s4'), {
        family: 'inet',
        table: 't',
        name: 's4',
        key: 'ipv4_addr',
        comment: 'sc',
      });
      assert.deepEqual(setNamed('ports'), {
        family: 'inet',
        table: 't',
        name: 'ports',
        key: ['ipv4_addr', 'inet_service'],
        map: ['ipv4_addr', 'inet_service'],
      });
      assert.deepEqual(setNamed('vm'), {
        family: 'inet',
        table: 't',
        name: 'vm',
        key: 'ipv4_addr',
        map: 'verdict',
      });
      assert.deepEqual(setNamed('tm'), {
        family: 'inet',
        table: 't',
        name: 'tm',
        key: 'ipv4_addr',
        flags: ['timeout'],
        timeout: 30000,
      });
      assert.deepEqual(setNamed('iv').flags, ['interval']);
      assert.deepEqual(setNamed('mm').map, 'ipv4_addr');
      assert.deepEqual(setNamed('pr').key, 'inet_proto');
    });

    it('reads elements of every key type', () => {
      assert.deepEqual(elementsOf('s4'), [{ key: '10.0.0.2' }]);
      assert.deepEqual(elementsOf('ports'), [{ key: ['10.0.0.1', 8080], value: ['10.0.1.2', 80] }]);
      assert.deepEqual(elementsOf('vm'), [
        { key: '10.0.0.1', value: { verdict: 'accept' } },
        { key: '10.0.0.3', value: { jump: 'reg' } },
      ]);
      assert.deepEqual(elementsOf('pairs'), [
        { key: ['np0', 'eth0'], value: { goto: 'reg' } },
        { key: ['np0', 'np0'], value: { verdict: 'drop' } },
      ]);
      assert.deepEqual(elementsOf('s6'), [{ key: 'fd00::1' }]);
      assert.deepEqual(elementsOf('mk'), [{ key: 0x10 }]);
      assert.deepEqual(elementsOf('ifs'), [{ key: 'eth0' }]);
      assert.deepEqual(elementsOf('eth'), [{ key: '02:42:ac:11:00:02' }]);
      assert.deepEqual(elementsOf('pr'), [{ key: 'tcp' }, { key: 'udp' }]);
      assert.deepEqual(elementsOf('mm'), [{ key: 1, value: '10.0.0.1' }]);
    });

    it('reads interval elements back as prefixes and ranges (nft sends a leading 0 end)', () => {
      assert.deepEqual(elementsOf('iv'), [
        { key: '10.0.0.0/24' },
        { key: ['10.1.0.1', '10.1.0.5'] },
      ]);
    });

    it('leaves out the timeout of elements that use the set default', () => {
      assert.deepEqual(elementsOf('tm'), [{ key: '10.0.0.8' }]);
    });
  });
});
