/**
 * The resolver daemon the CLI uses: CLI invocations are short-lived, so the
 * resolver of user-defined networks runs in a small background process,
 * started on demand, found again through the state directory (an flock on
 * locks/dns and dns.pid), told to reload after every change, and gone when
 * no network needs it. `netplumb prune` stops a stray one.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';

import { native } from '../binding';
import type { NetworkRecord } from '../engine/records';
import { StateStore } from '../engine/state';
import { hasDns } from './view';

const IDLE_EXIT_MS = 1000;
const STOP_WAIT_MS = 5000;

// Files at the top of the state directory, written and read through the
// StateStore: never through a symlink planted in their place.
const PID = 'dns.pid';
const RELOAD = 'dns.reload';
const ACK = 'dns.ack';

async function dnsNetworks(state: StateStore): Promise<NetworkRecord[]> {
  return (await state.all<NetworkRecord>('networks')).filter(hasDns);
}

/** The daemon itself (`netplumb dns-daemon`). Resolves when it exits. */
export async function runDaemon(stateDir: string, resolvConf?: string): Promise<void> {
  const state = new StateStore(stateDir);
  await state.init();
  const lock = await native.tryLock(path.join(stateDir, 'locks', 'dns'), true);
  if (!lock) return; // another daemon serves this state directory
  // Loaded here, not at the top: every CLI command loads this module (for
  // ensureDaemon), only the daemon serves DNS.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { DnsService } = require('./service') as typeof import('./service');
  const service = new DnsService(state, { ...(resolvConf ? { resolvConf } : {}) });
  let idleSince = Date.now();
  let stopping = false;
  // The last request answered, kept here rather than read back from ACK: a
  // missing ACK (the directory being removed) must not be written again.
  let answered = (await state.readFile(ACK)) ?? '';
  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    clearInterval(timer);
    await service.close();
    await state.removeFile(PID).catch(() => undefined);
    lock.release();
  };
  const timer = setInterval(() => {
    void (async () => {
      // A reload request from a CLI command: reload, then acknowledge it.
      const token = (await state.readFile(RELOAD)) ?? '';
      if (token && token !== answered) {
        answered = token;
        await service.reload();
        await state.writeFile(ACK, token);
      }
      if ((await dnsNetworks(state)).length > 0) idleSince = Date.now();
      else if (Date.now() - idleSince > IDLE_EXIT_MS) await stop();
    })().catch(() => undefined);
  }, 25);
  process.once('SIGTERM', () => void stop());
  process.once('SIGINT', () => void stop());
  await service.start();
  await state.writeFile(PID, `${process.pid}\n`);
  await new Promise<void>((resolve) => {
    const check = setInterval(() => {
      if (stopping) {
        clearInterval(check);
        resolve();
      }
    }, 50);
  });
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
 * Makes sure a daemon serves `stateDir` if any network needs DNS, and that
 * it has seen the latest state before returning.
 */
export async function ensureDaemon(
  stateDir: string,
  cliPath: string,
  resolvConf?: string,
): Promise<void> {
  const state = new StateStore(stateDir);
  if ((await dnsNetworks(state)).length === 0) return;
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
  await state.writeFile(RELOAD, token);
  for (let i = 0; i < 200; i++) {
    if ((await state.readFile(ACK).catch(() => undefined)) === token) return;
    await new Promise((r) => setTimeout(r, 5));
  }
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
