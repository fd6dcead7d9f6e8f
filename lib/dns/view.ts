/**
 * What the resolver knows: for each network with DNS, its sandboxes' names,
 * aliases and addresses, built from the engine's records. A view is
 * immutable; updates swap in a new one, so a query is always answered from
 * one consistent snapshot.
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
  for (const s of sandboxes) {
    if (s.state !== 'ready') continue;
    for (const ep of s.endpoints) {
      const nv = view.networks.get(ep.network);
      if (!nv) continue;
      let m = view.memberships.get(s.name);
      if (!m) view.memberships.set(s.name, (m = new Set()));
      m.add(ep.network);
      const names = new Set([s.name, s.hostname, ...ep.aliases].map((x) => x.toLowerCase()));
      for (const name of names) {
        const entry = nv.names.get(name) ?? { v4: [], v6: [] };
        entry.v4.push(ep.ip);
        if (ep.ip6) entry.v6.push(ep.ip6);
        nv.names.set(name, entry);
      }
      nv.ptr.set(ep.ip, s.name);
      nv.members.set(ep.ip, s.name);
      if (ep.ip6) {
        nv.ptr.set(ep.ip6, s.name);
        nv.members.set(ep.ip6, s.name);
      }
    }
  }
  return view;
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
