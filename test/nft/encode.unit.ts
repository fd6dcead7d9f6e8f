/**
 * Golden bytes: the batches netplumb builds, through the same validation,
 * compilation and encoders the API uses, compared with what nft 1.0.6 sends
 * for the same command (captured by test/fixtures/capture-nft.sh with
 * strace). No kernel, no root. Deliberate differences (see golden.ts):
 * netplumb asks for an ACK of every change and the echo of new rules,
 * sends set ids only for sets created in the same batch, and leaves out the
 * end element at key 0 nft puts before interval ranges.
 */
import assert from 'node:assert/strict';

import type { NativeTransaction } from '../../lib/binding';
import { NftCommitError } from '../../lib/errors';
import { setKey, validateSetSpec, type SetInfo } from '../../lib/nft/sets';
import { Transaction, type NftContext } from '../../lib/nft/transaction';
import type { SetRef, SetSpec } from '../../lib/nft/types';
import { assertSameBatch, fixture } from './golden';
import { SHAPE_SETS, SHAPES } from './shapes';

/** The sets of the capture namespace (table inet t). */
const CAPTURED_SETS: SetSpec[] = [
  ...SHAPE_SETS,
  { family: 'inet', table: 't', name: 'tm', key: 'ipv4_addr', flags: ['timeout'], timeout: 30000 },
  { family: 'inet', table: 't', name: 'iv', key: 'ipv4_addr', flags: ['interval'] },
  { family: 'inet', table: 't', name: 'k', key: 'inet_service', flags: ['constant'] },
  { family: 'inet', table: 't', name: 's6', key: 'ipv6_addr' },
  { family: 'inet', table: 't', name: 'mk', key: 'mark' },
  { family: 'inet', table: 't', name: 'ifs', key: 'ifname' },
  { family: 'inet', table: 't', name: 'eth', key: 'ether_addr' },
  { family: 'inet', table: 't', name: 'pr', key: 'inet_proto' },
  { family: 'inet', table: 't', name: 'mm', key: 'mark', map: 'ipv4_addr' },
  { family: 'inet', table: 't', name: 'sm', key: 'inet_service', map: 'inet_service' },
];

const known = new Map<string, SetInfo>(CAPTURED_SETS.map((s) => [setKey(s), validateSetSpec(s)]));

const ctx: NftContext = {
  generation(): Promise<number> {
    return Promise.reject(new Error('nothing may reach the kernel'));
  },
  transact(): Promise<NativeTransaction> {
    return Promise.reject(new Error('no kernel in unit tests'));
  },
  knownSet: (ref: SetRef) => known.get(setKey(ref)),
  fetchSets(refs: SetRef[]): Promise<Map<string, SetInfo | NftCommitError>> {
    return Promise.reject(new Error(`unexpected lookup of ${refs.map((r) => r.name).join(', ')}`));
  },
  committed(): void {
    /* nothing to remember */
  },
  refused(): void {
    /* nothing to forget */
  },
};

const tx = (): Transaction => new Transaction(ctx);
const t = { family: 'inet', name: 't' } as const;
const set = (name: string): SetRef => ({ family: 'inet', table: 't', name });

async function same(name: string, transaction: Transaction, setIds = false): Promise<void> {
  const { batch } = await transaction.build();
  assertSameBatch(name, batch, { setIds });
}

function spec(name: string): SetSpec {
  const s = CAPTURED_SETS.find((x) => x.name === name);
  assert.ok(s);
  return s;
}

describe('nftables batches match nft byte for byte', () => {
  describe('tables', () => {
    it('nft add table inet t', () => same('table-add', tx().addTable(t)));
    it('nft add table ip t2 { flags dormant; comment "tc"; }', () =>
      same(
        'table-add-flags-comment',
        tx().addTable({ family: 'ip', name: 't2', flags: ['dormant'], comment: 'tc' }),
      ));
    it('nft delete table ip t2', () =>
      same('table-delete', tx().deleteTable({ family: 'ip', name: 't2' })));
    it('nft flush table ip t2', () =>
      same('table-flush', tx().flushTable({ family: 'ip', name: 't2' })));
  });

  describe('chains', () => {
    it('nft add chain inet t c { type filter hook forward priority filter; policy accept; }', () =>
      same(
        'chain-add-base',
        tx().addChain({
          family: 'inet',
          table: 't',
          name: 'c',
          type: 'filter',
          hook: 'forward',
          priority: 'filter',
          policy: 'accept',
        }),
      ));
    it('nft add chain inet t in { ... priority 10; policy drop; comment "bc"; }', () =>
      same(
        'chain-add-base-comment',
        tx().addChain({
          family: 'inet',
          table: 't',
          name: 'in',
          type: 'filter',
          hook: 'input',
          priority: 10,
          policy: 'drop',
          comment: 'bc',
        }),
      ));
    it('nft add chain inet t reg', () =>
      same('chain-add-regular', tx().addChain({ family: 'inet', table: 't', name: 'reg' })));
    it('nft add chain inet t reg2 { comment "cc"; }', () =>
      same(
        'chain-add-regular-comment',
        tx().addChain({ family: 'inet', table: 't', name: 'reg2', comment: 'cc' }),
      ));
    it('nft add chain inet t pre { type nat hook prerouting priority dstnat; }', () =>
      same(
        'chain-add-nat-pre',
        tx().addChain({
          family: 'inet',
          table: 't',
          name: 'pre',
          type: 'nat',
          hook: 'prerouting',
          priority: 'dstnat',
        }),
      ));
    it('nft add chain inet t post { type nat hook postrouting priority srcnat; }', () =>
      same(
        'chain-add-nat-post',
        tx().addChain({
          family: 'inet',
          table: 't',
          name: 'post',
          type: 'nat',
          hook: 'postrouting',
          priority: 'srcnat',
        }),
      ));
    it('nft add chain netdev nd ing { type filter hook ingress device lo priority -500; }', () =>
      same(
        'chain-add-netdev',
        tx().addChain({
          family: 'netdev',
          table: 'nd',
          name: 'ing',
          type: 'filter',
          hook: 'ingress',
          device: 'lo',
          priority: -500,
        }),
      ));
    it('nft flush chain inet t reg2', () =>
      same('chain-flush', tx().flushChain({ family: 'inet', table: 't', name: 'reg2' })));
    it('nft delete chain inet t reg2', () =>
      same('chain-delete', tx().deleteChain({ family: 'inet', table: 't', name: 'reg2' })));
  });

  describe('sets and maps', () => {
    it('nft add set inet t s4 { type ipv4_addr; comment "sc"; }', () =>
      same('set-add', tx().addSet(spec('s4'))));
    it('nft add map inet t ports { type ipv4_addr . inet_service : ipv4_addr . inet_service; }', () =>
      same('set-add-concat-map', tx().addSet(spec('ports'))));
    it('nft add map inet t vm { type ipv4_addr : verdict; }', () =>
      same('set-add-vmap', tx().addSet(spec('vm'))));
    it('nft add map inet t pairs { type ifname . ifname : verdict; }', () =>
      same('set-add-vmap-concat', tx().addSet(spec('pairs'))));
    it('nft add set inet t tm { type ipv4_addr; flags timeout; timeout 30s; }', () =>
      same('set-add-timeout', tx().addSet(spec('tm'))));
    it('nft add set inet t iv { type ipv4_addr; flags interval; }', () =>
      same('set-add-interval', tx().addSet(spec('iv'))));
    it('nft add set inet t k { type inet_service; flags constant; elements = { 22, 80 }; }', () =>
      same(
        'set-add-constant',
        tx().addSet({ ...spec('k'), elements: [{ key: 22 }, { key: 80 }] }),
      ));
    it('nft -f: ipv6_addr, mark, ifname, ether_addr, inet_proto sets and two maps', () => {
      const x = tx();
      for (const name of ['s6', 'mk', 'ifs', 'eth', 'pr', 'mm', 'sm']) x.addSet(spec(name));
      return same('set-add-types', x);
    });
    it('nft flush set inet t s4', () => same('set-flush', tx().flushSet(set('s4'))));
    it('nft delete set inet t k', () => same('set-delete', tx().deleteSet(set('k'))));
  });

  describe('elements', () => {
    const cases: [string, string, Parameters<Transaction['addElements']>[1]][] = [
      ['elements-add', 's4', [{ key: '10.0.0.1' }, { key: '10.0.0.2' }]],
      ['elements-add-map', 'ports', [{ key: ['10.0.0.1', 8080], value: ['10.0.1.2', 80] }]],
      [
        'elements-add-vmap',
        'vm',
        [
          { key: '10.0.0.1', value: { verdict: 'accept' } },
          { key: '10.0.0.3', value: { jump: 'reg' } },
        ],
      ],
      [
        'elements-add-vmap-concat',
        'pairs',
        [
          { key: ['np0', 'eth0'], value: { goto: 'reg' } },
          { key: ['np0', 'np0'], value: { verdict: 'drop' } },
        ],
      ],
      ['elements-add-timeout', 'tm', [{ key: '10.0.0.9', timeout: 10000, comment: 'ec' }]],
      ['elements-add-types', 'mk', [{ key: 0x10 }]],
      ['elements-add-ifname', 'ifs', [{ key: 'eth0' }]],
      ['elements-add-ether', 'eth', [{ key: '02:42:ac:11:00:02' }]],
      ['elements-add-ipv6', 's6', [{ key: 'fd00::1' }]],
      ['elements-add-proto', 'pr', [{ key: 'tcp' }, { key: 'udp' }]],
      ['elements-add-mark-map', 'mm', [{ key: 1, value: '10.0.0.1' }]],
    ];
    for (const [name, setName, elems] of cases) {
      it(fixture(name).command, () => same(name, tx().addElements(set(setName), elems), true));
    }
    it('nft add element inet t iv { 10.0.0.0/24, 10.1.0.1-10.1.0.5 } (interval start and end elements)', async () => {
      const x = tx().addElements(set('iv'), [
        { key: '10.0.0.0/24' },
        { key: ['10.1.0.1', '10.1.0.5'] },
      ]);
      assertSameBatch('elements-add-interval', (await x.build()).batch, {
        setIds: true,
        leadingZeroEnd: true,
      });
    });
    it('nft delete element inet t s4 { 10.0.0.1 }', () =>
      same('elements-delete', tx().deleteElements(set('s4'), [{ key: '10.0.0.1' }]), true));
  });

  describe('rules: one per statement shape', () => {
    for (const s of SHAPES) {
      it(fixture(`rule-${s.name}`).command, () =>
        same(
          `rule-${s.name}`,
          tx().addRule({
            family: s.family,
            table: s.table,
            chain: s.chain,
            expr: s.expr,
            ...(s.comment !== undefined ? { comment: s.comment } : {}),
          }),
          true,
        ),
      );
    }
  });

  describe('rule positions', () => {
    const reg = { family: 'inet', table: 't', chain: 'reg' } as const;
    const h = (name: string): number => fixture(name).vars!.handle!;
    it('nft add rule inet t reg position H drop', () =>
      same(
        'rule-add-after',
        tx().addRule({ ...reg, after: h('rule-add-after'), expr: [{ verdict: 'drop' }] }),
      ));
    it('nft add rule inet t reg position H drop comment "after"', () =>
      same(
        'rule-add-after-comment',
        tx().addRule({
          ...reg,
          after: h('rule-add-after-comment'),
          expr: [{ verdict: 'drop' }],
          comment: 'after',
        }),
      ));
    it('nft insert rule inet t reg position H drop', () =>
      same(
        'rule-insert-before',
        tx().insertRule({ ...reg, before: h('rule-insert-before'), expr: [{ verdict: 'drop' }] }),
      ));
    it('nft insert rule inet t reg drop', () =>
      same('rule-insert', tx().insertRule({ ...reg, expr: [{ verdict: 'drop' }] })));
    it('nft replace rule inet t reg handle H accept', () =>
      same(
        'rule-replace',
        tx().replaceRule({ ...reg, handle: h('rule-replace'), expr: [{ verdict: 'accept' }] }),
      ));
    it('nft delete rule inet t reg handle H', () =>
      same('rule-delete', tx().deleteRule({ ...reg, handle: h('rule-delete') })));
  });

  it('a whole batch: table, nat chains, a map with elements, rules using it (nft -f)', () => {
    const nat1 = { family: 'inet', table: 'nat1' } as const;
    const x = tx()
      .addTable({ family: 'inet', name: 'nat1' })
      .addChain({ ...nat1, name: 'pre', type: 'nat', hook: 'prerouting', priority: 'dstnat' })
      .addChain({ ...nat1, name: 'post', type: 'nat', hook: 'postrouting', priority: 'srcnat' })
      .addSet({
        ...nat1,
        name: 'ports',
        key: ['ipv4_addr', 'inet_service'],
        map: ['ipv4_addr', 'inet_service'],
        elements: [{ key: ['10.0.1.1', 8080], value: ['10.0.2.2', 80] }],
      })
      .addRule({
        ...nat1,
        chain: 'pre',
        expr: [
          { nat: 'dnat', family: 'ip', map: { key: ['ip daddr', 'tcp dport'], set: 'ports' } },
        ],
      })
      .addRule({
        ...nat1,
        chain: 'post',
        expr: [{ match: 'ip saddr', value: '10.0.1.0/24' }, { masquerade: true }],
      });
    return same('batch-nat', x);
  });
});
