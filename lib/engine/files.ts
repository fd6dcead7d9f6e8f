/**
 * The files `ip netns exec NAME` binds over /etc: /etc/netns/NAME/hostname,
 * hosts and resolv.conf.
 */
import { readFile, stat } from 'node:fs/promises';
import { isIPv4 } from 'node:net';

import type { FsOp } from '../binding';

export interface SandboxFiles {
  hostname: string;
  /** address -> names, in order */
  hosts: [string, string[]][];
  /** resolv.conf contents */
  resolv: string;
}

export function hostsText(entries: [string, string[]][], marker: string): string {
  const lines = [
    marker,
    '127.0.0.1\tlocalhost',
    '::1\tlocalhost ip6-localhost ip6-loopback',
    'fe00::0\tip6-localnet',
    'ff00::0\tip6-mcastprefix',
    'ff02::1\tip6-allnodes',
    'ff02::2\tip6-allrouters',
  ];
  for (const [addr, names] of entries) lines.push(`${addr}\t${names.join(' ')}`);
  return `${lines.join('\n')}\n`;
}

const FILES = ['hostname', 'hosts', 'resolv.conf'] as const;

/**
 * File operations writing a sandbox's files (for one FsBatch). `etcDir` is
 * resolved (no trailing slash); `name` a validated sandbox name. `marker`
 * heads the hosts file, so prune can tell the directories it may remove.
 */
export function sandboxFileOps(
  etcDir: string,
  name: string,
  f: SandboxFiles,
  marker: string,
): FsOp[] {
  const dir = `${etcDir}/${name}`;
  const data: Record<(typeof FILES)[number], string> = {
    hostname: `${f.hostname}\n`,
    hosts: hostsText(f.hosts, marker),
    'resolv.conf': f.resolv,
  };
  return [
    { op: 'mkdir', path: etcDir, mode: 0o755 },
    { op: 'mkdir', path: dir, mode: 0o755 },
    ...FILES.map((file): FsOp => ({
      op: 'replace',
      path: `${dir}/${file}`,
      data: data[file],
      mode: 0o644,
    })),
  ];
}

/** File operations removing what sandboxFileOps wrote (a directory others added to stays). */
export function removeSandboxFileOps(etcDir: string, name: string): FsOp[] {
  const dir = `${etcDir}/${name}`;
  return [
    ...FILES.map((file): FsOp => ({ op: 'unlink', path: `${dir}/${file}` })),
    { op: 'rmdir', path: dir },
  ];
}

/** Docker's nameservers when the host has none a sandbox can reach. */
export const DEFAULT_NAMESERVERS = ['8.8.8.8', '8.8.4.4'] as const;
export const DEFAULT_NAMESERVERS6 = ['2001:4860:4860::8888', '2001:4860:4860::8844'] as const;
/** systemd-resolved's stub address, and the file listing its upstreams */
const RESOLVED_STUB = '127.0.0.53';
export const RESOLVED_CONF = '/run/systemd/resolve/resolv.conf';

/** A resolv.conf as a sandbox may use it: loopback nameservers dropped. */
interface Parsed {
  /** nameservers reachable from another namespace */
  nameservers: string[];
  /** every nameserver line's address, loopback included */
  all: string[];
  /** search and domain lines */
  search: string[];
  /** options lines */
  options: string[];
  /**
   * What a sandbox on a user-defined network gets after its nameserver line
   * (Docker's rule): the search lines, the options with a valid host ndots
   * kept (a bad one dropped), else ndots:0. Made once per read of the file.
   */
  userLines: string[];
}

/** What a sandbox on the default bridge gets (see HostResolvConf.forSandbox). */
export interface SandboxResolv {
  text: string;
  /** set when the host had no usable nameserver and Docker's defaults were put in */
  warning?: string;
}

function parse(raw: string): Parsed {
  const out: Parsed = { nameservers: [], all: [], search: [], options: [], userLines: [] };
  for (const line of raw.split('\n')) {
    const m = /^\s*nameserver\s+(\S+)/.exec(line);
    if (m) {
      const ns = m[1]!;
      out.all.push(ns);
      // node:net's isIPv6 compiles a large regular expression on its first
      // call (~3.5 ms here, on every CLI command's first sandbox): only
      // 127.* needs checking, and ::1 is ::1.
      const loopback = ns === '::1' || (ns.startsWith('127.') && isIPv4(ns));
      if (!loopback) out.nameservers.push(ns);
    } else if (/^\s*(search|domain)\s/.test(line)) {
      out.search.push(line.trim());
    } else if (/^\s*options\s/.test(line)) {
      out.options.push(line.trim());
    }
  }
  const options = out.options
    .map((l) =>
      l
        .split(/\s+/)
        .filter((o) => !o.startsWith('ndots:') || /^ndots:\d+$/.test(o))
        .join(' '),
    )
    .filter((l) => l !== 'options');
  out.userLines = [
    ...out.search.filter((l) => l.startsWith('search ')),
    ...options,
    ...(options.some((l) => /\sndots:/.test(l)) ? [] : ['options ndots:0']),
  ];
  return out;
}

/**
 * The host's resolver configuration as sandboxes get it (Docker's rules):
 * when /etc/resolv.conf names only systemd-resolved's stub (127.0.0.53),
 * its upstreams are read from /run/systemd/resolve/resolv.conf instead;
 * nameservers on loopback cannot be reached from another namespace and are
 * dropped; when none is left, Docker's defaults (Google's) are used, with a
 * warning; search, domain and options lines are kept.
 */
export class HostResolvConf {
  private readonly cache = new Map<
    string,
    { mtimeMs: number; parsed: Parsed | undefined; checked: number }
  >();

  constructor(
    private readonly file = '/etc/resolv.conf',
    private readonly resolvedFile = RESOLVED_CONF,
  ) {}

  /** One file, parsed; undefined when it cannot be read. Looked at most once a second. */
  private async read(file: string): Promise<Parsed | undefined> {
    const hit = this.cache.get(file);
    if (hit && Date.now() - hit.checked < 1000) return hit.parsed;
    let mtimeMs = -1;
    try {
      mtimeMs = (await stat(file)).mtimeMs;
    } catch {
      this.cache.set(file, { mtimeMs, parsed: undefined, checked: Date.now() });
      return undefined;
    }
    if (hit?.mtimeMs === mtimeMs) {
      hit.checked = Date.now();
      return hit.parsed;
    }
    const raw = await readFile(file, 'utf8').catch(() => undefined);
    const parsed = raw === undefined ? undefined : parse(raw);
    this.cache.set(file, { mtimeMs, parsed, checked: Date.now() });
    return parsed;
  }

  /** Every nameserver of the host file, loopback ones too (the embedded resolver's upstreams). */
  async nameservers(): Promise<string[] | undefined> {
    return (await this.read(this.file))?.all;
  }

  /** The configuration sandboxes start from (see the class comment). */
  private async source(): Promise<Parsed | undefined> {
    const host = await this.read(this.file);
    if (host?.all.length === 1 && host.all[0] === RESOLVED_STUB)
      return (await this.read(this.resolvedFile)) ?? host;
    return host;
  }

  /**
   * resolv.conf for a sandbox on the default bridge; `ipv6`: its network
   * has IPv6 (Docker's IPv6 defaults are added then).
   */
  async forSandbox(ipv6 = false): Promise<SandboxResolv> {
    const src = await this.source();
    // No file at all: nothing to say, as before (no defaults invented).
    if (!src) return { text: '' };
    let nameservers = src.nameservers;
    let warning: string | undefined;
    if (nameservers.length === 0) {
      nameservers = [...DEFAULT_NAMESERVERS, ...(ipv6 ? DEFAULT_NAMESERVERS6 : [])];
      warning = `No non-localhost DNS nameservers are left in resolv.conf: using default external servers ${nameservers.join(', ')}`;
    }
    const lines = [...nameservers.map((ns) => `nameserver ${ns}`), ...src.search, ...src.options];
    return { text: `${lines.join('\n')}\n`, ...(warning ? { warning } : {}) };
  }

  /**
   * resolv.conf for a sandbox on a user-defined network: its resolver at
   * `gateway`, then Parsed.userLines (the host's search lines and options).
   */
  async forUserNetwork(gateway: string): Promise<string> {
    const lines = (await this.source())?.userLines ?? ['options ndots:0'];
    return [`nameserver ${gateway}`, ...lines, ''].join('\n');
  }
}
