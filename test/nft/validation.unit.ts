/**
 * Bad input is refused before anything reaches the kernel, with a
 * ValidationError naming the field. No kernel, no root: the transaction's
 * context would fail the test if anything were sent.
 */
import assert from 'node:assert/strict';

import type { NativeTransaction } from '../../lib/binding';
import { NftCommitError, ValidationError } from '../../lib/errors';
import { setKey, validateSetSpec, type SetInfo } from '../../lib/nft/sets';
import { Transaction, type NftContext } from '../../lib/nft/transaction';
import type { ChainSpec, RuleSpec, SetRef, SetSpec, Stmt } from '../../lib/nft/types';

const T = { family: 'inet', table: 't' } as const;
const SETS: SetSpec[] = [
  { ...T, name: 'ports', key: ['ipv4_addr', 'inet_service'], map: ['ipv4_addr', 'inet_service'] },
  { ...T, name: 'a4', key: 'ipv4_addr' },
  { ...T, name: 'marks', key: 'ipv4_addr', map: 'mark' },
  { ...T, name: 'tm', key: 'ipv4_addr', flags: ['timeout'] },
];
const known = new Map<string, SetInfo>(SETS.map((s) => [setKey(s), validateSetSpec(s)]));

const ctx: NftContext = {
  generation(): Promise<number> {
    return Promise.reject(new Error('nothing may reach the kernel'));
  },
  transact(): Promise<NativeTransaction> {
    return Promise.reject(new Error('nothing may reach the kernel'));
  },
  knownSet: (ref: SetRef) => known.get(setKey(ref)),
  fetchSets(): Promise<Map<string, SetInfo | NftCommitError>> {
    return Promise.reject(new Error('nothing may reach the kernel'));
  },
  committed(): void {
    /* not reached */
  },
  refused(): void {
    /* not reached */
  },
};

const tx = (): Transaction => new Transaction(ctx);

function refuses(field: string, fn: () => unknown, message?: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ValidationError, `expected a ValidationError, got ${String(e)}`);
    assert.equal(e.field, field, e.message);
    if (message) assert.match(e.message, message);
    return true;
  });
}

const base: ChainSpec = { ...T, name: 'c', type: 'filter', hook: 'input', priority: 0 };
const rule = (...expr: unknown[]): RuleSpec => ({ ...T, chain: 'c', expr: expr as Stmt[] });
const addRule =
  (...expr: unknown[]) =>
  () =>
    tx().addRule(rule(...expr));

describe('nftables validation (before the kernel)', () => {
  describe('names and families', () => {
    it('refuses an unknown family', () => {
      refuses(
        'table.family',
        () => tx().addTable({ family: 'ipx' as 'ip', name: 't' }),
        /not an nftables family/,
      );
    });
    it('refuses names over NFT_NAME_MAXLEN-1 bytes, takes 255', () => {
      refuses(
        'table.name',
        () => tx().addTable({ family: 'ip', name: 'x'.repeat(256) }),
        /255 bytes/,
      );
      tx().addTable({ family: 'ip', name: 'x'.repeat(255) });
      refuses('chain.name', () => tx().addChain({ ...T, name: 'é'.repeat(128) }));
      refuses('set.name', () => tx().addSet({ ...T, name: '', key: 'mark' }));
    });
    it('refuses an empty name and control characters', () => {
      refuses('table.name', () => tx().addTable({ family: 'ip', name: '' }));
      refuses('chain.table', () => tx().addChain({ ...T, table: 'a\nb', name: 'c' }));
    });
    it('refuses long comments and table flags out of place', () => {
      refuses('rule.comment', () =>
        tx().addRule({ ...rule({ verdict: 'accept' }), comment: 'x'.repeat(128) }),
      );
      refuses('table.flags[0]', () =>
        tx().addTable({ family: 'ip', name: 't', flags: ['sleepy' as 'dormant'] }),
      );
      refuses(
        'table.flags',
        () => tx().addTable({ family: 'ip', name: 't', flags: ['persist'] }),
        /persist/,
      );
    });
  });

  describe('chains', () => {
    it('refuses unknown hooks, types and priority names', () => {
      refuses('chain.hook', () => tx().addChain({ ...base, hook: 'ingres' as 'ingress' }));
      refuses('chain.type', () => tx().addChain({ ...base, type: 'natt' as 'nat' }));
      refuses('chain.priority', () => tx().addChain({ ...base, priority: 'dstnatt' as 'dstnat' }));
      refuses('chain.priority', () =>
        tx().addChain({
          family: 'bridge',
          table: 'b',
          name: 'c',
          type: 'filter',
          hook: 'forward',
          priority: 'raw',
        }),
      );
      refuses('chain.priority', () => tx().addChain({ ...base, priority: 1.5 }));
    });
    it('refuses a base chain missing its hook or type', () => {
      refuses('chain.hook', () => tx().addChain({ ...T, name: 'c', type: 'filter', priority: 0 }));
      refuses('chain.type', () => tx().addChain({ ...T, name: 'c', hook: 'input', priority: 0 }));
      refuses('chain.priority', () =>
        tx().addChain({ ...T, name: 'c', type: 'filter', hook: 'input' }),
      );
      refuses('chain.policy', () => tx().addChain({ ...T, name: 'c', policy: 'drop' }));
    });
    it('refuses chain types where the family or hook has none', () => {
      refuses(
        'chain.type',
        () => tx().addChain({ ...base, type: 'nat', hook: 'forward' }),
        /prerouting, input, output, postrouting/,
      );
      refuses('chain.type', () =>
        tx().addChain({
          family: 'bridge',
          table: 'b',
          name: 'c',
          type: 'nat',
          hook: 'prerouting',
          priority: 0,
        }),
      );
      refuses('chain.type', () => tx().addChain({ ...base, type: 'route', hook: 'input' }));
      refuses('chain.hook', () =>
        tx().addChain({
          family: 'netdev',
          table: 'n',
          name: 'c',
          type: 'filter',
          hook: 'input',
          priority: 0,
        }),
      );
      tx().addChain({ ...base, type: 'nat', hook: 'postrouting', priority: 'srcnat' });
    });
    it('needs a device exactly for ingress chains', () => {
      refuses('chain.device', () =>
        tx().addChain({
          family: 'netdev',
          table: 'n',
          name: 'c',
          type: 'filter',
          hook: 'ingress',
          priority: 0,
        }),
      );
      refuses('chain.device', () => tx().addChain({ ...base, device: 'eth0' }));
      refuses('chain.device', () =>
        tx().addChain({
          family: 'netdev',
          table: 'n',
          name: 'c',
          type: 'filter',
          hook: 'ingress',
          priority: 0,
          device: 'x'.repeat(16),
        }),
      );
    });
  });

  describe('sets and elements', () => {
    it('refuses unknown types and map value types', () => {
      refuses('set.key', () => tx().addSet({ ...T, name: 's', key: 'ipv5_addr' as 'ipv4_addr' }));
      refuses('set.map[1]', () =>
        tx().addSet({
          ...T,
          name: 's',
          key: 'mark',
          map: ['ipv4_addr', 'port'] as unknown as 'mark',
        }),
      );
      refuses('set.key', () =>
        tx().addSet({
          ...T,
          name: 's',
          key: ['ipv6_addr', 'ipv6_addr', 'ipv6_addr', 'ipv6_addr', 'mark'],
        }),
      );
    });
    it('refuses flags that do not fit', () => {
      refuses(
        'set.timeout',
        () => tx().addSet({ ...T, name: 's', key: 'mark', timeout: 1000 }),
        /timeout/,
      );
      refuses('set.key', () => tx().addSet({ ...T, name: 's', key: 'mark', flags: ['interval'] }));
      refuses('set.flags[1]', () =>
        tx().addSet({ ...T, name: 's', key: 'mark', flags: ['constant', 'constant'] }),
      );
    });
    it('refuses elements whose key arity does not match the set', () => {
      refuses(
        'elements[0].key',
        () =>
          tx().addElements({ ...T, name: 'ports' }, [{ key: '10.0.0.1', value: ['10.0.0.2', 80] }]),
        /1 part.*2 parts/,
      );
      refuses('elements[1].key', () =>
        tx().addElements({ ...T, name: 'ports' }, [
          { key: ['10.0.0.1', 80], value: ['10.0.0.2', 80] },
          { key: ['10.0.0.1', 80, 90], value: ['10.0.0.2', 80] },
        ]),
      );
      refuses('set.elements[0].key', () =>
        tx().addSet({ ...T, name: 'x', key: 'ipv4_addr', elements: [{ key: ['10.0.0.1', 80] }] }),
      );
    });
    it('refuses element values that do not fit', () => {
      refuses(
        'elements[0].value',
        () => tx().addElements({ ...T, name: 'ports' }, [{ key: ['10.0.0.1', 80] }]),
        /map/,
      );
      refuses('elements[0].value', () =>
        tx().addElements({ ...T, name: 'a4' }, [{ key: '10.0.0.1', value: 1 }]),
      );
      refuses('elements[0].value[1]', () =>
        tx().addElements({ ...T, name: 'ports' }, [
          { key: ['10.0.0.1', 80], value: ['10.0.0.2', 65536] },
        ]),
      );
      refuses('elements[0].timeout', () =>
        tx().addElements({ ...T, name: 'a4' }, [{ key: '10.0.0.1', timeout: 5 }]),
      );
      refuses(
        'elements[0].key',
        () => tx().addElements({ ...T, name: 'a4' }, [{ key: 'fd00::1' }]),
        /IPv4/,
      );
      tx().addElements({ ...T, name: 'tm' }, [{ key: '10.0.0.1', timeout: 5 }]);
    });
  });

  describe('rules', () => {
    it('refuses ports out of range', () => {
      refuses('rule.expr[0].value', addRule({ match: 'tcp dport', value: 65536 }), /0 to 65535/);
      refuses('rule.expr[0].value[1]', addRule({ match: 'tcp dport', value: [1, -1] }));
      refuses(
        'rule.expr[1].port',
        addRule(
          { match: 'tcp dport', value: 80 },
          { nat: 'dnat', family: 'ip', addr: '10.0.0.2', port: 0 },
        ),
      );
      refuses(
        'rule.expr[1].redirect.port',
        addRule({ match: 'tcp dport', value: 80 }, { redirect: { port: 70000 } }),
      );
    });
    it('refuses bad addresses and prefixes', () => {
      refuses('rule.expr[0].value', addRule({ match: 'ip saddr', value: '10.0.0.300' }));
      refuses(
        'rule.expr[0].value',
        addRule({ match: 'ip saddr', value: '10.0.0.1/24' }),
        /host bits.*10\.0\.0\.0\/24/,
      );
      refuses('rule.expr[0].value', addRule({ match: 'ip saddr', value: '10.0.0.0/33' }));
      refuses('rule.expr[0].value', addRule({ match: 'ip daddr', value: 'fd00::1' }), /IPv4/);
      refuses('rule.expr[0].addr', addRule({ nat: 'snat', family: 'ip', addr: '10.0.0.0/8' }));
    });
    it('refuses protocols that conflict with the table or the rule', () => {
      refuses('rule.expr[0]', () =>
        tx().addRule({
          family: 'ip6',
          table: 't',
          chain: 'c',
          expr: [{ match: 'ip saddr', value: '10.0.0.1' }],
        }),
      );
      refuses('rule.expr[0]', () =>
        tx().addRule({
          family: 'ip',
          table: 't',
          chain: 'c',
          expr: [{ match: 'meta nfproto', value: 'ipv4' }],
        }),
      );
      refuses(
        'rule.expr[1]',
        addRule({ match: 'tcp dport', value: 80 }, { match: 'udp dport', value: 53 }),
      );
      refuses('rule.expr[0]', () =>
        tx().addRule({
          family: 'bridge',
          table: 't',
          chain: 'c',
          expr: [{ match: 'tcp dport', value: 1 }],
        }),
      );
      refuses(
        'rule.expr[0].port',
        addRule({ nat: 'dnat', family: 'ip', addr: '10.0.0.2', port: 80 }),
        /transport protocol/,
      );
      refuses('rule.expr[0].family', () =>
        tx().addRule({
          family: 'ip',
          table: 't',
          chain: 'c',
          expr: [{ nat: 'dnat', family: 'ip6', addr: 'fd00::2' }],
        }),
      );
      refuses('rule.expr[0].reject', () =>
        tx().addRule({
          family: 'ip',
          table: 't',
          chain: 'c',
          expr: [{ reject: 'icmpx admin-prohibited' }],
        }),
      );
    });
    it('refuses operators that do not fit the value', () => {
      refuses('rule.expr[0].op', addRule({ match: 'meta mark', op: '<', value: 5 }));
      refuses('rule.expr[0].op', addRule({ match: 'ip saddr', op: '>', value: '10.0.0.1' }));
      refuses('rule.expr[0].value', addRule({ match: 'meta mark', value: [1, 5] }), /ranges/);
      refuses('rule.expr[0].op', addRule({ match: 'ip daddr', op: '<', set: 'a4' }));
    });
    it('refuses unknown selectors, states and statements', () => {
      refuses('rule.expr[0].match', addRule({ match: 'ip ttl', value: 1 }));
      refuses('rule.expr[0].value[1]', addRule({ match: 'ct state', value: ['new', 'old'] }));
      refuses('rule.expr[0].value', addRule({ match: 'ct state', value: [] }));
      refuses('rule.expr[0].value', addRule({ match: 'fib daddr type', value: 'remote' }));
      refuses('rule.expr[0]', addRule({ log: true }));
      refuses('rule.expr[0].masquerade.sticky', addRule({ masquerade: { sticky: true } }));
      refuses(
        'rule.expr[0].raw[0].attrs',
        addRule({ raw: [{ name: 'payload', attrs: { x: 1 } }] }),
      );
      refuses('rule.expr[0].verdict', addRule({ verdict: 'allow' }));
      refuses('rule.expr', () =>
        tx().addRule({ ...T, chain: 'c', expr: 'accept' as unknown as Stmt[] }),
      );
    });
    it('refuses bad jump targets by name (the kernel tells whether they exist)', () => {
      refuses('rule.expr[0].jump', addRule({ jump: '' }));
      refuses('rule.expr[0].goto', addRule({ goto: 'x'.repeat(256) }));
      tx().addRule(rule({ jump: 'somewhere' }));
    });
    it('checks lookups and maps against the sets they name', () => {
      refuses(
        'rule.expr[0].set',
        addRule({ match: 'ip daddr', set: 'ports' }),
        /ipv4_addr \. inet_service/,
      );
      refuses(
        'rule.expr[0].set',
        addRule({ match: ['ip daddr', 'tcp sport', 'tcp dport'], set: 'ports' }),
      );
      refuses(
        'rule.expr[0].vmap.set',
        addRule({ vmap: { key: 'ip daddr', set: 'a4' } }),
        /not a verdict map/,
      );
      refuses(
        'rule.expr[0].map.set',
        addRule({ nat: 'dnat', family: 'ip', map: { key: 'ip daddr', set: 'marks' } }),
        /must map to ipv4_addr/,
      );
      refuses('rule.expr[0].match', addRule({ match: 'iif', set: 'a4' }), /sets cannot hold/);
    });
    it('refuses bad handles and positions', () => {
      refuses('after', () => tx().addRule({ ...rule({ verdict: 'accept' }), after: 0 }));
      refuses('before', () => tx().insertRule({ ...rule({ verdict: 'accept' }), before: 1.5 }));
      refuses('handle', () => tx().replaceRule({ ...rule({ verdict: 'accept' }), handle: -1 }));
      refuses('handle', () => tx().deleteRule({ ...T, chain: 'c', handle: 0 }));
    });
    it('refuses a bad generation id at commit', async () => {
      await assert.rejects(
        tx().addTable({ family: 'ip', name: 't' }).commit({ genId: -1 }),
        (e: unknown) => e instanceof ValidationError && e.field === 'genId',
      );
    });
  });
});
