/**
 * The resolver daemon the CLI uses: CLI invocations are short-lived, so the
 * resolver of user-defined networks runs in a small background process,
 * started on demand, found again through the state directory (an flock on
 * locks/dns and dns.pid), told to reload after every change, and gone when
 * no network needs it. `netplumb prune` stops a stray one.
 *
 * A reload is a request file (dns.reload, a random token) answered by an
 * acknowledgement (dns.ack, the same token). Both sides watch the top of
 * the state directory (inotify) for the other's file, so a CLI command
 * waits for the reload itself, not for a poll to come round (it waited
 * 12-17 ms when the daemon looked every 25 ms); a slower poll on both
 * sides covers events a watcher misses.
 *
 * Commands running at once overwrite each other's requests, and the
 * daemon answers only the last it read. A command therefore also takes as
 * its answer one to any request it saw in dns.reload after writing its own:
 * that request came later, so the daemon read the file after the command's
 * request, and its catch-up covered the command's changes too.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { watch } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';

import { native } from '../binding';
import { Coalescer } from '../engine/coalescer';
import type { NetworkRecord } from '../engine/records';
import { StateStore } from '../engine/state';
import { loadDnsService } from './load';
import { hasDns } from './view';

const IDLE_EXIT_MS = 1000;
const STOP_WAIT_MS = 5000;
/** The daemon's look at the request file and at the networks (for missed events and the idle exit). */
const DAEMON_POLL_MS = 250;
/** How long a CLI command waits for the acknowledgement, and how often it looks without an event. */
const ACK_WAIT_MS = 1000;
const ACK_POLL_MS = 25;

// Files at the top of the state directory, written and read through the
// StateStore: never through a symlink planted in their place.
const PID = 'dns.pid';
const RELOAD = 'dns.reload';
const ACK = 'dns.ack';

async function dnsNetworks(state: StateStore): Promise<NetworkRecord[]> {
  return (await state.all<NetworkRecord>('networks')).filter(hasDns);
}

/**
 * Calls `changed` whenever `file` at the top of `dir` is replaced or removed
 * (or when the watcher cannot say which file changed). Returns the way to
 * stop. Without a watcher (none to be had, or it failed) this does nothing
 * and the caller's poll does the work. The watcher keeps no process alive.
 */
function watchFile(dir: string, file: string, changed: () => void): () => void {
  try {
    const w = watch(dir, { persistent: false }, (_event, name) => {
      if (name === null || name === file) changed();
    });
    w.on('error', () => {
      w.close();
    });
    return () => {
      w.close();
    };
  } catch {
    return () => undefined;
  }
}

/** The daemon itself (`netplumb dns-daemon`). Resolves when it exits. */
export async function runDaemon(stateDir: string, resolvConf?: string): Promise<void> {
  const state = new StateStore(stateDir);
  await state.init();
  const lock = await native.tryLock(path.join(stateDir, 'locks', 'dns'), true);
  if (!lock) return; // another daemon serves this state directory
  const DnsService = loadDnsService();
  const service = new DnsService(state, { ...(resolvConf ? { resolvConf } : {}) });
  let idleSince = Date.now();
  let stopping = false;
  // The last request answered, kept here rather than read back from ACK: a
  // missing ACK (the directory being removed) must not be written again.
  let answered = (await state.readFile(ACK)) ?? '';
  let stopped!: () => void;
  const done = new Promise<void>((resolve) => {
    stopped = resolve;
  });
  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    clearInterval(timer);
    unwatch();
    await service.close();
    await state.removeFile(PID).catch(() => undefined);
    lock.release();
    stopped();
  };
  // A reload request from a CLI command: reload, then acknowledge it. Then
  // whether any network still needs the daemon.
  const look = async (): Promise<void> => {
    const token = (await state.readFile(RELOAD)) ?? '';
    if (token && token !== answered) {
      await service.catchUp(); // if it fails, the next look tries again
      answered = token;
      await state.writeFile(ACK, token);
    }
    if ((await dnsNetworks(state)).length > 0) idleSince = Date.now();
    else if (Date.now() - idleSince > IDLE_EXIT_MS) await stop();
  };
  // One look at a time; the requests that come during one share the next.
  const looks = new Coalescer<void>(async () => {
    if (!stopping) await look().catch(() => undefined);
  });
  const check = (): void => {
    if (!stopping) void looks.submit();
  };
  const unwatch = watchFile(stateDir, RELOAD, check);
  const timer = setInterval(check, DAEMON_POLL_MS);
  process.once('SIGTERM', () => void stop());
  process.once('SIGINT', () => void stop());
  await service.start();
  await state.writeFile(PID, `${process.pid}\n`);
  check(); // a request made while the daemon was starting
  await done;
}

async function daemonPid(stateDir: string): Promise<number | undefined> {
  const text = (await new StateStore(stateDir).readFile(PID).catch(() => undefined)) ?? '';
  const pid = Number(text.trim());
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  return (await isDaemon(pid)) ? pid : undefined;
}

/** Whether `pid` is a resolver daemon (only ever signal our own). */
async function isDaemon(pid: number): Promise<boolean> {
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  return cmdline.split('\0').includes('dns-daemon');
}

/**
 * Whether the daemon's answer `ack` covers a command whose own request was
 * `own`: it is that request, or one `seen` in the request file after the
 * command wrote its own (so written later, and read by the daemon later).
 */
export function acknowledged(
  ack: string | undefined,
  own: string,
  seen: ReadonlySet<string>,
): boolean {
  return ack !== undefined && ack !== '' && (ack === own || seen.has(ack));
}

/**
 * Makes sure a daemon serves `stateDir` if any network needs DNS, and that
 * it has seen the latest state before returning. Resolves false when no
 * answer came in time (the names then follow within the daemon's poll).
 */
export async function ensureDaemon(
  stateDir: string,
  cliPath: string,
  resolvConf?: string,
): Promise<boolean> {
  const state = new StateStore(stateDir);
  if ((await dnsNetworks(state)).length === 0) return true;
  const free = await native.tryLock(path.join(stateDir, 'locks', 'dns'), true);
  if (free) {
    free.release();
    const args = [
      cliPath,
      '--state-dir',
      stateDir,
      ...(resolvConf ? ['--resolv-conf', resolvConf] : []),
      'dns-daemon',
    ];
    const child = spawn(process.execPath, args, { detached: true, stdio: 'ignore' });
    child.unref();
    for (let i = 0; i < 200 && (await daemonPid(stateDir)) === undefined; i++)
      await new Promise((r) => setTimeout(r, 10));
  }
  const token = randomBytes(8).toString('hex');
  // Watched before the request is made, so the answer cannot slip by; one
  // that comes while the file is being read is looked at again at once.
  let changed = false;
  let wake: (() => void) | undefined;
  const unwatch = watchFile(stateDir, ACK, () => {
    changed = true;
    wake?.();
  });
  try {
    await state.writeFile(RELOAD, token);
    // Requests of other commands found in dns.reload from now on.
    const seen = new Set<string>();
    const deadline = Date.now() + ACK_WAIT_MS;
    while (Date.now() < deadline) {
      changed = false;
      const ack = await state.readFile(ACK).catch(() => undefined);
      if (acknowledged(ack, token, seen)) return true;
      const request = await state.readFile(RELOAD).catch(() => undefined);
      if (request !== undefined && request !== '' && request !== token) seen.add(request);
      if (acknowledged(ack, token, seen)) return true;
      if (changed) continue;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => wake?.(), ACK_POLL_MS);
        wake = () => {
          clearTimeout(timer);
          wake = undefined;
          resolve();
        };
      });
    }
  } finally {
    unwatch();
  }
  return false;
}

/**
 * Stops the daemon of `stateDir` (prune: when nothing needs it) and waits
 * until it has exited, so the directory can be removed right after.
 * Returns whether one was stopped.
 */
export async function stopDaemon(stateDir: string, onlyIfIdle: boolean): Promise<boolean> {
  const pid = await daemonPid(stateDir);
  if (pid === undefined) return false;
  if (onlyIfIdle && (await dnsNetworks(new StateStore(stateDir))).length > 0) return false;
  process.kill(pid, 'SIGTERM');
  for (let i = 0; i < STOP_WAIT_MS / 10 && (await isDaemon(pid)); i++)
    await new Promise((r) => setTimeout(r, 10));
  return true;
}
