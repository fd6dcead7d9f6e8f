/**
 * nft(8) as the oracle of the nftables integration tests: what it lists
 * (text and JSON) inside a named namespace.
 */
import assert from 'node:assert/strict';

import { inNs } from '../helpers';

export interface NftJsonRule {
  family: string;
  table: string;
  chain: string;
  handle: number;
  expr: Record<string, unknown>[];
  comment?: string;
}

/** `nft -j list ruleset` items (metainfo left out), parsed; throws if nft cannot print it. */
export async function nftJson(netns: string): Promise<Record<string, unknown>[]> {
  const { stdout, stderr } = await inNs(netns, 'nft', ['-j', 'list', 'ruleset']);
  assert.equal(stderr.trim(), '', `nft -j list ruleset complained: ${stderr}`);
  const doc = JSON.parse(stdout) as { nftables: Record<string, unknown>[] };
  return doc.nftables.filter((o) => !('metainfo' in o));
}

export async function nftJsonRules(netns: string): Promise<NftJsonRule[]> {
  return (await nftJson(netns)).flatMap((o) => ('rule' in o ? [o.rule as NftJsonRule] : []));
}

/** `nft [-a] ARGS...` output in a namespace. */
export async function nftText(netns: string, args: string[]): Promise<string> {
  const { stdout, stderr } = await inNs(netns, 'nft', args);
  assert.equal(stderr.trim(), '', `nft ${args.join(' ')} complained: ${stderr}`);
  return stdout;
}

/** The rule lines of `nft -a list chain`, as `text # handle N`. */
export async function chainLines(
  netns: string,
  family: string,
  table: string,
  chain: string,
): Promise<string[]> {
  const out = await nftText(netns, ['-a', 'list', 'chain', family, table, chain]);
  return out
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => / # handle \d+$/.test(l) && !l.startsWith('chain ') && !l.startsWith('table '));
}
