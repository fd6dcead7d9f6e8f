/**
 * What the resolver knows: for each network with DNS, its sandboxes' names,
 * aliases and addresses, built from the engine's records. A full reload
 * swaps in a new view; one sandbox's change is applied in place
 * (applySandbox), synchronously, so a query sees all of it or none.
 */
import { isIPv4 } from 'node:net';

import type { NetworkRecord, SandboxRecord } from '../engine/records';
import { formatIp } from '../util/ip';

export interface NetworkView {
  name: string;
  internal: boolean;
  gateway: string;
  gateway6?: string;
  /** lower-case name -> addresses (names: sandbox name, hostname, aliases) */
  names: Map<string, { v4: string[]; v6: string[] }>;
  /** address -> the sandbox name it answers PTR queries with */
  ptr: Map<string, string>;
  /** member address -> sandbox */
  members: Map<string, string>;
}

export interface DnsView {
  networks: Map<string, NetworkView>;
  /** sandbox -> networks it is on (only DNS-enabled ones) */
  memberships: Map<string, Set<string>>;
}

/** User-defined networks get DNS; the default bridge does not (as in Docker). */
export function hasDns(net: NetworkRecord): boolean {
  return !net.default && net.state === 'ready';
}

export function buildView(networks: NetworkRecord[], sandboxes: SandboxRecord[]): DnsView {
  const view: DnsView = { networks: new Map(), memberships: new Map() };
  for (const n of networks) {
    if (!hasDns(n)) continue;
    view.networks.set(n.name, {
      name: n.name,
      internal: n.internal,
      gateway: n.gateway,
      ...(n.gateway6 ? { gateway6: n.gateway6 } : {}),
      names: new Map(),
      ptr: new Map(),
      members: new Map(),
    });
  }
  for (const s of sandboxes) applySandbox(view, undefined, s);
  return view;
}

const namesOf = (s: SandboxRecord, aliases: string[]): Set<string> =>
  new Set([s.name, s.hostname, ...aliases].map((x) => x.toLowerCase()));

function without(list: string[], ip: string): string[] {
  const i = list.indexOf(ip);
  return i < 0 ? list : [...list.slice(0, i), ...list.slice(i + 1)];
}

/**
 * Takes `old` (a sandbox as the view has it) out of the view and puts `next`
 * (its new record; undefined when removed) in, in place.
 */
export function applySandbox(
  view: DnsView,
  old: SandboxRecord | undefined,
  next: SandboxRecord | undefined,
): void {
  if (old?.state === 'ready') {
    for (const ep of old.endpoints) {
      const nv = view.networks.get(ep.network);
      if (!nv) continue;
      for (const name of namesOf(old, ep.aliases)) {
        const entry = nv.names.get(name);
        if (!entry) continue;
        const v4 = without(entry.v4, ep.ip);
        const v6 = ep.ip6 ? without(entry.v6, ep.ip6) : entry.v6;
        if (v4.length === 0 && v6.length === 0) nv.names.delete(name);
        else nv.names.set(name, { v4, v6 });
      }
      for (const ip of [ep.ip, ...(ep.ip6 ? [ep.ip6] : [])]) {
        if (nv.ptr.get(ip) === old.name) nv.ptr.delete(ip);
        if (nv.members.get(ip) === old.name) nv.members.delete(ip);
      }
    }
    view.memberships.delete(old.name);
  }
  if (next?.state !== 'ready') return;
  for (const ep of next.endpoints) {
    const nv = view.networks.get(ep.network);
    if (!nv) continue;
    let m = view.memberships.get(next.name);
    if (!m) view.memberships.set(next.name, (m = new Set()));
    m.add(ep.network);
    for (const name of namesOf(next, ep.aliases)) {
      const entry = nv.names.get(name) ?? { v4: [], v6: [] };
      nv.names.set(name, {
        v4: [...entry.v4, ep.ip],
        v6: ep.ip6 ? [...entry.v6, ep.ip6] : entry.v6,
      });
    }
    nv.ptr.set(ep.ip, next.name);
    nv.members.set(ep.ip, next.name);
    if (ep.ip6) {
      nv.ptr.set(ep.ip6, next.name);
      nv.members.set(ep.ip6, next.name);
    }
  }
}

/** `4.3.2.1.in-addr.arpa` -> 1.2.3.4; ip6.arpa nibbles -> the IPv6 address; otherwise undefined. */
export function reverseName(name: string): string | undefined {
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.in-addr\.arpa$/.exec(name);
  if (v4) {
    const ip = [v4[4], v4[3], v4[2], v4[1]].join('.');
    return isIPv4(ip) ? ip : undefined;
  }
  const v6 = /^((?:[0-9a-f]\.){32})ip6\.arpa$/.exec(name);
  if (v6) return formatIp(Buffer.from(v6[1]!.split('.').filter(Boolean).reverse().join(''), 'hex'));
  return undefined;
}
