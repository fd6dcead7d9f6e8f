/**
 * Every script under examples/ runs as a reader would run it (built, from
 * dist/examples), says what the README says it shows, and leaves the
 * namespace as it found it: no links, namespaces or nftables tables left.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';

import { Engine } from '../../lib';
import { Cleanup, ROOT, ipJson, requireSandbox, run } from '../helpers';

const EXAMPLES = path.join(ROOT, 'dist', 'examples');
let counter = 0;

interface Snapshot {
  links: string[];
  netns: string[];
  tables: string[];
}

async function snapshot(): Promise<Snapshot> {
  const links = (await ipJson<{ ifname: string }[]>(['link', 'show'])).map((l) => l.ifname);
  const netns = await readdir('/run/netns').catch(() => [] as string[]);
  const nft = JSON.parse((await run('nft', ['-j', 'list', 'tables'])).stdout) as {
    nftables: { table?: { family: string; name: string } }[];
  };
  const tables = nft.nftables.flatMap((o) =>
    o.table ? [`${o.table.family} ${o.table.name}`] : [],
  );
  return { links: links.sort(), netns: netns.sort(), tables: tables.sort() };
}

/** Runs a command to its end; its exit status and output, whatever they are. */
function exec(
  argv: string[],
  stateDir: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      argv[0]!,
      argv.slice(1),
      {
        encoding: 'utf8',
        timeout: 60_000,
        // No upstream resolvers: names the networks do not know fail at once.
        env: { ...process.env, NETPLUMB_STATE_DIR: stateDir, NETPLUMB_RESOLV_CONF: '/dev/null' },
      },
      (err, stdout, stderr) => {
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
      },
    );
  });
}

describe('examples', function () {
  this.timeout(90_000);
  this.slow(10_000);
  before(requireSandbox);
  const cleanup = new Cleanup();
  afterEach(() => cleanup.run());

  /** Runs examples/NAME (through `prefix` if given), checks its exit and that nothing is left. */
  async function example(name: string, prefix: string[] = []): Promise<string> {
    const stateDir = `/run/np-examples-${process.pid}-${++counter}`;
    const before = await snapshot();
    cleanup.add(`remove what ${name} may have left`, async () => {
      const engine = await Engine.open({ stateDir, resolvConf: '/dev/null' });
      try {
        for (const s of await engine.listSandboxes()) await engine.removeSandbox(s.name);
        for (const n of await engine.listNetworks()) await engine.removeNetwork(n.name);
        await engine.prune();
      } finally {
        await engine.close();
      }
      for (const ns of await readdir('/run/netns').catch(() => [] as string[]))
        if (ns.startsWith('ex-')) await run('ip', ['netns', 'delete', ns]);
      for (const l of ['exveth0', 'exbr0'])
        await run('ip', ['link', 'del', l]).catch(() => undefined);
      await run('nft', ['delete', 'table', 'ip', 'ex_walk']).catch(() => undefined);
      await rm(stateDir, { recursive: true, force: true });
    });
    const r = await exec(
      [...prefix, process.execPath, path.join(EXAMPLES, `${name}.js`)],
      stateDir,
    );
    assert.equal(r.code, 0, `${name} failed:\n${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /^removed$/m);
    assert.deepEqual(await snapshot(), before, `${name} left nothing behind`);
    return r.stdout;
  }

  it('bridge: the default network, an address from 172.17.0.0/16, the host reached through the gateway', async () => {
    const out = await example('bridge');
    assert.match(out, /^sandbox ex-bridge: mode bridge, network bridge$/m);
    assert.match(out, /^address 172\.17\.0\.\d+\/16 on eth0, gateway 172\.17\.0\.1$/m);
    assert.match(out, /^default via 172\.17\.0\.1 dev eth0/m);
    assert.match(out, /^the sandbox reached 172\.17\.0\.1:\d+: hello from the host$/m);
  });

  it('user-network: names and aliases by DNS, isolation from another network, connect and disconnect', async () => {
    const out = await example('user-network');
    assert.match(out, /^from ex-db: ex-web is 10\.89\.7\.2$/m);
    assert.match(out, /^from ex-db: frontend is 10\.89\.7\.2$/m);
    assert.match(
      out,
      /^from ex-db: GET http:\/\/ex-web:8080\/ -> hello from ex-web \(asked by 10\.89\.7\.3\)$/m,
    );
    assert.match(
      out,
      /from ex-db: ex-cache is not found\nconnected ex-db to ex-other as eth1 10\.89\.8\.\d+\nfrom ex-db: ex-cache is 10\.89\.8\.2\ndisconnected; from ex-db: ex-cache is not found/,
    );
  });

  it('host: no namespace of its own, published ports dropped with a warning', async () => {
    const out = await example('host');
    assert.match(out, /^sandbox ex-host: mode host, endpoints 0$/m);
    assert.match(out, /^its namespace: none of its own/m);
    assert.match(out, /^warning: Published ports are discarded when using host network mode$/m);
  });

  it("container: the sidecar shares ex-main's interfaces and localhost; publishing is refused", async () => {
    const out = await example('container');
    const main = /^ex-main sees: +(.+)$/m.exec(out)?.[1];
    const side = /^ex-sidecar sees: +(.+)$/m.exec(out)?.[1];
    assert.ok(main?.includes('10.89.9.2/24'));
    assert.equal(side, main);
    assert.match(
      out,
      /^from ex-sidecar: GET http:\/\/127\.0\.0\.1:9000\/ -> hello from ex-main \(asked by 127\.0\.0\.1\)$/m,
    );
    assert.match(out, /^refused: .*port publishing and the container .*network mode/m);
  });

  it('none: only lo, no routes, nothing reachable', async () => {
    const out = await example('none');
    assert.match(out, /^links inside: lo UNKNOWN \S+ <LOOPBACK,UP,LOWER_UP>$/m);
    assert.match(out, /^routes inside: \(none\)$/m);
    assert.match(out, /^ping 172\.17\.0\.1: network is unreachable$/m);
  });

  it('ports: -p and -P reached from the host on 127.0.0.1 and on the gateway address', async () => {
    const out = await example('ports');
    assert.match(out, /^published 0\.0\.0\.0:8080 -> 172\.17\.0\.\d+:80\/tcp$/m);
    const random = /^published 0\.0\.0\.0:(\d+) -> 172\.17\.0\.\d+:9090\/tcp$/m.exec(out);
    assert.ok(random && Number(random[1]) >= 1024, out);
    assert.match(out, /^GET http:\/\/127\.0\.0\.1:8080\/ -> port 80 of ex-ports /m);
    assert.match(out, /^GET http:\/\/172\.17\.0\.1:8080\/ -> port 80 of ex-ports /m);
    assert.match(out, /^GET http:\/\/127\.0\.0\.1:\d+\/ \(-P\) -> port 9090 of ex-ports /m);
  });

  it('walkthrough: the ip/nft steps by hand, read back, with traffic', async () => {
    const out = await example('walkthrough');
    assert.match(out, /^inside: eth0 UP 10\.89\.42\.2\/24$/m);
    assert.match(out, /^inside: route default via 10\.89\.42\.1$/m);
    assert.match(out, /^host: exveth0 master exbr0, peer ifindex \d+$/m);
    assert.match(out, /^nft: table ip ex_walk, 1 rule: .*"masquerade":true/m);
    assert.match(out, /^ping from ex-walk to the bridge: answered$/m);
  });

  it('isolated.sh runs an example in a throwaway namespace of its own', async () => {
    const out = await example('none', ['bash', path.join(ROOT, 'examples', 'isolated.sh')]);
    assert.match(out, /^routes inside: \(none\)$/m);
  });
});
