/**
 * Runs the C floor (bench/floor/floor.c) for N sandboxes with one published
 * port each: prepares the bridge and the nftables map with netplumb, encodes
 * every message the floor sends with netplumb's encoders, then times the C
 * program. Inside the bench sandbox:
 *   node dist/bench/floor.js FLOOR_BINARY N REPS [--concurrency C] [--warmup W]
 * prints JSON lines; with C > 1 the floor makes the sandboxes on C threads at
 * once (peer "c-floor-cC"), beside the engine's C calls in flight. With
 * --warmup it first makes and removes W sandboxes, as engine.ts does (peer
 * "c-floor-warm"). With --files the floor also makes the engine's file
 * operations for each sandbox (state records, reservations, /etc/netns;
 * see floor.c), peer "c-floor-files...". A warmed-up run on one thread also
 * prints where the floor's time went, per phase (a micro line beside the
 * engine's "sequential create" phases).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';

import { Nft, Rtnl } from '../lib';
import { native } from '../lib/binding';
import { waitIdle } from './idle';

const args = process.argv.slice(2);
const ci = args.indexOf('--concurrency');
const C = ci >= 0 ? Number(args.splice(ci, 2)[1]) : 1;
const wi = args.indexOf('--warmup');
const WARMUP = wi >= 0 ? Number(args.splice(wi, 2)[1]) : 0;
const fi = args.indexOf('--files');
if (fi >= 0) args.splice(fi, 1);
const FILES = fi >= 0;
/** The floor's state directory with --files, laid out as the engine's. */
const STATE = '/run/floor-state';

/** Removes what a round's file operations made. */
function clearState(): void {
  rmSync(STATE, { recursive: true, force: true });
  for (const f of readdirSync('/etc/netns')) {
    if (f.startsWith('floor')) rmSync(`/etc/netns/${f}`, { recursive: true, force: true });
  }
}

/** With --files, the state directory a round starts from: the network's record, no sandbox yet. */
function prepareState(): void {
  if (!FILES) return;
  for (const dir of ['ipam/floor', 'sandboxes', 'ports', 'networks'])
    mkdirSync(`${STATE}/${dir}`, { recursive: true, mode: 0o700 });
  const network = {
    name: 'floor',
    id: 'f1005000',
    state: 'ready',
    subnet: '10.88.0.0/16',
    gateway: '10.88.0.1',
    bridge: 'flbr0',
  };
  writeFileSync(`${STATE}/networks/floor.json`, JSON.stringify(network), { mode: 0o600 });
}
const [floorBin, nText = '100', repsText = '3'] = args;
const N = Number(nText);
const REPS = Number(repsText);

function ip(i: number): string {
  const h = i + 2;
  return `10.88.${h >> 8}.${h & 255}`;
}

function chunk(buf: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32LE(buf.length, 0);
  return Buffer.concat([len, buf]);
}

async function main(): Promise<void> {
  const rt = await Rtnl.open();
  const nft = await Nft.open();
  /** One setup and teardown of n sandboxes: the floor's outputs. */
  const round = async (n: number): Promise<{ setup: string; teardown: string }> => {
    // With a MAC of its own and multicast snooping off, as the engine makes
    // bridges (see bridgeMac and createBridge).
    const br = await rt.links.add({
      kind: 'bridge',
      name: 'flbr0',
      mac: '02:00:00:f1:00:01',
      mcastSnooping: false,
      up: true,
    });
    await rt.addrs.add('flbr0', '10.88.0.1/16');
    const map = { family: 'inet' as const, table: 'floor', name: 'ports' };
    await nft
      .transaction()
      .addTable({ family: 'inet', name: 'floor' })
      .addSet({ ...map, key: ['inet_proto', 'inet_service'], map: ['ipv4_addr', 'inet_service'] })
      .commit();
    const parts: Buffer[] = [];
    for (let i = 0; i < n; i++) {
      // MTU and one queue each way on both ends, and eth0's MAC, as the
      // engine sends them.
      const veth = await rt.links.addWire({
        kind: 'veth',
        name: 'eth0',
        mtu: 1500,
        numTxQueues: 1,
        numRxQueues: 1,
        mac: `02:42:0a:58:${((i + 2) >> 8).toString(16).padStart(2, '0')}:${((i + 2) & 255)
          .toString(16)
          .padStart(2, '0')}`,
        peer: { name: `flv${i}`, mtu: 1500, numTxQueues: 1, numRxQueues: 1 },
      });
      veth.index = 2;
      veth.peer!.netnsFd = 3; // the floor opens the host namespace on fd 3
      parts.push(
        chunk(
          Buffer.concat([
            native.encode('newlink', await rt.links.setWire(1, { up: true })),
            native.encode('newlink', veth),
          ]),
        ),
      );
      // As the engine: the host end joins the bridge, comes up and gets the
      // owner's alias; hairpin (a published port) in a message of its own,
      // since the kernel applies bridge-port settings before the master.
      parts.push(
        chunk(
          Buffer.concat([
            native.encode(
              'newlink',
              await rt.links.setWire(`flv${i}`, {
                master: br.index,
                up: true,
                alias: `netplumb:f1005000:ep:floor${i}:floor`,
              }),
            ),
            native.encode(
              'newlink',
              await rt.links.setWire(`flv${i}`, { port: { hairpin: true } }),
            ),
          ]),
        ),
      );
      parts.push(
        chunk(
          Buffer.concat([
            native.encode('newaddr', rt.addrs.wire(2, `${ip(i)}/16`)),
            native.encode('newlink', await rt.links.setWire(2, { up: true })),
            (await rt.routes.request({ dst: 'default', gateway: '10.88.0.1', dev: 2 }, 'add')).buf,
          ]),
        ),
      );
      const tx = nft.transaction().addElements(map, [{ key: [6, 20000 + i], value: [ip(i), 80] }]);
      parts.push(chunk((await tx.build()).batch));
    }
    writeFileSync('/run/floor.msgs', Buffer.concat(parts));
    prepareState();
    await waitIdle();
    const setup = execFileSync(
      floorBin!,
      ['setup', '/run/floor.msgs', String(n), String(C), ...(FILES ? [STATE] : [])],
      { encoding: 'utf8' },
    );
    await waitIdle();
    const teardown = execFileSync(floorBin!, ['teardown', String(n)], { encoding: 'utf8' });
    await nft.transaction().deleteTable({ family: 'inet', name: 'floor' }).commit();
    await rt.links.del('flbr0');
    clearState();
    return { setup, teardown };
  };
  // The same churn as the engine's warm-up: the kernel's caches, not a JIT's.
  for (let made = 0; made < WARMUP; made += 200) await round(Math.min(200, WARMUP - made));
  const peer = `c-floor${FILES ? '-files' : ''}${C === 1 ? '' : `-c${C}`}${WARMUP > 0 ? '-warm' : ''}`;
  /** ms per sandbox of each phase (floor.c's PHASES), one entry per rep. */
  const phases = new Map<string, number[]>();
  const totals: number[] = [];
  for (let rep = 1; rep <= REPS; rep++) {
    const { setup, teardown } = await round(N);
    const ns = (s: string, key: string): number =>
      Number(new RegExp(`${key} (\\d+)`).exec(s)![1]) / 1e9;
    totals.push((ns(setup, 'setup_ns') * 1000) / N);
    for (const [, name, total] of setup.matchAll(/^phase_(\w+)_ns (\d+)$/gm))
      phases.set(name!, [...(phases.get(name!) ?? []), Number(total) / 1e6 / N]);
    // per sandbox, as bench/engine.ts reports them
    const tenth = Math.max(1, Math.floor(N / 10));
    console.log(
      JSON.stringify({
        peer,
        variant: 'port',
        n: N,
        rep,
        setup: { wall_s: ns(setup, 'setup_ns') },
        teardown: { wall_s: ns(teardown, 'teardown_ns') },
        // Sandboxes made at once have no first and last tenth of their own.
        ...(C === 1
          ? {
              first_tenth_ms: (ns(setup, 'first_tenth_ns') * 1000) / tenth,
              last_tenth_ms: (ns(setup, 'last_tenth_ns') * 1000) / tenth,
            }
          : {}),
        ok: true,
      }),
    );
  }
  if (C === 1 && WARMUP > 0 && phases.size > 0) {
    const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
    console.log(
      JSON.stringify({
        bench: `${peer} phases (ms per sandbox, median of ${REPS} runs of ${N})`,
        total: median(totals),
        ...Object.fromEntries([...phases].map(([k, v]) => [k, median(v)])),
      }),
    );
  }
  await nft.close();
  await rt.close();
}

void main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
