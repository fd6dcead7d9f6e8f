/**
 * netplumb: container networking for Node.js over netlink.
 *
 * Low level: NetNS (namespaces), Rtnl (links, addresses, routes, neighbours,
 * monitor), Nft (nftables: atomic transactions, listing), sysctl. Errors:
 * NetlinkError, NftCommitError, ValidationError.
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
