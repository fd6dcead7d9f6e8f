/**
 * A NAT router built with the Nft API only: three namespaces (client,
 * router, server) joined by veths, a DNAT map sending client traffic for
 * router:8080 to server:80, masquerade towards the server, a counter, a
 * drop rule. Checked with real TCP and with `nft -j list ruleset`.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';

import { NetNS, Nft, Rtnl, sysctl } from '../../lib';
import type { Rule, Stmt } from '../../lib/nft/types';
import { Cleanup, inNs, requireSandbox, waitFor } from '../helpers';
import { nftJson, nftJsonRules } from './oracle';

const CLIENT = 'np-nft-client';
const ROUTER = 'np-nft-router';
const SERVER = 'np-nft-server';
const TABLE = { family: 'inet', name: 'natrouter' } as const;
const T = { family: 'inet', table: 'natrouter' } as const;

/** A TCP server in the server namespace: answers each connection with the peer it saw. */
const SERVER_JS = `
const net = require('net');
const s = net.createServer((c) => { c.end('peer=' + c.remoteAddress + '\\n'); });
s.listen(80, '10.10.2.2', () => console.log('ready'));
`;

/** Connects from the client namespace; prints what the server said, or fails. */
function clientJs(host: string, port: number, timeoutMs: number): string {
  return `
const net = require('net');
const c = net.connect({ host: '${host}', port: ${port} });
let data = '';
c.setTimeout(${timeoutMs}, () => { console.error('timeout'); process.exit(2); });
c.on('data', (d) => { data += d; });
c.on('end', () => { process.stdout.write(data); process.exit(0); });
c.on('error', (e) => { console.error(e.code); process.exit(3); });
`;
}

async function connect(port: number, timeoutMs = 5000): Promise<string> {
  const { stdout } = await inNs(CLIENT, 'node', ['-e', clientJs('10.10.1.1', port, timeoutMs)], {
    timeout: timeoutMs + 5000,
  });
  return stdout.trim();
}

function counterOf(rule: Rule | undefined): { packets: number; bytes: number } {
  const c = rule?.expr.find((s): s is Extract<Stmt, { counter: unknown }> => 'counter' in s);
  assert.ok(c && typeof c.counter === 'object', 'rule has a counter');
  return c.counter;
}

describe('nftables: a NAT router from three namespaces', function () {
  this.timeout(60000);
  const cleanup = new Cleanup();
  let nft: Nft;
  let server: ChildProcess | undefined;

  before(async () => {
    requireSandbox();
    const client = await NetNS.create(CLIENT);
    cleanup.add('delete client netns', () => client.delete());
    const router = await NetNS.create(ROUTER);
    cleanup.add('delete router netns', () => router.delete());
    const srv = await NetNS.create(SERVER);
    cleanup.add('delete server netns', () => srv.delete());

    const rt = await Rtnl.open(router);
    cleanup.add('close rtnl', () => rt.close());
    await rt.links.set('lo', { up: true });
    // Peers come up from their own namespace: `up` on a peer born elsewhere is refused (ENOTCONN).
    await rt.links.add({
      kind: 'veth',
      name: 'rc0',
      up: true,
      peer: { name: 'eth0', netns: client },
    });
    await rt.links.add({ kind: 'veth', name: 'rs0', up: true, peer: { name: 'eth0', netns: srv } });
    await rt.addrs.add('rc0', '10.10.1.1/24');
    await rt.addrs.add('rs0', '10.10.2.1/24');
    const rc = await Rtnl.open(client);
    cleanup.add('close client rtnl', () => rc.close());
    await rc.links.set('lo', { up: true });
    await rc.links.set('eth0', { up: true });
    await rc.addrs.add('eth0', '10.10.1.2/24');
    await rc.routes.add({ dst: 'default', gateway: '10.10.1.1' });
    const rs = await Rtnl.open(srv);
    cleanup.add('close server rtnl', () => rs.close());
    await rs.links.set('lo', { up: true });
    await rs.links.set('eth0', { up: true });
    // No route back to the client: only masquerade lets the server answer.
    await rs.addrs.add('eth0', '10.10.2.2/24');
    await sysctl.set('net.ipv4.ip_forward', '1', { netns: router });

    nft = await Nft.open(router);
    cleanup.add('close nft', () => nft.close());

    server = spawn('ip', ['netns', 'exec', SERVER, 'node', '-e', SERVER_JS], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const child = server;
    cleanup.add('stop the server', async () => {
      if (child.exitCode === null && child.pid !== undefined) process.kill(child.pid, 'SIGTERM');
      if (child.exitCode === null) await new Promise((resolve) => child.once('exit', resolve));
    });
    let ready = false;
    child.stdout!.on('data', (d: Buffer) => {
      if (d.toString().includes('ready')) ready = true;
    });
    await waitFor('the server to listen', () => ready, 10000);
  });

  after(() => cleanup.run());

  it('forwards router:8080 to server:80 through a DNAT map, masquerades, counts, drops, and leaves nothing', async () => {
    const result = await nft
      .transaction()
      .addTable(TABLE)
      .addChain({ ...T, name: 'pre', type: 'nat', hook: 'prerouting', priority: 'dstnat' })
      .addChain({ ...T, name: 'post', type: 'nat', hook: 'postrouting', priority: 'srcnat' })
      .addChain({
        ...T,
        name: 'fwd',
        type: 'filter',
        hook: 'forward',
        priority: 'filter',
        policy: 'accept',
      })
      .addSet({
        ...T,
        name: 'ports',
        key: ['ipv4_addr', 'inet_service'],
        map: ['ipv4_addr', 'inet_service'],
        elements: [{ key: ['10.10.1.1', 8080], value: ['10.10.2.2', 80] }],
      })
      .addRule({
        ...T,
        chain: 'pre',
        expr: [
          { nat: 'dnat', family: 'ip', map: { key: ['ip daddr', 'tcp dport'], set: 'ports' } },
        ],
      })
      .addRule({
        ...T,
        chain: 'post',
        expr: [
          { match: 'ip saddr', value: '10.10.1.0/24' },
          { match: 'oifname', value: 'rs0' },
          { masquerade: true },
        ],
      })
      .addRule({
        ...T,
        chain: 'fwd',
        expr: [
          { match: 'ip saddr', value: '10.10.1.0/24' },
          { match: 'tcp dport', value: 80 },
          { counter: true },
        ],
        comment: 'client to server',
      })
      .commit();
    assert.equal(result.ruleHandles.length, 3);
    const [dnatHandle, masqHandle, countHandle] = result.ruleHandles as [number, number, number];

    try {
      // Real TCP: the server answers with the peer address it saw.
      assert.equal(await connect(8080), 'peer=10.10.2.1');
      assert.equal(await connect(8080), 'peer=10.10.2.1');

      const rules = await nft.listRules({ ...T, chain: 'fwd' });
      const ours = counterOf(rules.find((r) => r.handle === countHandle));
      assert.ok(ours.packets >= 6, `counted ${ours.packets} packets`);
      const theirs = (await nftJsonRules(ROUTER)).find((r) => r.handle === countHandle);
      const jsonCounter = theirs?.expr.find((e) => 'counter' in e)?.counter as {
        packets: number;
        bytes: number;
      };
      assert.deepEqual(jsonCounter, ours, 'nft -j sees the same counts');

      // A drop rule in front really drops: a bounded connect attempt fails.
      const drop = await nft
        .transaction()
        .insertRule({
          ...T,
          chain: 'fwd',
          expr: [
            { match: 'ip daddr', value: '10.10.2.2' },
            { match: 'tcp dport', value: 80 },
            { verdict: 'drop' },
          ],
        })
        .commit();
      const dropHandle = drop.ruleHandles[0]!;
      await assert.rejects(connect(8080, 1500), /timeout/);
      await nft
        .transaction()
        .deleteRule({ ...T, chain: 'fwd', handle: dropHandle })
        .commit();
      assert.equal(await connect(8080), 'peer=10.10.2.1');
    } finally {
      // Everything by handle, then the (now empty) chains, the map, the table.
      await nft
        .transaction()
        .deleteRule({ ...T, chain: 'pre', handle: dnatHandle })
        .deleteRule({ ...T, chain: 'post', handle: masqHandle })
        .deleteRule({ ...T, chain: 'fwd', handle: countHandle })
        .deleteChain({ ...T, name: 'pre' })
        .deleteChain({ ...T, name: 'post' })
        .deleteChain({ ...T, name: 'fwd' })
        .deleteSet({ ...T, name: 'ports' })
        .deleteTable(TABLE)
        .commit();
    }
    assert.deepEqual(await nftJson(ROUTER), [], 'the ruleset is empty again');
  });
});
