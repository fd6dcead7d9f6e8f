/**
 * The engine's public model, after Docker's Container Network Model:
 * a Network is a bridge with its subnet(s) and firewall state; a Sandbox is
 * a network namespace; an Endpoint joins a sandbox to a network.
 */

import type { OverlayInfo, OverlayOptions } from './overlay/spec';

/** Docker's network modes for a sandbox. */
export type NetworkMode = 'bridge' | 'host' | 'none' | 'container';

/** A user-defined bridge network to create: `docker network create` options. */
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
  /** IPv6 subnet (`--subnet` with an IPv6 prefix in Docker); implies ipv6 */
  subnet6?: string;
  /** IPv6 gateway; the first host address of subnet6 when omitted */
  gateway6?: string;
  /** free-form labels, kept with the network (`--label k=v`) */
  labels?: Record<string, string>;
  /** driver 'overlay': etcd, backend, VNI, host subnet length, underlay */
  overlay?: OverlayOptions;
}

/** A network as `docker network inspect` would describe it. */
export interface Network {
  /** the network's name */
  name: string;
  /** a random id, 32 hex digits */
  id: string;
  /** 'bridge', or 'overlay' for a network spanning hosts (see NetworkSpec.overlay) */
  driver: 'bridge' | 'overlay';
  /** the Linux bridge */
  bridge: string;
  /** IPv4 subnet, e.g. 10.89.0.0/24 */
  subnet: string;
  /** IPv4 gateway: the bridge's address */
  gateway: string;
  /** IPv6 subnet of a dual-stack network */
  subnet6?: string;
  /** IPv6 gateway of a dual-stack network */
  gateway6?: string;
  /** MTU of the bridge and its veths */
  mtu: number;
  /** no traffic in or out: no default route in its sandboxes, no masquerade */
  internal: boolean;
  /** inter-container communication; false: bridge ports are isolated from each other */
  icc: boolean;
  /** the labels it was created with */
  labels: Record<string, string>;
  /** the built-in `bridge` network (no DNS names, as in Docker) */
  default: boolean;
  /** when it was created (ISO 8601) */
  created: string;
  /** names of the sandboxes attached */
  sandboxes: string[];
  /** driver 'overlay': this host's lease and the remote hosts it reaches (subnet is this host's share) */
  overlay?: OverlayInfo;
}

/** A published port, as `docker ps` shows it. */
export interface PortMapping {
  /** transport protocol */
  protocol: 'tcp' | 'udp';
  /** host address it listens on; '0.0.0.0' (or '::') for all */
  hostIp: string;
  /** the port on the host */
  hostPort: number;
  /** the port inside the sandbox */
  containerPort: number;
}

/** A sandbox's attachment to one network: the veth pair, its addresses and published ports. */
export interface Endpoint {
  /** the network's name */
  network: string;
  /** interface name inside the sandbox (eth0, eth1, ...) */
  ifname: string;
  /** the host end of the veth pair */
  hostIfname: string;
  /** IPv4 address inside the sandbox */
  ip: string;
  /** prefix length of the network's subnet */
  prefixlen: number;
  /** IPv4 gateway (the bridge's address) */
  gateway: string;
  /** IPv6 address, on a dual-stack network */
  ip6?: string;
  /** prefix length of the IPv6 subnet */
  prefixlen6?: number;
  /** IPv6 gateway */
  gateway6?: string;
  /** MAC address of the sandbox's end */
  mac: string;
  /** DNS names on this network besides the sandbox's own name */
  aliases: string[];
  /** published ports */
  ports: PortMapping[];
}

/** A sandbox to create: the network options of `docker run` / `docker create`. */
export interface SandboxSpec {
  /** the sandbox's name: also its namespace's name under /run/netns and its DNS name */
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
  /** container ports that `publishAll` publishes (`--expose PORT[/proto]`) */
  expose?: (number | string)[];
  /** DNS aliases on the network */
  aliases?: string[];
  /** static IPv4 address on the network */
  ip?: string;
  /** static IPv6 address (dual-stack networks) */
  ip6?: string;
  /** MAC address; derived from the IPv4 address (02:42:...) when omitted */
  mac?: string;
  /** host name inside (`/etc/netns/NAME/hostname`); the sandbox's name when omitted */
  hostname?: string;
  /** free-form labels, kept with the sandbox */
  labels?: Record<string, string>;
}

/** A sandbox as the engine knows it. */
export interface Sandbox {
  /** the sandbox's name */
  name: string;
  /** a random id, 32 hex digits */
  id: string;
  /** its network mode */
  mode: NetworkMode;
  /** the sandbox's namespace under /run/netns (`ip netns exec NAME ...`); absent for host mode */
  netns?: string;
  /** for container mode: whose namespace it shares */
  container?: string;
  /** its host name */
  hostname: string;
  /** one per network it is attached to (none in host, none and container modes) */
  endpoints: Endpoint[];
  /** the labels it was created with */
  labels: Record<string, string>;
  /** when it was created (ISO 8601) */
  created: string;
  /** things the caller should know (e.g. "published ports are ignored in host mode") */
  warnings: string[];
}

/** Options of {@link Engine.connect}: `docker network connect` options. */
export interface ConnectOptions {
  /** DNS aliases on the network (`--alias`) */
  aliases?: string[];
  /** static IPv4 address (`--ip`) */
  ip?: string;
  /** static IPv6 address (`--ip6`) */
  ip6?: string;
}

/** What {@link Engine.prune} found and repaired after a crash. */
export interface PruneReport {
  /** sandboxes whose records were incomplete (a crash mid-way) and were finished or removed */
  sandboxes: string[];
  /** networks whose records were incomplete, finished or removed */
  networks: string[];
  /** kernel objects removed because no record owns them */
  links: string[];
  /** /etc/netns/NAME directories this engine wrote, removed because no sandbox owns them */
  netns: string[];
  /** address reservations freed because no endpoint holds them */
  addresses: number;
  /** port reservations freed because no sandbox holds them */
  ports: number;
  /** firewall rules and map elements removed because no endpoint owns them */
  rules: number;
  /** resolver daemons stopped (CLI) */
  daemons: number;
}
