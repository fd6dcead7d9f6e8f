/** What the state directory stores for networks and sandboxes. */
import type { OverlayInfo, OverlayRecord } from './overlay/spec';
import type { Endpoint, Network, NetworkMode, Sandbox } from './types';

export type RecordState = 'creating' | 'ready' | 'removing';

export interface NetworkRecord {
  name: string;
  id: string;
  bridge: string;
  subnet: string;
  gateway: string;
  subnet6?: string;
  gateway6?: string;
  mtu: number;
  internal: boolean;
  icc: boolean;
  /**
   * How icc=false holds. Absent: bridge-port isolation. 'netfilter': the
   * firewall's forward chain (no bridge-to-itself traffic but DNATed), with
   * br_netfilter made to see this bridge's traffic (nf_call_iptables): where
   * br_netfilter is loaded, it bridges a DNATed packet between two ports,
   * which port isolation would drop (a published port unreachable from its
   * own network).
   */
  isolation?: 'netfilter';
  labels: Record<string, string>;
  default: boolean;
  created: string;
  state: RecordState;
  /** driver 'overlay': the cluster settings and this host's lease */
  overlay?: OverlayRecord;
  /**
   * an endpoint with a MAC the user chose has joined: every endpoint made
   * since announces its address (see ANNOUNCE in plumbing.ts)
   */
  announce?: boolean;
}

export interface EndpointRecord extends Endpoint {
  id: string;
}

export interface SandboxRecord {
  name: string;
  id: string;
  mode: NetworkMode;
  /** own name under /run/netns (absent in host mode) */
  netns?: string;
  /** container mode: the sandbox whose namespace this one joined */
  container?: string;
  hostname: string;
  labels: Record<string, string>;
  created: string;
  state: RecordState;
  /**
   * pid of the process working on the sandbox: its creator, then its remover
   * once 'removing' (prune finishes a record whose process is gone)
   */
  pid: number;
  endpoints: EndpointRecord[];
  /** -p specs as given (container ports kept for -P re-resolution) */
  publish: string[];
  expose: number[];
  publishAll: boolean;
  warnings: string[];
}

export function toNetwork(r: NetworkRecord, sandboxes: string[], overlay?: OverlayInfo): Network {
  const n: Network = {
    name: r.name,
    id: r.id,
    driver: r.overlay ? 'overlay' : 'bridge',
    bridge: r.bridge,
    subnet: r.subnet,
    gateway: r.gateway,
    mtu: r.mtu,
    internal: r.internal,
    icc: r.icc,
    labels: r.labels,
    default: r.default,
    created: r.created,
    sandboxes,
  };
  if (r.subnet6) n.subnet6 = r.subnet6;
  if (r.gateway6) n.gateway6 = r.gateway6;
  if (overlay) n.overlay = overlay;
  return n;
}

export function toSandbox(r: SandboxRecord): Sandbox {
  const s: Sandbox = {
    name: r.name,
    id: r.id,
    mode: r.mode,
    hostname: r.hostname,
    endpoints: r.endpoints.map(({ id: _id, ...ep }) => ep),
    labels: r.labels,
    created: r.created,
    warnings: r.warnings,
  };
  if (r.netns) s.netns = r.netns;
  if (r.container) s.container = r.container;
  return s;
}
