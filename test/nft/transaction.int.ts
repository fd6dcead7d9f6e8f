/**
 * Transactions against the kernel: all or nothing, the failing change
 * named, generation-id checks, rule handles and positions. `nft -j list
 * ruleset` is the oracle.
 */
import assert from 'node:assert/strict';

import { NetNS, Nft, NftCommitError, ValidationError } from '../../lib';
import { Cleanup, inNs, requireSandbox } from '../helpers';
import { chainLines, nftJson } from './oracle';

const NS = 'np-nft-tx';
const TABLE = { family: 'inet', name: 'txtest' } as const;
const T = { family: 'inet', table: 'txtest' } as const;
const C = { ...T, chain: 'c' } as const;

describe('nftables transactions', function () {
  this.timeout(30000);
  const cleanup = new Cleanup();
  let nft: Nft;

  before(async () => {
    requireSandbox();
    const ns = await NetNS.create(NS);
    cleanup.add('delete netns', () => ns.delete());
    nft = await Nft.open(ns);
    cleanup.add('close nft', () => nft.close());
  });
  after(() => cleanup.run());

  beforeEach(async () => {
    await nft
      .transaction()
      .addTable(TABLE)
      .addChain({ ...T, name: 'c', type: 'filter', hook: 'input', priority: 0 })
      .addChain({ ...T, name: 'side' })
      .addRule({
        ...C,
        expr: [{ match: 'tcp dport', value: 22 }, { verdict: 'accept' }],
        comment: 'ssh',
      })
      .commit();
  });
  afterEach(async () => {
    await nft.transaction().deleteTable(TABLE).commit();
    assert.deepEqual(await nftJson(NS), []);
  });

  it('refuses a batch with one bad rule in the middle, names it, and changes nothing', async () => {
    const before = await nftJson(NS);
    const tx = nft
      .transaction()
      .addChain({ ...T, name: 'new' })
      .addRule({ ...C, expr: [{ match: 'tcp dport', value: 80 }, { verdict: 'accept' }] })
      .addRule({ ...C, expr: [{ jump: 'missing' }] })
      .addRule({ ...C, expr: [{ match: 'tcp dport', value: 443 }, { verdict: 'accept' }] });
    const err = await tx.commit().then(
      () => assert.fail('the commit should fail'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof NftCommitError, String(err));
    assert.equal(err.index, 2);
    assert.equal(err.change, 'add rule inet txtest c');
    assert.equal(err.code, 'ENOENT');
    assert.ok(err.errno > 0);
    assert.deepEqual(await nftJson(NS), before, 'the ruleset is exactly as before');
  });

  it('refuses a stale generation id (ERESTART) and applies a fresh one', async () => {
    const gen = await nft.generation();
    // Someone else changes the ruleset meanwhile.
    await inNs(NS, 'nft', ['add', 'chain', 'inet', 'txtest', 'other']);
    const before = await nftJson(NS);
    const stale = nft.transaction().addRule({ ...C, expr: [{ verdict: 'drop' }] });
    const err = await stale.commit({ genId: gen }).then(
      () => assert.fail('the commit should fail'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof NftCommitError, String(err));
    assert.equal(err.code, 'ERESTART');
    assert.equal(err.index, -1);
    assert.deepEqual(await nftJson(NS), before);
    const fresh = await nft.generation();
    assert.notEqual(fresh, gen);
    // The refused transaction can be committed again, against the fresh generation.
    const ok = await stale.commit({ genId: fresh });
    assert.equal(ok.ruleHandles.length, 1);
    await assert.rejects(stale.commit(), /committed already/);
    assert.ok((await nft.generation()) > fresh, 'a commit moves the generation on');
  });

  it('reports rule handles per queued change and places rules by handle', async () => {
    const first = await nft
      .transaction()
      .addRule({ ...C, expr: [{ match: 'udp dport', value: 53 }, { verdict: 'accept' }] })
      .addChain({ ...T, name: 'x' })
      .insertRule({
        ...C,
        expr: [{ match: 'ct state', value: ['established', 'related'] }, { verdict: 'accept' }],
      })
      .commit();
    assert.equal(first.handles.length, 3);
    assert.equal(first.handles[1], undefined);
    const [dns, , est] = first.handles as [number, undefined, number];
    assert.deepEqual(first.ruleHandles, [dns, est]);

    const second = await nft
      .transaction()
      .addRule({
        ...C,
        after: est,
        expr: [{ match: 'iifname', value: 'lo' }, { verdict: 'accept' }],
      })
      .insertRule({
        ...C,
        before: dns,
        expr: [{ match: 'meta l4proto', value: 'icmp' }, { verdict: 'accept' }],
      })
      .commit();
    const [lo, icmp] = second.ruleHandles as [number, number];
    const listed = await nft.listRules(C);
    const order = listed.map((r) => r.handle);
    const ssh = listed.find((x) => x.comment === 'ssh')!.handle;
    assert.deepEqual(order, [est, lo, ssh, icmp, dns]);
    assert.deepEqual(
      (await chainLines(NS, 'inet', 'txtest', 'c')).map((l) => l.replace(/ # handle \d+$/, '')),
      [
        'ct state established,related accept',
        'iifname "lo" accept',
        'tcp dport 22 accept comment "ssh"',
        'meta l4proto icmp accept',
        'udp dport 53 accept',
      ],
    );

    const replaced = await nft
      .transaction()
      .replaceRule({
        ...C,
        handle: icmp,
        expr: [{ match: 'meta l4proto', value: 'icmp' }, { verdict: 'drop' }],
      })
      .deleteRule({ ...C, handle: lo })
      .commit();
    const rules = await nft.listRules(C);
    assert.equal(rules.length, 4);
    const r = rules.find((x) => x.handle === replaced.ruleHandles[0]);
    assert.deepEqual(r?.expr, [{ match: 'meta l4proto', value: 'icmp' }, { verdict: 'drop' }]);
    assert.equal(
      rules.findIndex((x) => x === r),
      2,
      'the replacement keeps the position',
    );
  });

  it('flushes a chain and a table, and deletes chains', async () => {
    await nft
      .transaction()
      .addRule({ ...T, chain: 'side', expr: [{ verdict: 'accept' }] })
      .commit();
    await nft
      .transaction()
      .flushChain({ ...T, name: 'c' })
      .commit();
    assert.equal((await nft.listRules(C)).length, 0);
    assert.equal((await nft.listRules({ ...T, chain: 'side' })).length, 1);
    await nft
      .transaction()
      .flushTable(TABLE)
      .deleteChain({ ...T, name: 'side' })
      .commit();
    assert.deepEqual(await nft.listRules({ family: 'inet', table: 'txtest' }), []);
    assert.deepEqual(
      (await nft.listChains(TABLE)).map((c) => c.name),
      ['c'],
    );
  });

  it('commits an empty transaction as a no-op, and validates before sending', async () => {
    const before = await nftJson(NS);
    const gen = await nft.generation();
    assert.deepEqual(await nft.transaction().commit(), { ruleHandles: [], handles: [] });
    assert.throws(
      () => nft.transaction().addRule({ ...C, expr: [{ match: 'tcp dport', value: 70000 }] }),
      (e: unknown) => e instanceof ValidationError && e.field === 'rule.expr[0].value',
    );
    assert.equal(await nft.generation(), gen);
    assert.deepEqual(await nftJson(NS), before);
  });

  it('lists tables, chains and rules in the typed model', async () => {
    const tables = await nft.listTables('inet');
    assert.deepEqual(
      tables.map((t) => t.name),
      ['txtest'],
    );
    assert.equal(typeof tables[0]!.handle, 'number');
    const chains = await nft.listChains(TABLE);
    const c = chains.find((x) => x.name === 'c');
    assert.deepEqual(c, {
      ...T,
      name: 'c',
      type: 'filter',
      hook: 'input',
      priority: 'filter',
      policy: 'accept',
      handle: c!.handle,
    });
    const rules = await nft.listRules();
    assert.equal(rules.length, 1);
    assert.deepEqual(rules[0], {
      ...C,
      expr: [{ match: 'tcp dport', value: 22 }, { verdict: 'accept' }],
      comment: 'ssh',
      handle: rules[0]!.handle,
    });
    const all = await nft.list();
    assert.deepEqual(all.tables, await nft.listTables());
    assert.deepEqual(all.rules, rules);
  });
});
