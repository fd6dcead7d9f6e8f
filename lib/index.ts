/**
 * netplumb: container networking for Node.js over netlink.
 *
 * Low level: NetNS (namespaces), Rtnl (links, addresses, routes, neighbours,
 * monitor), sysctl. Errors: NetlinkError, ValidationError.
 */
export { NetNS, NETNS_RUN_DIR, validateNetnsName } from './netns';
export type { NetNSIdentity, NetNSTarget } from './netns';
export { Rtnl, Monitor } from './rtnl';
export type * from './rtnl';
export * as sysctl from './sysctl';
export { NetlinkError, ValidationError, ConflictError, NotFoundError } from './errors';
export { K as constants } from './binding';
export { Engine } from './engine/engine';
export type { EngineOptions } from './engine/engine';
export type * from './engine/types';
