/**
 * Sets and maps against the kernel: every key type, intervals (plain and
 * concatenated), timeouts, verdict maps, large element lists split over
 * several messages of one batch, deletion and flushing. Read back through
 * listElements and checked with `nft list` / `nft -j list ruleset`.
 */
import assert from 'node:assert/strict';

import { NetNS, NotFoundError, Nft, NftCommitError, ValidationError } from '../../lib';
import type { SetElement, SetRef, SetSpec } from '../../lib/nft/types';
import { Cleanup, requireSandbox } from '../helpers';
import { nftJson, nftText } from './oracle';

const NS = 'np-nft-sets';
const TABLE = { family: 'inet', name: 'settest' } as const;
const T = { family: 'inet', table: 'settest' } as const;
const ref = (name: string): SetRef => ({ ...T, name });

describe('nftables sets and maps', function () {
  this.timeout(60000);
  const cleanup = new Cleanup();
  let nft: Nft;

  before(async () => {
    requireSandbox();
    const ns = await NetNS.create(NS);
    cleanup.add('delete netns', () => ns.delete());
    nft = await Nft.open(ns);
    cleanup.add('close nft', () => nft.close());
    await nft
      .transaction()
      .addTable(TABLE)
      .addChain({ ...T, name: 'reg' })
      .commit();
    cleanup.add('delete the table', () => nft.transaction().deleteTable(TABLE).commit());
  });
  after(() => cleanup.run());

  async function roundTrip(spec: SetSpec, expected = spec.elements ?? []): Promise<void> {
    await nft.transaction().addSet(spec).commit();
    try {
      assert.deepEqual(await nft.listElements(spec), expected);
      const { elements: _e, ...plain } = spec;
      const listed = (await nft.listSets(TABLE)).find((s) => s.name === spec.name);
      assert.ok(listed);
      const { handle: _h, ...rest } = listed;
      assert.deepStrictEqual(rest, plain);
      // The whole ruleset carries the elements with the set.
      const inRuleset = (await nft.list()).sets.find((x) => x.name === spec.name);
      assert.ok(inRuleset);
      const { handle: _h2, ...whole } = inRuleset;
      assert.deepStrictEqual(whole, {
        ...plain,
        ...(expected.length > 0 ? { elements: expected } : {}),
      });
      await nftJson(NS);
    } finally {
      await nft.transaction().deleteSet(spec).commit();
    }
  }

  const cases: SetSpec[] = [
    {
      ...T,
      name: 'a4',
      key: 'ipv4_addr',
      comment: 'addresses',
      elements: [{ key: '10.0.0.1' }, { key: '10.0.0.2' }],
    },
    { ...T, name: 'a6', key: 'ipv6_addr', elements: [{ key: 'fd00::1' }] },
    {
      ...T,
      name: 'svc',
      key: 'inet_service',
      flags: ['constant'],
      elements: [{ key: 22 }, { key: 443 }],
    },
    { ...T, name: 'proto', key: 'inet_proto', elements: [{ key: 'tcp' }, { key: 'udp' }] },
    { ...T, name: 'marks', key: 'mark', elements: [{ key: 1 }, { key: 0xdeadbeef }] },
    { ...T, name: 'ifs', key: 'ifname', elements: [{ key: 'eth0' }, { key: 'np0' }] },
    { ...T, name: 'macs', key: 'ether_addr', elements: [{ key: '02:42:ac:11:00:02' }] },
    {
      ...T,
      name: 'pub',
      key: ['ipv4_addr', 'inet_proto', 'inet_service'],
      map: ['ipv4_addr', 'inet_service'],
      elements: [{ key: ['10.0.0.1', 'tcp', 8080], value: ['172.17.0.2', 80] }],
    },
    {
      ...T,
      name: 'disp',
      key: ['ifname', 'ifname'],
      map: 'verdict',
      elements: [
        { key: ['np0', 'eth0'], value: { jump: 'reg' } },
        { key: ['np0', 'np0'], value: { verdict: 'drop' } },
      ],
    },
    { ...T, name: 'mm', key: 'mark', map: 'ipv4_addr', elements: [{ key: 7, value: '10.9.9.9' }] },
    {
      ...T,
      name: 'nets',
      key: 'ipv4_addr',
      flags: ['interval'],
      elements: [
        { key: '10.0.0.0/24' },
        { key: ['10.1.0.1', '10.1.0.5'] },
        { key: '10.2.0.7' },
        { key: '255.255.255.0/24' },
      ],
    },
    {
      ...T,
      name: 'ports6',
      key: 'inet_service',
      flags: ['interval'],
      elements: [{ key: [8000, 8010] }, { key: 9000 }],
    },
    {
      ...T,
      name: 'cint',
      key: ['ipv4_addr', 'inet_service'],
      flags: ['interval'],
      elements: [{ key: ['10.0.0.0/24', '8000-8010'] }, { key: ['10.0.1.1', 22] }],
    },
    {
      ...T,
      name: 'ttl',
      key: 'ipv4_addr',
      flags: ['timeout'],
      timeout: 3600000,
      elements: [{ key: '10.0.0.1', timeout: 60000, comment: 'one minute' }, { key: '10.0.0.2' }],
    },
  ];
  for (const spec of cases) {
    it(`${spec.name}: ${JSON.stringify(spec.key)}${spec.map ? ` : ${JSON.stringify(spec.map)}` : ''}${spec.flags ? ` ${spec.flags.join(',')}` : ''}`, () =>
      roundTrip(spec));
  }

  it('nft prints interval and concatenated elements as nft syntax', async () => {
    await nft
      .transaction()
      .addSet(cases.find((c) => c.name === 'nets')!)
      .addSet(cases.find((c) => c.name === 'pub')!)
      .commit();
    try {
      const text = await nftText(NS, ['list', 'table', 'inet', 'settest']);
      assert.match(
        text,
        /elements = \{ 10\.0\.0\.0\/24, 10\.1\.0\.1-10\.1\.0\.5,\s+10\.2\.0\.7, 255\.255\.255\.0\/24 \}/,
      );
      assert.match(text, /elements = \{ 10\.0\.0\.1 \. tcp \. 8080 : 172\.17\.0\.2 \. 80 \}/);
    } finally {
      await nft.transaction().deleteSet(ref('nets')).deleteSet(ref('pub')).commit();
    }
  });

  /** `nft -j list set|map inet settest NAME`: its elements as nft's JSON has them. */
  async function nftElems(name: string, kind: 'set' | 'map' = 'set'): Promise<unknown[]> {
    const out = await nftText(NS, ['-j', 'list', kind, 'inet', 'settest', name]);
    const doc = JSON.parse(out) as { nftables: Record<string, { elem?: unknown[] } | undefined>[] };
    return doc.nftables.find((o) => o[kind])?.[kind]?.elem ?? [];
  }

  it('reads adjacent ranges of an interval set back as they were added', async () => {
    const ports: SetSpec = {
      ...T,
      name: 'adjp',
      key: 'inet_service',
      flags: ['interval'],
      elements: [{ key: [1, 5] }, { key: [6, 10] }, { key: 11 }],
    };
    const nets: SetSpec = {
      ...T,
      name: 'adjn',
      key: 'ipv4_addr',
      flags: ['interval'],
      elements: [{ key: '10.0.0.0/24' }, { key: '10.0.1.0/24' }],
    };
    await nft.transaction().addSet(ports).addSet(nets).commit();
    try {
      const portsJson = [{ range: [1, 5] }, { range: [6, 10] }, 11];
      const netsJson = [
        { prefix: { addr: '10.0.0.0', len: 24 } },
        { prefix: { addr: '10.0.1.0', len: 24 } },
      ];
      assert.deepEqual(await nftElems('adjp'), portsJson);
      assert.deepEqual(await nftElems('adjn'), netsJson);
      assert.deepEqual(await nft.listElements(ports), ports.elements);
      assert.deepEqual(await nft.listElements(nets), nets.elements);
      // What list gives can be fed back: the kernel ends up as before.
      await nft
        .transaction()
        .flushSet(ports)
        .addElements(ports, await nft.listElements(ports))
        .flushSet(nets)
        .addElements(nets, await nft.listElements(nets))
        .commit();
      assert.deepEqual(await nftElems('adjp'), portsJson);
      assert.deepEqual(await nftElems('adjn'), netsJson);
    } finally {
      await nft.transaction().deleteSet(ports).deleteSet(nets).commit();
    }
  });

  it('takes back the address and MAC ranges of concatenated keys it lists', async () => {
    const specs: SetSpec[] = [
      {
        ...T,
        name: 'cr4',
        key: ['ipv4_addr', 'inet_service'],
        flags: ['interval'],
        elements: [{ key: ['10.0.0.1-10.0.0.5', '80-90'] }],
      },
      {
        ...T,
        name: 'cr6',
        key: ['ipv6_addr', 'inet_service'],
        flags: ['interval'],
        elements: [{ key: ['fd00::1-fd00::5', 443] }],
      },
      {
        ...T,
        name: 'crm',
        key: ['ether_addr', 'inet_service'],
        flags: ['interval'],
        elements: [{ key: ['02:00:00:00:00:01-02:00:00:00:00:05', 22] }],
      },
    ];
    const listedAs: Record<string, SetElement[]> = {
      cr4: [{ key: ['10.0.0.1-10.0.0.5', '80-90'] }],
      cr6: [{ key: ['fd00::1-fd00::5', 443] }],
      crm: [{ key: ['02:00:00:00:00:01-02:00:00:00:00:05', 22] }],
    };
    const tx = nft.transaction();
    for (const s of specs) tx.addSet(s);
    await tx.commit();
    try {
      for (const s of specs) {
        const before = await nftElems(s.name);
        assert.equal(before.length, 1, `${s.name}: nft lists one element`);
        const listed = await nft.listElements(s);
        assert.deepEqual(listed, listedAs[s.name]);
        await nft.transaction().flushSet(s).addElements(s, listed).commit();
        assert.deepEqual(await nftElems(s.name), before, `${s.name}: re-added as it was`);
        await nft.transaction().deleteElements(s, listed).commit();
        assert.deepEqual(await nftElems(s.name), [], `${s.name}: deleted by what list gave`);
      }
    } finally {
      const del = nft.transaction();
      for (const s of specs) del.deleteSet(s);
      await del.commit();
    }
  });

  it("lists, adds and deletes a map's catch-all element (*)", async () => {
    const vm: SetSpec = {
      ...T,
      name: 'vm',
      key: 'ipv4_addr',
      map: 'verdict',
      elements: [
        { key: '10.0.0.1', value: { verdict: 'accept' } },
        { key: '*', value: { verdict: 'drop' } },
      ],
    };
    await nft.transaction().addSet(vm).commit();
    try {
      assert.deepEqual(await nftElems('vm', 'map'), [
        ['10.0.0.1', { accept: null }],
        ['*', { drop: null }],
      ]);
      assert.deepEqual(await nft.listElements(vm), vm.elements);
      await nft
        .transaction()
        .deleteElements(vm, [{ key: '*' }])
        .commit();
      assert.deepEqual(await nftElems('vm', 'map'), [['10.0.0.1', { accept: null }]]);
      // One that nft made reads back the same.
      await nftText(NS, ['add', 'element', 'inet', 'settest', 'vm', '{ * : jump reg }']);
      assert.deepEqual(await nft.listElements(vm), [
        { key: '10.0.0.1', value: { verdict: 'accept' } },
        { key: '*', value: { jump: 'reg' } },
      ]);
    } finally {
      await nft.transaction().deleteSet(vm).commit();
    }
  });

  it('adds 10,000 map elements in one batch (split over several messages) and deletes them again', async () => {
    const spec: SetSpec = {
      ...T,
      name: 'big',
      key: ['ipv4_addr', 'inet_service'],
      map: ['ipv4_addr', 'inet_service'],
    };
    await nft.transaction().addSet(spec).commit();
    try {
      const elems: SetElement[] = [];
      for (let i = 0; i < 10000; i++) {
        elems.push({
          key: [`10.${(i >> 8) & 255}.${i & 255}.1`, 1000 + (i % 50000)],
          value: ['172.17.0.2', 80],
        });
      }
      const tx = nft.transaction().addElements(spec, elems);
      const { batch, owner } = await tx.build();
      assert.ok(batch.length > 4 * 65536, `a batch of ${batch.length} bytes`);
      assert.ok(owner.filter((o) => o === 0).length >= 5, 'several NEWSETELEM messages');
      await tx.commit();
      const back = await nft.listElements(spec);
      assert.equal(back.length, 10000);
      const json = await nftJson(NS);
      const set = json.find((o) => 'map' in o && (o.map as { name: string }).name === 'big')
        ?.map as { elem: unknown[] };
      assert.equal(set.elem.length, 10000);
      await nft.transaction().deleteElements(spec, elems.slice(0, 9990)).commit();
      assert.equal((await nft.listElements(spec)).length, 10);
      await nft.transaction().flushSet(spec).commit();
      assert.deepEqual(await nft.listElements(spec), []);
    } finally {
      await nft.transaction().deleteSet(spec).commit();
    }
  });

  it('adds elements to a set made earlier, learning its type from the kernel', async () => {
    await nft
      .transaction()
      .addSet({ ...T, name: 'later', key: 'inet_service' })
      .commit();
    try {
      // A fresh handle knows nothing about the set: the commit looks it up first.
      const ns2 = await NetNS.open(NS);
      const other = await Nft.open(ns2);
      try {
        await other
          .transaction()
          .addElements(ref('later'), [{ key: 80 }])
          .commit();
        assert.throws(
          () => other.transaction().addElements(ref('later'), [{ key: '10.0.0.1' }]),
          (e: unknown) => e instanceof ValidationError && e.field === 'elements[0].key',
        );
        const missing = other
          .transaction()
          .addRule({ ...T, chain: 'reg', expr: [{ verdict: 'accept' }] })
          .addElements(ref('nope'), [{ key: 1 }]);
        const err = await missing.commit().then(
          () => assert.fail('should fail'),
          (e: unknown) => e,
        );
        assert.ok(err instanceof NftCommitError, String(err));
        assert.equal(err.code, 'ENOENT');
        assert.equal(err.index, 1);
      } finally {
        await other.close();
        await ns2.close();
      }
      assert.deepEqual(await nft.listElements(ref('later')), [{ key: 80 }]);
      await assert.rejects(nft.listElements(ref('nope')), NotFoundError);
    } finally {
      await nft.transaction().deleteSet(ref('later')).commit();
    }
  });

  it('refuses an element that exists already, and changes nothing', async () => {
    const spec: SetSpec = { ...T, name: 'dup', key: 'ipv4_addr', elements: [{ key: '10.0.0.1' }] };
    await nft.transaction().addSet(spec).commit();
    try {
      // NLM_F_EXCL is not set (as `nft add element`): re-adding is fine.
      await nft
        .transaction()
        .addElements(spec, [{ key: '10.0.0.1' }, { key: '10.0.0.2' }])
        .commit();
      assert.deepEqual(await nft.listElements(spec), [{ key: '10.0.0.1' }, { key: '10.0.0.2' }]);
      const err = await nft
        .transaction()
        .addElements(spec, [{ key: '10.0.0.3' }])
        .deleteElements(spec, [{ key: '10.9.9.9' }])
        .commit()
        .then(
          () => assert.fail('should fail'),
          (e: unknown) => e,
        );
      assert.ok(err instanceof NftCommitError);
      assert.equal(err.index, 1);
      assert.equal(err.change, 'delete element inet settest dup');
      assert.deepEqual(await nft.listElements(spec), [{ key: '10.0.0.1' }, { key: '10.0.0.2' }]);
    } finally {
      await nft.transaction().deleteSet(spec).commit();
    }
  });
});
