/**
 * What the engine asks of its firewall. The nftables implementation lives in
 * nft-firewall.ts; `Engine.open({ firewall: false })` runs without one (like
 * Docker's `iptables: false`): no masquerade, no isolation, no publishing.
 */
import type { EndpointRecord, NetworkRecord, SandboxRecord } from './records';

export interface Firewall {
  /** masquerade, isolation and forwarding rules of a new network */
  addNetwork(net: NetworkRecord): Promise<void>;
  removeNetwork(net: NetworkRecord): Promise<void>;
  /** DNAT for an endpoint's published ports (ep.ports) */
  publish(sbx: SandboxRecord, ep: EndpointRecord, net: NetworkRecord): Promise<void>;
  unpublish(sbx: SandboxRecord, ep: EndpointRecord): Promise<void>;
  /** a sandbox's endpoints pass to another name (container mode owner left) */
  reown(from: SandboxRecord, to: SandboxRecord): Promise<void>;
  /** removes entries of sandboxes/networks not in the given sets; returns how many */
  prune?(sandboxes: Set<string>, networks: Set<string>): Promise<number>;
  close(): Promise<void>;
}
