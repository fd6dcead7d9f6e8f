/**
 * Rules the builder does not model, written by nft itself, read back
 * without loss: known parts as statements, the rest as `{ raw }`; and raw
 * expressions written by netplumb reach the kernel as given.
 */
import assert from 'node:assert/strict';

import { NetNS, Nft } from '../../lib';
import type { Stmt } from '../../lib/nft/types';
import { Cleanup, inNs, requireSandbox } from '../helpers';
import { chainLines, nftJson } from './oracle';

const NS = 'np-nft-foreign';
const C = { family: 'inet', table: 'foreign', chain: 'c' } as const;

describe('nftables: rules nft wrote, and raw expressions', function () {
  this.timeout(30000);
  const cleanup = new Cleanup();
  let nft: Nft;

  before(async () => {
    requireSandbox();
    const ns = await NetNS.create(NS);
    cleanup.add('delete netns', () => ns.delete());
    nft = await Nft.open(ns);
    cleanup.add('close nft', () => nft.close());
    await inNs(NS, 'nft', ['add table inet foreign; add chain inet foreign c']);
    cleanup.add('delete the table', () =>
      nft.transaction().deleteTable({ family: 'inet', name: 'foreign' }).commit(),
    );
  });
  after(() => cleanup.run());

  const cases: [string, Stmt[]][] = [
    ['log level info accept', [{ raw: [{ name: 'log', attrs: { 5: 6 } }] }, { verdict: 'accept' }]],
    [
      'tcp dport { 80, 443 } accept',
      [{ match: 'tcp dport', set: '__set0' }, { verdict: 'accept' }],
    ],
    [
      'ip saddr 10.0.0.1 log prefix "x" counter drop',
      [
        { match: 'ip saddr', value: '10.0.0.1' },
        { raw: [{ name: 'log', attrs: { 2: Buffer.from('x\0'), 5: 4 } }] },
        { counter: { packets: 0, bytes: 0 } },
        { verdict: 'drop' },
      ],
    ],
    [
      'ip ttl 5 drop',
      [
        { match: 'meta nfproto', value: 'ipv4' },
        {
          raw: [
            { name: 'payload', attrs: { 1: 1, 2: 1, 3: 8, 4: 1 } },
            { name: 'cmp', attrs: { 1: 1, 2: 0, 3: Buffer.from('0500010005000000', 'hex') } },
          ],
        },
        { verdict: 'drop' },
      ],
    ],
  ];
  for (const [text, expected] of cases) {
    it(`reads \`${text}\` (written by nft) without losing anything`, async () => {
      await inNs(NS, 'nft', [`add rule inet foreign c ${text}`]);
      try {
        const rules = await nft.listRules(C);
        assert.equal(rules.length, 1);
        assert.deepEqual(rules[0]!.expr, expected);
      } finally {
        await nft
          .transaction()
          .flushChain({ ...C, name: 'c' })
          .commit();
      }
    });
  }

  it('writes raw expressions as given; nft understands them and they read back equal', async () => {
    const expr: Stmt[] = [
      { match: 'tcp dport', value: 22 },
      { raw: [{ name: 'log', attrs: { 5: 6 } }] },
      { verdict: 'accept' },
    ];
    const { ruleHandles } = await nft
      .transaction()
      .addRule({ ...C, expr })
      .commit();
    try {
      assert.deepEqual(await chainLines(NS, 'inet', 'foreign', 'c'), [
        `tcp dport 22 log level info accept # handle ${ruleHandles[0]!}`,
      ]);
      assert.deepEqual((await nft.listRules(C))[0]!.expr, expr);
      await nftJson(NS);
    } finally {
      await nft
        .transaction()
        .flushChain({ ...C, name: 'c' })
        .commit();
    }
  });
});
