/**
 * netplumb changes only what it owns. Foreign objects are made first —
 * links (a bridge with an address, a veth pair, a dummy, links named and
 * tagged like another engine's), nftables tables (one named like this
 * engine's table in another family, one named like the default engine's),
 * named namespaces, /etc/netns directories — then every engine operation
 * runs, prune included, and each foreign object must read back exactly as
 * it was (`ip -j`, `nft -j`, the files' bytes).
 */
import assert from 'node:assert/strict';
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';

import { Engine } from '../../lib';
import { Cleanup, inNs, ipJson, requireSandbox, run } from '../helpers';
import { netnsNames, openEngine } from './helpers';

const LINKS = [
  'fdummy0',
  'fbr0',
  'fveth0',
  'fveth1',
  'fother0',
  'np-deadbeef',
  'npv0badc0d',
  'npv0badc0e',
];
const NETNS = ['fns1', 'fns2'];
const ETC = ['fns1', 'fns2', 'fstray'];

interface LinkJson {
  ifindex: number;
  ifname: string;
  flags: string[];
  mtu: number;
  link_type: string;
  address?: string;
  master?: string;
  ifalias?: string;
  linkinfo?: { info_kind?: string };
  addr_info?: { family: string; local: string; prefixlen: number }[];
}

/** What must not change about the foreign links (counters and timers may). */
async function foreignLinks(): Promise<unknown[]> {
  const all = await ipJson<LinkJson[]>(['addr', 'show']);
  return LINKS.map((name) => {
    const l = all.find((x) => x.ifname === name);
    assert.ok(l, `foreign link ${name} is gone`);
    return {
      ifindex: l.ifindex,
      ifname: l.ifname,
      // Carrier (NO-CARRIER, LOWER_UP) is the kernel's to change, e.g. while
      // a bridge's forwarding delay runs; the admin flags are not.
      flags: l.flags.filter((f) => f !== 'NO-CARRIER' && f !== 'LOWER_UP'),
      mtu: l.mtu,
      type: l.link_type,
      address: l.address,
      master: l.master,
      alias: l.ifalias,
      kind: l.linkinfo?.info_kind,
      addrs: (l.addr_info ?? []).map((a) => `${a.family} ${a.local}/${a.prefixlen}`),
    };
  });
}

async function foreignTables(tables: [string, string][]): Promise<string[]> {
  const out: string[] = [];
  for (const [family, name] of tables) {
    const { stdout } = await run('nft', ['-j', 'list', 'table', family, name]);
    out.push(stdout);
  }
  return out;
}

async function foreignState(tables: [string, string][]): Promise<unknown> {
  const etc: Record<string, Record<string, string>> = {};
  for (const d of ETC) {
    etc[d] = {};
    for (const f of (await readdir(path.join('/etc/netns', d))).sort())
      etc[d][f] = await readFile(path.join('/etc/netns', d, f), 'utf8');
  }
  const inside: Record<string, unknown> = {};
  for (const ns of NETNS)
    inside[ns] = (await ipJson<LinkJson[]>(['link', 'show'], ns)).map((l) => [l.ifname, l.mtu]);
  return {
    links: await foreignLinks(),
    tables: await foreignTables(tables),
    netns: (await netnsNames()).filter((n) => NETNS.includes(n)),
    inside,
    etc,
  };
}

describe('engine: foreign links, tables, namespaces and /etc/netns survive every operation', function () {
  this.timeout(120000);
  before(requireSandbox);
  const cleanup = new Cleanup();
  let engine: Engine;
  let tables: [string, string][];

  before(async () => {
    const e = await openEngine();
    engine = e.engine;
    cleanup.add('dispose engine', e.dispose);
    const ours = `netplumb_${engine.tag}`;
    // Ours is inet: the same name in other families, and the default engine's name.
    tables = [
      ['inet', 'foreign'],
      ['ip', ours],
      ['ip6', ours],
      ['bridge', ours],
      ['inet', 'netplumb'],
    ];
    cleanup.add('delete foreign links', async () => {
      for (const l of LINKS) await run('ip', ['link', 'del', l]).catch(() => undefined);
    });
    await run('ip', ['link', 'add', 'fdummy0', 'type', 'bridge']);
    await run('ip', ['link', 'set', 'fdummy0', 'alias', 'not netplumb']);
    await run('ip', ['link', 'add', 'fbr0', 'type', 'bridge']);
    await run('ip', ['addr', 'add', '10.210.0.1/24', 'dev', 'fbr0']);
    await run('ip', ['link', 'set', 'fbr0', 'up']);
    await run('ip', ['link', 'add', 'fveth0', 'type', 'veth', 'peer', 'name', 'fveth1']);
    await run('ip', ['link', 'set', 'fveth0', 'master', 'fbr0']);
    // Tagged by another engine (another state directory): not ours to prune.
    await run('ip', ['link', 'add', 'fother0', 'type', 'bridge']);
    await run('ip', ['link', 'set', 'fother0', 'alias', 'netplumb:deadbeef:net:x']);
    // Named like our bridges and veth host ends, but untagged.
    await run('ip', ['link', 'add', 'np-deadbeef', 'type', 'bridge']);
    await run('ip', ['link', 'add', 'npv0badc0d', 'type', 'veth', 'peer', 'name', 'npv0badc0e']);

    cleanup.add('delete foreign tables', async () => {
      for (const [f, n] of tables)
        await run('nft', ['delete', 'table', f, n]).catch(() => undefined);
    });
    for (const [f, n] of tables) {
      await run('nft', [
        `add table ${f} ${n}; add chain ${f} ${n} c; add set ${f} ${n} s { type mark; }`,
      ]);
      await run('nft', [`add rule ${f} ${n} c meta mark 7 counter accept comment "foreign"`]);
      await run('nft', [`add element ${f} ${n} s { 1, 2, 3 }`]);
    }

    cleanup.add('delete foreign namespaces', async () => {
      for (const ns of NETNS) await run('ip', ['netns', 'del', ns]).catch(() => undefined);
    });
    for (const ns of NETNS) {
      await run('ip', ['netns', 'add', ns]);
      await inNs(ns, 'ip', ['link', 'add', 'inner0', 'type', 'bridge']);
    }
    cleanup.add('delete foreign /etc/netns', async () => {
      for (const d of ETC) await rm(path.join('/etc/netns', d), { recursive: true, force: true });
    });
    for (const d of ETC) {
      await mkdir(path.join('/etc/netns', d), { recursive: true });
      await writeFile(path.join('/etc/netns', d, 'resolv.conf'), `nameserver 192.0.2.53 # ${d}\n`);
    }
    await writeFile('/etc/netns/fns1/hosts', '127.0.0.1 localhost\n10.1.2.3 fns1\n');
    // Another engine's marker: not ours either.
    await writeFile('/etc/netns/fns2/hosts', '# managed by netplumb (deadbeef)\n');
    await writeFile('/etc/netns/fstray/hostname', 'stray\n');
  });
  after(() => cleanup.run());

  it('survive networks, sandboxes of every mode, publishing, connect, removal, prune and a name clash', async () => {
    const before = await foreignState(tables);

    await engine.createNetwork({ name: 'fa', subnet: '10.211.0.0/24' });
    await engine.createNetwork({ name: 'fb', subnet: '10.212.0.0/24', internal: true });
    await engine.createNetwork({
      name: 'fc',
      subnet: '10.213.0.0/24',
      ipv6: true,
      subnet6: 'fd00:213::/64',
      icc: false,
      mtu: 1400,
    });
    await engine.createSandbox({
      name: 'fs1',
      network: 'fa',
      publish: ['18081:80', '18082:53/udp'],
    });
    await engine.createSandbox({ name: 'fs2', network: 'fc', publish: ['127.0.0.1:18083:80'] });
    await engine.createSandbox({ name: 'fs3', network: 'bridge', publish: ['18084:80'] });
    await engine.createSandbox({ name: 'fs4', network: 'none' });
    await engine.createSandbox({ name: 'fs5', network: 'host', publish: ['18085:80'] });
    await engine.createSandbox({ name: 'fs6', network: 'container:fs1' });
    await engine.connect('fs1', 'fb', { aliases: ['alt'] });
    await engine.listNetworks();
    await engine.listSandboxes();
    await engine.inspectSandbox('fs1');
    await engine.disconnect('fs1', 'fb');
    assert.deepEqual(await foreignState(tables), before, 'while our objects exist');

    // A sandbox named like a foreign namespace: refused, and its namespace
    // and /etc/netns files stay as they were.
    await assert.rejects(engine.createSandbox({ name: 'fns1', network: 'fa' }));
    await assert.rejects(engine.createSandbox({ name: 'fns2', network: 'none' }));
    assert.deepEqual(await foreignState(tables), before, 'after a name clash');

    await engine.prune();
    for (const s of ['fs6', 'fs1', 'fs2', 'fs3', 'fs4', 'fs5']) await engine.removeSandbox(s);
    for (const n of ['fa', 'fb', 'fc', 'bridge']) await engine.removeNetwork(n);
    const report = await engine.prune();
    assert.deepEqual(report.links, [], 'prune removed no link');
    assert.deepEqual(report.netns, [], 'prune removed no /etc/netns directory');

    // Reopened, as after a restart, and pruned again.
    await engine.close();
    engine = await Engine.open({ stateDir: engine.state.dir });
    const reopened = engine;
    cleanup.add('close the reopened engine', () => reopened.close());
    await engine.prune();
    assert.deepEqual(await foreignState(tables), before, 'after removal and prune');
  });
});
