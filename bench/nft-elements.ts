/**
 * Adding map elements: 10,000 in one batch versus one element per
 * transaction (what publishing one port at a time costs). Prints time per
 * element. Run it inside a private network namespace, never the host's:
 *   unshare --net --mount --propagation private node dist/bench/nft-elements.js [COUNT]
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

import { Nft } from '../lib';
import type { SetElement, SetSpec } from '../lib/nft/types';

const COUNT = Number(process.argv[2] ?? 10000);
const TABLE = { family: 'inet', name: 'bench' } as const;
const MAP: SetSpec = {
  family: 'inet',
  table: 'bench',
  name: 'published',
  key: ['ipv4_addr', 'inet_service'],
  map: ['ipv4_addr', 'inet_service'],
};

function elements(n: number, offset: number): SetElement[] {
  const out: SetElement[] = [];
  for (let i = offset; i < offset + n; i++) {
    out.push({
      key: [`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, 8080],
      value: ['172.17.0.2', 80],
    });
  }
  return out;
}

function refuseHostNamespace(): void {
  const links = readFileSync('/proc/net/dev', 'utf8')
    .split('\n')
    .slice(2)
    .map((l) => l.split(':')[0]!.trim())
    .filter((n) => n.length > 0);
  if (links.some((n) => n !== 'lo')) {
    console.error(
      'nft-elements: this namespace has interfaces besides lo; run me under unshare --net',
    );
    process.exit(2);
  }
}

function report(what: string, ms: number, n: number): void {
  const per = (ms * 1000) / n;
  console.log(
    `  ${what.padEnd(44)} ${ms.toFixed(1).padStart(9)} ms  ${per.toFixed(2).padStart(8)} µs/element`,
  );
}

async function main(): Promise<void> {
  refuseHostNamespace();
  const nft = await Nft.open();
  try {
    await nft.transaction().addTable(TABLE).addSet(MAP).commit();
    console.log(
      `nft map elements (${JSON.stringify(MAP.key)} : ${JSON.stringify(MAP.map)}), ${COUNT} each`,
    );

    const batch = elements(COUNT, 0);
    let t0 = performance.now();
    await nft.transaction().addElements(MAP, batch).commit();
    report(`${COUNT} elements in one batch (first run)`, performance.now() - t0, COUNT);
    await nft.transaction().flushSet(MAP).commit();
    t0 = performance.now();
    await nft.transaction().addElements(MAP, batch).commit();
    report(`${COUNT} elements in one batch (again)`, performance.now() - t0, COUNT);

    await nft.transaction().flushSet(MAP).commit();
    const single = elements(COUNT, 0);
    t0 = performance.now();
    for (const e of single) await nft.transaction().addElements(MAP, [e]).commit();
    report(`${COUNT} elements, one transaction each`, performance.now() - t0, COUNT);

    // The 1,000th port costs what the first did: one more element on a full map.
    const extra = elements(1, COUNT + 1);
    t0 = performance.now();
    await nft.transaction().addElements(MAP, extra).commit();
    report(`1 more element on a map of ${COUNT}`, performance.now() - t0, 1);

    const listed = (await nft.listElements(MAP)).length;
    if (listed !== COUNT + 1) throw new Error(`expected ${COUNT + 1} elements, listed ${listed}`);
  } finally {
    await nft
      .transaction()
      .deleteTable(TABLE)
      .commit()
      .catch(() => undefined);
    await nft.close();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
