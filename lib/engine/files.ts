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

/**
 * The host's resolver configuration as a sandbox on the default bridge gets
 * it (Docker's rule): nameservers on loopback cannot be reached from another
 * namespace and are dropped; search and options lines are kept.
 */
export class HostResolvConf {
  private cached: { mtimeMs: number; text: string; checked: number } | undefined;

  constructor(private readonly file = '/etc/resolv.conf') {}

  async forSandbox(): Promise<string> {
    // Look at the file at most once a second.
    if (this.cached && Date.now() - this.cached.checked < 1000) return this.cached.text;
    let mtimeMs = -1;
    try {
      mtimeMs = (await stat(this.file)).mtimeMs;
    } catch {
      return '';
    }
    if (this.cached?.mtimeMs === mtimeMs) {
      this.cached.checked = Date.now();
      return this.cached.text;
    }
    const raw = await readFile(this.file, 'utf8').catch(() => '');
    const out: string[] = [];
    for (const line of raw.split('\n')) {
      const m = /^\s*nameserver\s+(\S+)/.exec(line);
      if (m) {
        const ns = m[1]!;
        // node:net's isIPv6 compiles a large regular expression on its first
        // call (~3.5 ms here, on every CLI command's first sandbox): only
        // 127.* needs checking, and ::1 is ::1.
        const loopback = ns === '::1' || (ns.startsWith('127.') && isIPv4(ns));
        if (!loopback) out.push(`nameserver ${ns}`);
      } else if (/^\s*(search|domain|options)\s/.test(line)) {
        out.push(line.trim());
      }
    }
    const text = out.length > 0 ? `${out.join('\n')}\n` : '';
    this.cached = { mtimeMs, text, checked: Date.now() };
    return text;
  }

  /** the host's search lines, for sandboxes that use the embedded resolver */
  async searchLines(): Promise<string[]> {
    const text = await this.forSandbox();
    return text.split('\n').filter((l) => l.startsWith('search '));
  }
}
