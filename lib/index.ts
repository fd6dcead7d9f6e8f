/**
 * netplumb: container networking for Node.js over netlink.
 *
 * High level: {@link Engine}, Docker's network model (networks, sandboxes in
 * the bridge, host, container and none modes, published ports, DNS by name).
 *
 * Low level, each call named after its `ip`/`nft` equivalent: {@link NetNS}
 * (namespaces, `ip netns`), {@link Rtnl} (links, addresses, routes,
 * neighbours, monitor: `ip link|addr|route|neigh|monitor`), {@link Nft}
 * (nftables: atomic transactions, listing), {@link Conntrack}
 * (`conntrack -L|-D`), `sysctl`. Errors: {@link NetlinkError},
 * {@link NftCommitError}, {@link NftRepliesLostError}, {@link ConntrackFlushError},
 * {@link ValidationError}, {@link ConflictError}, {@link NotFoundError}.
 *
 * @packageDocumentation
 */
export { NetNS, NETNS_RUN_DIR, validateNetnsName } from './netns';
export type { NetNSIdentity, NetNSTarget } from './netns';
export { Rtnl, Monitor } from './rtnl';
export type * from './rtnl';
export { Nft, Transaction } from './nft';
export type * from './nft';
export * as sysctl from './sysctl';
export {
  NetlinkError,
  NftCommitError,
  NftRepliesLostError,
  ConntrackFlushError,
  ValidationError,
  ConflictError,
  NotFoundError,
} from './errors';
export { K as constants } from './binding';
export { Engine } from './engine/engine';
export type { EngineOptions } from './engine/engine';
export type * from './engine/types';
export type {
  EtcdOptions,
  OverlayBackend,
  OverlayInfo,
  OverlayOptions,
} from './engine/overlay/spec';
export { Conntrack } from './conntrack';
export type { CtEntry, CtFilter, CtTuple } from './conntrack';
