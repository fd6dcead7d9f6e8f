/**
 * Kernel parameters under /proc/sys, read and written as the given network
 * namespace sees them (net.* entries are per namespace).
 */
import { readFile, writeFile } from 'node:fs/promises';

import { ValidationError, fromSystemError } from './errors';
import type { NetNS } from './netns';

/** Where a sysctl is read or written. */
export interface SysctlOptions {
  /** the namespace whose net.* values to use; this process's when omitted */
  netns?: NetNS;
}

/**
 * `net.ipv4.ip_forward` -> /proc/sys/net/ipv4/ip_forward. Keys may use '/'
 * instead of '.', as sysctl(8) allows, when a segment contains a dot
 * (`net/ipv4/conf/eth0.1/forwarding`).
 */
export function sysctlPath(key: unknown): string {
  if (typeof key !== 'string' || key.length === 0)
    throw new ValidationError('key', 'must be a sysctl name like net.ipv4.ip_forward');
  const parts = key.includes('/') ? key.split('/') : key.split('.');
  for (const p of parts) {
    if (!/^[A-Za-z0-9_.:@+-]+$/.test(p) || p === '.' || p === '..') {
      throw new ValidationError('key', `"${key}" is not a sysctl name`);
    }
  }
  return `/proc/sys/${parts.join('/')}`;
}

/** Equivalent to `sysctl -n KEY` (`ip netns exec NS sysctl -n KEY`). */
export async function get(key: string, opts: SysctlOptions = {}): Promise<string> {
  const file = sysctlPath(key);
  try {
    const text = opts.netns
      ? await (await opts.netns.inside()).readFile(file)
      : await readFile(file, 'utf8');
    return text.trim();
  } catch (err) {
    throw fromSystemError(err, `sysctl ${key}`);
  }
}

/** Equivalent to `sysctl -w KEY=VALUE` (`ip netns exec NS sysctl -w ...`). */
export async function set(
  key: string,
  value: string | number,
  opts: SysctlOptions = {},
): Promise<void> {
  const file = sysctlPath(key);
  const text = String(value);
  if (/[\n\0]/.test(text)) throw new ValidationError('value', 'must be a single line');
  try {
    if (opts.netns) await (await opts.netns.inside()).writeFile(file, text);
    else await writeFile(file, text);
  } catch (err) {
    throw fromSystemError(err, `sysctl ${key}=${text}`);
  }
}
