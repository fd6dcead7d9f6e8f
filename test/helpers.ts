/**
 * Test helpers: the sandbox guard, the `ip`/`nft` oracles, and cleanup that
 * runs even when a test fails.
 */
import { execFile, type ChildProcess } from 'node:child_process';
import { readFileSync, readlinkSync } from 'node:fs';
import { readdir, readlink, stat } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

export const ROOT = path.resolve(__dirname, '..', '..');

/**
 * Integration tests run only inside the private namespaces test/run.sh makes.
 * Call in a top-level `before`: outside the sandbox the suite fails instead
 * of touching the host's network.
 */
export function requireSandbox(): void {
  if (process.env.NETPLUMB_TEST_SANDBOX !== '1') {
    throw new Error(
      'integration tests must run inside the test sandbox: bash test/run.sh (npm test)',
    );
  }
  const host = process.env.NETPLUMB_HOST_NETNS;
  if (!host || readlinkSync('/proc/self/ns/net') === host) {
    throw new Error('refusing to run: this is the host network namespace');
  }
}

export interface RunResult {
  stdout: string;
  stderr: string;
}

/** Runs a program (no shell), rejecting with its stderr on failure. */
export async function run(
  file: string,
  args: string[],
  opts: { timeout?: number; cwd?: string } = {},
): Promise<RunResult> {
  try {
    const r = await execFileP(file, args, {
      timeout: opts.timeout ?? 20000,
      ...(opts.cwd !== undefined ? { cwd: opts.cwd } : {}),
      maxBuffer: 64 * 1024 * 1024,
    });
    return { stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`${file} ${args.join(' ')}: ${e.stderr?.trim() || e.message}`);
  }
}

/** `ip [-n NS] -j -d ARGS`, parsed. The independent oracle for kernel state. */
export async function ipJson<T = Record<string, unknown>[]>(
  args: string[],
  netns?: string,
): Promise<T> {
  const argv = [...(netns ? ['-n', netns] : []), '-j', '-d', ...args];
  const { stdout } = await run('ip', argv);
  return JSON.parse(stdout.trim() === '' ? '[]' : stdout) as T;
}

/** Links as `ip -j -d link show` sees them, by name. */
export async function ipLinks(netns?: string): Promise<Map<string, Record<string, unknown>>> {
  const links = await ipJson(['link', 'show'], netns);
  return new Map(links.map((l) => [l.ifname as string, l]));
}

/** Runs `cmd` inside a named namespace (`ip netns exec`). */
export function inNs(
  netns: string,
  cmd: string,
  args: string[],
  opts: { timeout?: number } = {},
): Promise<RunResult> {
  return run('ip', ['netns', 'exec', netns, cmd, ...args], opts);
}

/** Cleanup steps run in reverse order after each test, failures collected. */
export class Cleanup {
  private steps: { what: string; fn: () => Promise<unknown> }[] = [];

  add(what: string, fn: () => Promise<unknown>): void {
    this.steps.push({ what, fn });
  }

  async run(): Promise<void> {
    const errors: string[] = [];
    for (const s of this.steps.reverse()) {
      try {
        await s.fn();
      } catch (err) {
        errors.push(`${s.what}: ${(err as Error).message}`);
      }
    }
    this.steps = [];
    if (errors.length > 0) throw new Error(`cleanup failed:\n  ${errors.join('\n  ')}`);
  }
}

/** Names of the links in the sandbox's own namespace (via sysfs, an oracle independent of netlink). */
export function hostLinkNames(): string[] {
  return readFileSync('/proc/net/dev', 'utf8')
    .split('\n')
    .slice(2)
    .map((l) => l.split(':')[0]!.trim())
    .filter((n) => n.length > 0)
    .sort();
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `fn` until it returns true or `timeoutMs` passes. */
export async function waitFor(
  what: string,
  fn: () => Promise<boolean> | boolean,
  timeoutMs = 5000,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await fn()) return;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** Resolves with `child` once it prints its first line (a server saying it listens); rejects if it exits first. */
export async function untilReady(child: ChildProcess): Promise<ChildProcess> {
  await new Promise<void>((resolve, reject) => {
    child.stdout?.once('data', () => {
      resolve();
    });
    child.once('exit', (code) => {
      reject(new Error(`server exited ${code}`));
    });
  });
  return child;
}

/** Inodes of the network namespaces this process holds open fds of. */
export async function heldNetns(): Promise<Set<number>> {
  const out = new Set<number>();
  for (const fd of await readdir('/proc/self/fd')) {
    const target = await readlink(`/proc/self/fd/${fd}`).catch(() => '');
    const m = /^net:\[(\d+)\]$/.exec(target);
    if (m) out.add(Number(m[1]));
  }
  return out;
}

/** Inodes of the namespaces mounted under /run/netns. */
export async function mountedNetns(): Promise<Set<number>> {
  const out = new Set<number>();
  for (const name of await readdir('/run/netns')) out.add((await stat(`/run/netns/${name}`)).ino);
  return out;
}

/** Namespaces held by this process that are neither the host's nor mounted: made ahead. */
export async function madeAhead(): Promise<number[]> {
  const host = (await stat('/proc/self/ns/net')).ino;
  const mounted = await mountedNetns();
  return [...(await heldNetns())].filter((ino) => ino !== host && !mounted.has(ino));
}

/** Namespaces (by inode) of this process's threads that are not in the main thread's: none after a builder's job. */
export async function threadsAway(): Promise<number[]> {
  const host = (await stat('/proc/self/ns/net')).ino;
  return (await threadNetns()).filter((ino) => ino !== host);
}

/** The network namespace of each thread of this process, by inode. */
export async function threadNetns(): Promise<number[]> {
  const out: number[] = [];
  for (const tid of await readdir('/proc/self/task')) {
    const target = await readlink(`/proc/self/task/${tid}/ns/net`).catch(() => '');
    const m = /^net:\[(\d+)\]$/.exec(target);
    if (m) out.push(Number(m[1]));
  }
  return out;
}
