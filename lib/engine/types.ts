/**
 * The engine's public model, after Docker's Container Network Model:
 * a Network is a bridge with its subnet(s) and firewall state; a Sandbox is
 * a network namespace; an Endpoint joins a sandbox to a network.
 */

import type { OverlayInfo, OverlayOptions } from './overlay/spec';

/** Docker's network modes for a sandbox. */
export type NetworkMode = 'bridge' | 'host' | 'none' | 'container';

export interface NetworkSpec {
  /** Docker-style name: [a-zA-Z0-9][a-zA-Z0-9_.-]*, at most 64 characters */
  name: string;
  /**
   * 'bridge' (default): this host only. 'overlay': one network across
   * hosts; `subnet` is then the cluster CIDR (required), each host leases a
   * share of it in etcd (see `overlay`), and sandboxes on different hosts
   * reach each other by their own addresses.
   */
  driver?: 'bridge' | 'overlay';
  /** IPv4 subnet, e.g. 10.89.0.0/24; taken from the address pools when omitted */
  subnet?: string;
  /** gateway (the bridge's address); the first host address when omitted */
  gateway?: string;
  /** MTU of the bridge and every veth on it (default 1500) */
  mtu?: number;
  /** no egress: no default route, no masquerade, no traffic to or from outside */
  internal?: boolean;
  /** inter-container communication; false isolates the network's ports from each other */
  icc?: boolean;
  /** dual stack: an IPv6 subnet too */
  ipv6?: boolean;
  subnet6?: string;
  gateway6?: string;
  labels?: Record<string, string>;
  /** driver 'overlay': etcd, backend, VNI, host subnet length, underlay */
  overlay?: OverlayOptions;
}

export interface Network {
  name: string;
  id: string;
  driver: 'bridge' | 'overlay';
  /** the Linux bridge */
  bridge: string;
  subnet: string;
  gateway: string;
  subnet6?: string;
  gateway6?: string;
  mtu: number;
  internal: boolean;
  icc: boolean;
  labels: Record<string, string>;
  /** the built-in `bridge` network (no DNS names, as in Docker) */
  default: boolean;
  created: string;
  /** names of the sandboxes attached */
  sandboxes: string[];
  /** driver 'overlay': this host's lease and the remote hosts it reaches (subnet is this host's share) */
  overlay?: OverlayInfo;
}

/** A published port, as `docker ps` shows it. */
export interface PortMapping {
  protocol: 'tcp' | 'udp';
  /** host address it listens on; '0.0.0.0' (or '::') for all */
  hostIp: string;
  hostPort: number;
  containerPort: number;
}

export interface Endpoint {
  network: string;
  /** interface name inside the sandbox (eth0, eth1, ...) */
  ifname: string;
  /** the host end of the veth pair */
  hostIfname: string;
  ip: string;
  /** prefix length of the network's subnet */
  prefixlen: number;
  gateway: string;
  ip6?: string;
  prefixlen6?: number;
  gateway6?: string;
  mac: string;
  aliases: string[];
  ports: PortMapping[];
}

export interface SandboxSpec {
  name: string;
  /**
   * 'bridge' (default network), 'host', 'none', 'container:NAME', or the
   * name of a user-defined network. Default: 'bridge'.
   */
  network?: string;
  /** -p specs: [hostIp:]hostPort[-end]:containerPort[-end][/tcp|udp], hostIp::containerPort */
  publish?: string[];
  /** -P: publish these container ports to free host ports */
  publishAll?: boolean;
  expose?: (number | string)[];
  /** DNS aliases on the network */
  aliases?: string[];
  /** static IPv4 address on the network */
  ip?: string;
  /** static IPv6 address (dual-stack networks) */
  ip6?: string;
  /** MAC address; derived from the IPv4 address (02:42:...) when omitted */
  mac?: string;
  hostname?: string;
  labels?: Record<string, string>;
}

export interface Sandbox {
  name: string;
  id: string;
  mode: NetworkMode;
  /** the sandbox's namespace under /run/netns (`ip netns exec NAME ...`); absent for host mode */
  netns?: string;
  /** for container mode: whose namespace it shares */
  container?: string;
  hostname: string;
  endpoints: Endpoint[];
  labels: Record<string, string>;
  created: string;
  /** things the caller should know (e.g. "published ports are ignored in host mode") */
  warnings: string[];
}

export interface ConnectOptions {
  aliases?: string[];
  ip?: string;
  ip6?: string;
}

export interface PruneReport {
  /** sandboxes whose records were incomplete (a crash mid-way) and were finished or removed */
  sandboxes: string[];
  networks: string[];
  /** kernel objects removed because no record owns them */
  links: string[];
  netns: string[];
  addresses: number;
  ports: number;
  rules: number;
  /** resolver daemons stopped (CLI) */
  daemons: number;
}
