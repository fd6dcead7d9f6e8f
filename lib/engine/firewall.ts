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
  unpublish(sbx: SandboxRecord, ep: EndpointRecord): Promise<void>;
  /** DNAT for an endpoint's published ports (ep.ports), as an nf_tables batch for a sandbox job to send (undefined: nothing to add) */
  publishBatch(sbx: SandboxRecord, ep: EndpointRecord): Promise<Buffer | undefined>;
  /** a sandbox's endpoints pass to another name (container mode owner left) */
  reown(from: SandboxRecord, to: SandboxRecord): Promise<void>;
  /** removes entries of sandboxes/networks not in the given sets; returns how many */
  prune?(sandboxes: Set<string>, networks: Set<string>): Promise<number>;
  close(): Promise<void>;
}
