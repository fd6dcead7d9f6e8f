/**
 * Multi-host networks (driver 'overlay'): what a caller asks for, how it is
 * checked (before anything reaches etcd or the kernel), and what the state
 * directory keeps of it.
 *
 *   await engine.createNetwork({
 *     name: 'pods', driver: 'overlay', subnet: '10.244.0.0/16',  // the cluster CIDR
 *     overlay: { backend: 'vxlan', etcd: { endpoints: ['http://10.0.0.1:2379'] } },
 *   });
 *
 * Every host runs the same spec; each leases one /hostSubnetLength of the
 * cluster CIDR in etcd and puts it on its local bridge.
 */
import { ValidationError } from '../../errors';
import { validateIfName } from '../../rtnl/common';
import { parseIp } from '../../util/ip';
import { parseSubnet } from '../ipam';

/**
 * How packets reach other hosts:
 *  - 'vxlan': always encapsulated (a VXLAN device, one ARP + FDB entry and
 *    one onlink route per remote host);
 *  - 'direct': plain routes via the remote host's underlay address, no
 *    encapsulation (every host must share the underlay's L2 segment;
 *    a remote host that is not on-link gets no route);
 *  - 'auto': 'direct' for each remote host that is on-link, 'vxlan' for the
 *    others (flannel's DirectRouting).
 */
export type OverlayBackend = 'vxlan' | 'direct' | 'auto';

export const OVERLAY_BACKENDS: readonly OverlayBackend[] = ['vxlan', 'direct', 'auto'];

/** Where the cluster's etcd is, and how netplumb keeps its keys there. */
export interface EtcdOptions {
  /** client URLs, e.g. ['http://127.0.0.1:2379'] */
  endpoints: string[];
  /** key prefix of every netplumb key (default '/netplumb/overlay') */
  prefix?: string;
  /** seconds a host's subnet lease lives without renewal (default 10) */
  ttl?: number;
}

/** The `overlay` part of an overlay network's spec (`driver: 'overlay'`). */
export interface OverlayOptions {
  /** etcd, where hosts lease their subnets and learn each other's */
  etcd: EtcdOptions;
  /** prefix length of each host's share of the cluster CIDR (default 24) */
  hostSubnetLength?: number;
  /** default 'vxlan' */
  backend?: OverlayBackend;
  /** VXLAN network identifier (default 1) */
  vni?: number;
  /** VXLAN UDP port (default IANA's 4789) */
  port?: number;
  /**
   * The underlay: the interface (and its first IPv4 address) other hosts
   * reach this one through. Default: the interface of the default route.
   */
  underlay?: {
    /** the underlay interface's name, e.g. 'eth0' */
    interface?: string;
    /** this host's underlay IPv4 address (default: the interface's first) */
    address?: string;
  };
}

/** What the state directory keeps of an overlay network (in its NetworkRecord). */
export interface OverlayRecord {
  /** the cluster CIDR (the whole overlay) */
  cluster: string;
  hostSubnetLength: number;
  backend: OverlayBackend;
  vni: number;
  port: number;
  etcd: { endpoints: string[]; prefix: string; ttl: number };
  underlay: { interface?: string; address?: string };
  /** the VXLAN device (vxlan and auto backends) */
  vxlan: string;
  /** this host's leased subnet, kept to reclaim it after a restart */
  hostSubnet?: string;
  /** this host's underlay address and VTEP MAC, as published in its lease */
  publicIp?: string;
  vtepMac?: string;
}

/** What inspectNetwork tells about an overlay network. */
export interface OverlayInfo {
  /** the cluster CIDR (the whole overlay) */
  cluster: string;
  /** this host's leased share of it */
  hostSubnet: string;
  /** prefix length of every host's share */
  hostSubnetLength: number;
  /** vxlan, direct or auto (see OverlayOptions) */
  backend: OverlayBackend;
  /** VXLAN network identifier */
  vni: number;
  /** VXLAN UDP port */
  port: number;
  /** this host's underlay address, as its lease publishes it */
  publicIp: string;
  /** this host's VTEP MAC, as its lease publishes it */
  vtepMac: string;
  /** the VXLAN device, when the backend uses one */
  vxlan?: string;
  /** 'up': leased and watching; 'lost': the lease could not be kept or reclaimed */
  status: 'up' | 'lost' | 'closed';
  /** why, when status is 'lost' */
  error?: string;
  /** remote hosts currently programmed: subnet -> underlay address and how it is reached */
  remotes: {
    /** the remote host's leased subnet */
    subnet: string;
    /** the remote host's underlay address */
    publicIp: string;
    /** encapsulated, routed directly on the shared segment, or not programmed */
    via: 'vxlan' | 'direct' | 'unreachable';
  }[];
}

export const DEFAULT_PREFIX = '/netplumb/overlay';
export const DEFAULT_TTL = 10;
export const DEFAULT_VNI = 1;
export const DEFAULT_PORT = 4789;
export const DEFAULT_HOST_SUBNET_LENGTH = 24;
/** IPv4 (20) + UDP (8) + VXLAN (8) + inner Ethernet (14) */
export const VXLAN_OVERHEAD = 50;

function uint(v: unknown, field: string, min: number, max: number, dflt: number): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
    throw new ValidationError(field, `must be an integer from ${min} to ${max}`);
  return v;
}

function etcdEndpoint(v: unknown, field: string): string {
  if (typeof v !== 'string') throw new ValidationError(field, 'must be a URL string');
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    throw new ValidationError(field, `"${v}" is not a URL (like http://127.0.0.1:2379)`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:')
    throw new ValidationError(field, `"${v}" must be an http:// or https:// URL`);
  if (u.pathname !== '/' || u.search !== '' || u.hash !== '' || u.username !== '')
    throw new ValidationError(field, `"${v}" must be scheme://host:port only`);
  return `${u.protocol}//${u.host}`;
}

/**
 * Checks the overlay part of a network spec. `subnet` is the cluster CIDR
 * (required). The VXLAN device name derives from the network id.
 */
export function validateOverlay(
  subnet: unknown,
  opts: unknown,
  id: string,
): OverlayRecord & { hostSubnetLength: number } {
  if (subnet === undefined)
    throw new ValidationError(
      'subnet',
      'an overlay network needs its cluster CIDR (e.g. 10.244.0.0/16)',
    );
  const cluster = parseSubnet(subnet, 'subnet', 4);
  if (typeof opts !== 'object' || opts === null)
    throw new ValidationError(
      'overlay',
      'an overlay network needs overlay: { etcd: { endpoints } }',
    );
  const o = opts as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!['etcd', 'hostSubnetLength', 'backend', 'vni', 'port', 'underlay'].includes(k))
      throw new ValidationError(`overlay.${k}`, 'is not an overlay option');
  }
  if (o.hostSubnetLength === undefined && DEFAULT_HOST_SUBNET_LENGTH <= cluster.prefixlen)
    throw new ValidationError(
      'overlay.hostSubnetLength',
      `the default /${DEFAULT_HOST_SUBNET_LENGTH} does not fit in ${cluster.text}: give one longer than /${cluster.prefixlen}`,
    );
  const hostSubnetLength = uint(
    o.hostSubnetLength,
    'overlay.hostSubnetLength',
    cluster.prefixlen + 1,
    30,
    DEFAULT_HOST_SUBNET_LENGTH,
  );
  if (hostSubnetLength - cluster.prefixlen > 16)
    throw new ValidationError(
      'overlay.hostSubnetLength',
      `/${hostSubnetLength} cuts ${cluster.text} into more than 65536 host subnets`,
    );
  const backend = o.backend === undefined ? 'vxlan' : o.backend;
  if (typeof backend !== 'string' || !OVERLAY_BACKENDS.includes(backend as OverlayBackend))
    throw new ValidationError('overlay.backend', `must be one of ${OVERLAY_BACKENDS.join(', ')}`);
  const vni = uint(o.vni, 'overlay.vni', 1, 0xffffff, DEFAULT_VNI);
  const port = uint(o.port, 'overlay.port', 1, 65535, DEFAULT_PORT);

  const e = o.etcd;
  if (typeof e !== 'object' || e === null)
    throw new ValidationError('overlay.etcd', 'must be { endpoints: [URL, ...] }');
  const etcd = e as Record<string, unknown>;
  for (const k of Object.keys(etcd)) {
    if (!['endpoints', 'prefix', 'ttl'].includes(k))
      throw new ValidationError(`overlay.etcd.${k}`, 'is not an etcd option');
  }
  if (!Array.isArray(etcd.endpoints) || etcd.endpoints.length === 0)
    throw new ValidationError('overlay.etcd.endpoints', 'must be a non-empty array of URLs');
  const endpoints = etcd.endpoints.map((u, i) => etcdEndpoint(u, `overlay.etcd.endpoints[${i}]`));
  const prefix = etcd.prefix === undefined ? DEFAULT_PREFIX : etcd.prefix;
  if (typeof prefix !== 'string' || !/^\/[\x21-\x7e]*[^/]$/.test(prefix))
    throw new ValidationError(
      'overlay.etcd.prefix',
      'must be a key prefix like /netplumb/overlay (a leading "/", no trailing "/", printable ASCII)',
    );
  // etcd refuses TTLs under its minimum (about 2 s with default election timing).
  const ttl = uint(etcd.ttl, 'overlay.etcd.ttl', 2, 86400, DEFAULT_TTL);

  const underlay: { interface?: string; address?: string } = {};
  if (o.underlay !== undefined) {
    if (typeof o.underlay !== 'object' || o.underlay === null)
      throw new ValidationError('overlay.underlay', 'must be { interface?, address? }');
    const u = o.underlay as Record<string, unknown>;
    for (const k of Object.keys(u)) {
      if (k !== 'interface' && k !== 'address')
        throw new ValidationError(`overlay.underlay.${k}`, 'is not an underlay option');
    }
    if (u.interface !== undefined)
      underlay.interface = validateIfName(u.interface, 'overlay.underlay.interface');
    if (u.address !== undefined) {
      const ip = parseIp(u.address, 'overlay.underlay.address');
      if (ip.family !== 4)
        throw new ValidationError('overlay.underlay.address', 'must be an IPv4 address');
      underlay.address = ip.text;
    }
  }
  return {
    cluster: cluster.text,
    hostSubnetLength,
    backend: backend as OverlayBackend,
    vni,
    port,
    etcd: { endpoints, prefix, ttl },
    underlay,
    vxlan: `npx-${id.slice(0, 8)}`,
  };
}
