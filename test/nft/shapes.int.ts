/**
 * Every rule shape the builder supports, written to the kernel: `nft list`
 * prints it the way a person would write it in nft syntax, it reads back
 * equal to what was written (plus its handle; counters with values), and
 * `nft -j list ruleset` parses everything netplumb wrote.
 */
import assert from 'node:assert/strict';

import { NetNS, Nft } from '../../lib';
import type { Rule, Stmt } from '../../lib/nft/types';
import { Cleanup, requireSandbox } from '../helpers';
import { chainLines, nftJson } from './oracle';
import { EXTRA_SETS, EXTRA_SHAPES, SHAPE_SETS, SHAPES, type Shape } from './shapes';

const NS = 'np-nft-shapes';

/** Counters read back with their values; a shape written with `counter: true` compares without them. */
function comparable(rule: Rule, shape: Shape): Rule {
  const expr = rule.expr.map((s, i): Stmt => {
    const w = shape.expr[i];
    if ('counter' in s && w && 'counter' in w && w.counter === true) {
      assert.deepEqual(s.counter, { packets: 0, bytes: 0 });
      return { counter: true };
    }
    return s;
  });
  return { ...rule, expr };
}

describe('nftables: every rule shape against the kernel', function () {
  this.timeout(60000);
  const cleanup = new Cleanup();
  let nft: Nft;

  before(async () => {
    requireSandbox();
    const ns = await NetNS.create(NS);
    cleanup.add('delete netns', () => ns.delete());
    nft = await Nft.open(ns);
    cleanup.add('close nft', () => nft.close());
    const tx = nft.transaction();
    tx.addTable({ family: 'inet', name: 't' })
      .addChain({
        family: 'inet',
        table: 't',
        name: 'c',
        type: 'filter',
        hook: 'forward',
        priority: 'filter',
      })
      .addChain({
        family: 'inet',
        table: 't',
        name: 'pre',
        type: 'nat',
        hook: 'prerouting',
        priority: 'dstnat',
      })
      .addChain({
        family: 'inet',
        table: 't',
        name: 'post',
        type: 'nat',
        hook: 'postrouting',
        priority: 'srcnat',
      })
      .addChain({ family: 'inet', table: 't', name: 'reg' })
      .addTable({ family: 'ip', name: 'f4' })
      .addChain({
        family: 'ip',
        table: 'f4',
        name: 'c',
        type: 'filter',
        hook: 'forward',
        priority: 0,
      })
      .addChain({
        family: 'ip',
        table: 'f4',
        name: 'pre',
        type: 'nat',
        hook: 'prerouting',
        priority: 'dstnat',
      })
      .addTable({ family: 'ip6', name: 'f6' })
      .addChain({
        family: 'ip6',
        table: 'f6',
        name: 'c',
        type: 'filter',
        hook: 'input',
        priority: 0,
      });
    for (const s of [...SHAPE_SETS, ...EXTRA_SETS]) tx.addSet(s);
    await tx.commit();
    cleanup.add('delete the tables', () =>
      nft
        .transaction()
        .deleteTable({ family: 'inet', name: 't' })
        .deleteTable({ family: 'ip', name: 'f4' })
        .deleteTable({ family: 'ip6', name: 'f6' })
        .commit(),
    );
  });
  after(() => cleanup.run());

  for (const shape of [...SHAPES, ...EXTRA_SHAPES]) {
    it(`${shape.family} ${shape.table} ${shape.chain}: ${shape.text}`, async () => {
      const ref = { family: shape.family, table: shape.table, chain: shape.chain };
      const { ruleHandles } = await nft
        .transaction()
        .addRule({
          ...ref,
          expr: shape.expr,
          ...(shape.comment !== undefined ? { comment: shape.comment } : {}),
        })
        .commit();
      const handle = ruleHandles[0]!;
      try {
        const lines = await chainLines(NS, shape.family, shape.table, shape.chain);
        assert.deepEqual(lines, [`${shape.text} # handle ${handle}`]);
        const back = (await nft.listRules(ref)).find((r) => r.handle === handle);
        assert.ok(back, 'the rule lists');
        const written: Rule = {
          ...ref,
          expr: shape.expr,
          handle,
          ...(shape.comment !== undefined ? { comment: shape.comment } : {}),
        };
        assert.deepStrictEqual(comparable(back, shape), written);
      } finally {
        await nft
          .transaction()
          .deleteRule({ ...ref, handle })
          .commit();
      }
    });
  }

  it('all shapes at once: nft -j list ruleset parses what netplumb wrote', async () => {
    const tx = nft.transaction();
    for (const shape of SHAPES) {
      tx.addRule({
        family: shape.family,
        table: shape.table,
        chain: shape.chain,
        expr: shape.expr,
        ...(shape.comment !== undefined ? { comment: shape.comment } : {}),
      });
    }
    const { ruleHandles } = await tx.commit();
    assert.equal(ruleHandles.length, SHAPES.length);
    const items = await nftJson(NS);
    assert.equal(items.filter((o) => 'rule' in o).length, SHAPES.length);
    const rules = await nft.listRules();
    assert.equal(rules.length, SHAPES.length);
    await nft
      .transaction()
      .flushTable({ family: 'inet', name: 't' })
      .flushTable({ family: 'ip', name: 'f4' })
      .flushTable({ family: 'ip6', name: 'f6' })
      .commit();
    assert.deepEqual(await nft.listRules(), []);
  });
});
