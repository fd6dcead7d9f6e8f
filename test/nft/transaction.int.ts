/**
 * Transactions against the kernel: all or nothing, the failing change
 * named, generation-id checks, rule handles and positions. `nft -j list
 * ruleset` is the oracle.
 */
import assert from 'node:assert/strict';

import { NetNS, Nft, NftCommitError, NftRepliesLostError, ValidationError } from '../../lib';
import type { Transaction } from '../../lib';
import { Cleanup, inNs, requireSandbox } from '../helpers';
import { chainLines, nftJson, nftJsonRules, nftText } from './oracle';

const NS = 'np-nft-tx';
const TABLE = { family: 'inet', name: 'txtest' } as const;
const T = { family: 'inet', table: 'txtest' } as const;
const C = { ...T, chain: 'c' } as const;

/** `n` rules `ip saddr @s tcp dport N counter accept comment "xxx..."` (the audit's batch). */
function bigBatch(nft: Nft, n: number, last?: 'jump missing'): Transaction {
  const tx = nft.transaction().addSet({ ...T, name: 's', key: 'ipv4_addr' });
  for (let i = 0; i < n; i++) {
    const verdict = last && i === n - 1 ? { jump: 'missing' } : { verdict: 'accept' as const };
    tx.addRule({
      ...C,
      expr: [
        { match: 'ip saddr', set: 's' },
        { match: 'tcp dport', value: i + 1 },
        { counter: true },
        verdict,
      ],
      comment: 'x'.repeat(100),
    });
  }
  return tx;
}

/** Handles of the rules in chain c with the big batch's comment, by the oracle. */
async function bigRules(): Promise<number[]> {
  return (await nftJsonRules(NS))
    .filter((r) => r.chain === 'c' && r.comment === 'x'.repeat(100))
    .map((r) => r.handle);
}

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
    // The kernel keeps the replaced rule's handle (nft -a lists it again).
    assert.deepEqual(replaced.ruleHandles, [icmp]);
    assert.ok(
      (await chainLines(NS, 'inet', 'txtest', 'c')).includes(
        `meta l4proto icmp drop # handle ${icmp}`,
      ),
    );
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

  it('commits 1000 echoed rules in one batch and returns every handle', async () => {
    // Each rule's echo (NLM_F_ECHO) is queued with the ACKs: 1000 of these
    // take ~2.2 MB of receive queue, past a budget of 1 KiB a message.
    const res = await bigBatch(nft, 1000).commit();
    assert.equal(res.ruleHandles.length, 1000);
    assert.equal(new Set(res.ruleHandles).size, 1000);
    assert.deepEqual(
      [...res.ruleHandles].sort((a, b) => a - b),
      (await bigRules()).sort((a, b) => a - b),
      'the handles returned are those of the rules in the kernel',
    );
    assert.equal(res.generation, await nft.generation());
  });

  it('never applies a batch twice when its replies are lost (ENOBUFS)', async () => {
    const gen = await nft.generation();
    const tx = bigBatch(nft, 200);
    // A 32 KiB receive buffer holds a few of the batch's ~400 replies.
    const err = await tx.commit({ rcvbuf: 16384 }).then(
      () => assert.fail('the replies should not fit'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof NftRepliesLostError, String(err));
    assert.equal(err.code, 'ENOBUFS');
    assert.equal(err.applied, true);
    const inKernel = await bigRules();
    assert.equal(inKernel.length, 200, 'the kernel applied the batch once');
    const got = err.handles.filter((h): h is number => h !== undefined);
    assert.ok(got.length > 0 && got.length < 200, `${got.length} handles came back`);
    for (const h of got) assert.ok(inKernel.includes(h), `handle ${h} is in the kernel`);
    assert.ok((await nft.generation()) > gen);
    // Committing it again is refused: nothing is applied twice.
    await assert.rejects(
      tx.commit(),
      (e: unknown) => e instanceof ValidationError && /committed already/.test(e.message),
    );
    assert.equal((await bigRules()).length, 200);
    // The handle's socket is usable afterwards.
    const res = await nft
      .transaction()
      .addRule({ ...C, expr: [{ verdict: 'accept' }] })
      .commit();
    assert.equal(res.ruleHandles.length, 1);
  });

  it('reports a refused batch whose error was lost as not applied, and may retry it', async () => {
    const before = await nftJson(NS);
    const gen = await nft.generation();
    const tx = bigBatch(nft, 200, 'jump missing');
    const err = await tx.commit({ rcvbuf: 4096 }).then(
      () => assert.fail('the batch jumps to a missing chain'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof NftRepliesLostError, String(err));
    assert.equal(err.applied, false);
    assert.deepEqual(await nftJson(NS), before, 'nothing of the batch remains');
    assert.equal(await nft.generation(), gen);
    // Not applied: the transaction is open, and with room for the replies
    // the kernel's reason comes back.
    const again = await tx.commit().then(
      () => assert.fail('still refused'),
      (e: unknown) => e,
    );
    assert.ok(again instanceof NftCommitError, String(again));
    assert.equal(again.code, 'ENOENT');
    assert.equal(again.index, 200);
  });

  it('tells by the generation whether a batch that echoes nothing was applied', async () => {
    await nft
      .transaction()
      .addSet({ ...T, name: 'p', key: 'inet_service' })
      .commit();
    // A flush first, then lists too long to echo: no reply but ACKs.
    const tx = nft.transaction().flushSet({ ...T, name: 'p' });
    for (let i = 0; i < 50; i++)
      tx.addElements(
        { ...T, name: 'p' },
        Array.from({ length: 20 }, (_, j) => ({ key: 1000 + i * 20 + j })),
      );
    const err = await tx.commit({ rcvbuf: 4096 }).then(
      () => assert.fail('the ACKs should not fit'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof NftRepliesLostError, String(err));
    assert.equal(err.applied, true);
    const listed = async (): Promise<number> => {
      const out = await nftText(NS, ['-j', 'list', 'set', 'inet', 'txtest', 'p']);
      const doc = JSON.parse(out) as { nftables: { set?: { elem?: unknown[] } }[] };
      return doc.nftables.find((o) => o.set)?.set?.elem?.length ?? 0;
    };
    assert.equal(await listed(), 1000);
    await assert.rejects(tx.commit(), /committed already/);
  });

  it('an overrun that lost only ACKs, every echo and the generation there, is a plain success', async () => {
    // addSet opens the batch with an echo (and so gets the NEWGEN); the
    // element lists echo nothing. ~8 KiB of receive queue holds the set's
    // echo and the NEWGEN, queued first, and not the 51 ACKs after them.
    const tx = nft.transaction().addSet({ ...T, name: 'q', key: 'inet_service' });
    for (let i = 0; i < 50; i++)
      tx.addElements(
        { ...T, name: 'q' },
        Array.from({ length: 20 }, (_, j) => ({ key: 2000 + i * 20 + j })),
      );
    const res = await tx.commit({ rcvbuf: 4096 });
    assert.equal(res.generation, await nft.generation());
    const out = await nftText(NS, ['-j', 'list', 'set', 'inet', 'txtest', 'q']);
    const doc = JSON.parse(out) as { nftables: { set?: { elem?: unknown[] } }[] };
    assert.equal(doc.nftables.find((o) => o.set)?.set?.elem?.length, 1000);
    await assert.rejects(tx.commit(), /committed already/);
  });
});
