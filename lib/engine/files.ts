/**
 * The files `ip netns exec NAME` binds over /etc: /etc/netns/NAME/hostname,
 * hosts and resolv.conf.
 */
import { constants as C } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';

import { isIPv4, isIPv6 } from 'node:net';

export interface SandboxFiles {
  hostname: string;
  /** address -> names, in order */
  hosts: [string, string[]][];
  /** resolv.conf contents */
  resolv: string;
}

let counter = 0;

async function atomicWrite(file: string, data: string): Promise<void> {
  const tmp = `${file}.${process.pid}.${++counter}.tmp`;
  await writeFile(tmp, data, {
    flag: C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW,
    mode: 0o644,
  });
  await rename(tmp, file);
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

/** `marker` heads the hosts file, so prune can tell the directories it may remove. */
export async function writeSandboxFiles(
  etcDir: string,
  name: string,
  f: SandboxFiles,
  marker: string,
): Promise<void> {
  const dir = path.join(etcDir, name);
  await mkdir(dir, { recursive: true, mode: 0o755 });
  await Promise.all([
    atomicWrite(path.join(dir, 'hostname'), `${f.hostname}\n`),
    atomicWrite(path.join(dir, 'hosts'), hostsText(f.hosts, marker)),
    atomicWrite(path.join(dir, 'resolv.conf'), f.resolv),
  ]);
}

export async function removeSandboxFiles(etcDir: string, name: string): Promise<void> {
  await rm(path.join(etcDir, name), { recursive: true, force: true });
}

/**
 * The host's resolver configuration as a sandbox on the default bridge gets
 * it (Docker's rule): nameservers on loopback cannot be reached from another
 * namespace and are dropped; search and options lines are kept.
 */
export class HostResolvConf {
  private cached: { mtimeMs: number; text: string } | undefined;

  constructor(private readonly file = '/etc/resolv.conf') {}

  async forSandbox(): Promise<string> {
    let mtimeMs = -1;
    try {
      mtimeMs = (await stat(this.file)).mtimeMs;
    } catch {
      return '';
    }
    if (this.cached?.mtimeMs === mtimeMs) return this.cached.text;
    const raw = await readFile(this.file, 'utf8').catch(() => '');
    const out: string[] = [];
    for (const line of raw.split('\n')) {
      const m = /^\s*nameserver\s+(\S+)/.exec(line);
      if (m) {
        const ns = m[1]!;
        const loopback = (isIPv4(ns) && ns.startsWith('127.')) || (isIPv6(ns) && ns === '::1');
        if (!loopback) out.push(`nameserver ${ns}`);
      } else if (/^\s*(search|domain|options)\s/.test(line)) {
        out.push(line.trim());
      }
    }
    const text = out.length > 0 ? `${out.join('\n')}\n` : '';
    this.cached = { mtimeMs, text };
    return text;
  }

  /** nameserver lines only, for the DNS forwarder */
  async upstreams(): Promise<string[]> {
    const text = await this.forSandbox();
    return [...text.matchAll(/^nameserver (\S+)$/gm)].map((m) => m[1]!);
  }
}
