/**
 * netplumb run: a sandbox for the lifetime of one command. COMMAND runs
 * inside via `ip netns exec`, which also binds the sandbox's hosts,
 * hostname and resolv.conf over /etc; stdio is the terminal's. The sandbox
 * is removed when COMMAND exits, and the exit status is COMMAND's.
 *
 * Signals (INT, TERM, HUP, QUIT, USR1, USR2): while COMMAND runs they are
 * passed on to it, as Docker's sig-proxy does (at a terminal, INT and QUIT
 * come from the terminal, which signals COMMAND itself: they are not passed
 * on a second time). One that comes while the sandbox is being set up ends
 * the run before COMMAND starts, and one that comes while it is being
 * removed waits for the removal: either way nothing is left behind.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { constants } from 'node:os';
import path from 'node:path';
import { isatty } from 'node:tty';

import { Engine, type EngineOptions } from '../engine/engine';
import type { SandboxSpec } from '../engine/types';
import { NetlinkError, NotFoundError } from '../errors';

/** The signals run handles. */
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'] as const;
/** What a terminal sends its foreground process group (COMMAND's too) by itself. */
const TERMINAL_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGQUIT'];

/**
 * The signals run passes on to COMMAND: all it handles, but for those the
 * terminal already sent COMMAND when stdin is a terminal.
 */
export function forwardedSignals(stdinIsTerminal: boolean): NodeJS.Signals[] {
  return SIGNALS.filter((s) => !stdinIsTerminal || !TERMINAL_SIGNALS.includes(s));
}

/** 128 + the signal's number: a shell's status for a process a signal ended. */
export function signalStatus(signal: NodeJS.Signals): number {
  return 128 + (constants.signals[signal] ?? 0);
}

/**
 * Docker's exit codes for what kept COMMAND from running: 126 when it
 * cannot be invoked (not executable), 127 when it is not found, 125 when
 * netplumb itself failed (bad flags, no such network, the sandbox could
 * not be made).
 */
export const RUN_FAILED = 125;
export const RUN_CANNOT_INVOKE = 126;
export const RUN_NOT_FOUND = 127;

export function runExitCode(err: unknown): number {
  if (err instanceof NotFoundError && err.field === 'command') return RUN_NOT_FOUND;
  if (err instanceof NetlinkError && err.syscall === 'execve') return RUN_CANNOT_INVOKE;
  return RUN_FAILED;
}

/** COMMAND could not be executed: not found (127) or not executable (126). */
function execError(cmd: string, code: string | undefined): Error {
  if (code === 'ENOENT' || code === 'ENOTDIR')
    return new NotFoundError('command', `${cmd}: command not found`);
  const errno = code ? (constants.errno as Record<string, number>)[code] : undefined;
  return new NetlinkError({
    code: code ?? 'EACCES',
    errno: errno ?? constants.errno.EACCES,
    op: `execve ${cmd}`,
    syscall: 'execve',
    message: `${cmd}: ${code === undefined || code === 'EACCES' ? 'permission denied' : `cannot be run (${code})`}`,
  });
}

/** Whether `file` is something execve would run: its errno name when not. */
async function executable(file: string): Promise<string | undefined> {
  try {
    // One syscall for a miss (most PATH entries); execve refuses a
    // directory with EACCES, as it does a file without x.
    await access(file, fsConstants.X_OK);
    return (await stat(file)).isDirectory() ? 'EACCES' : undefined;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? 'EACCES';
  }
}

/**
 * Finds `cmd` as execvp would (a name with a slash as it is, others along
 * PATH), before a sandbox is made for it: a NotFoundError (field
 * `command`) when there is none, a NetlinkError (syscall `execve`, EACCES)
 * when what there is cannot be run.
 */
export async function findCommand(
  cmd: string,
  searchPath = process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
): Promise<string> {
  if (cmd === '') throw new NotFoundError('command', 'an empty command name is not found');
  if (cmd.includes('/')) {
    const code = await executable(cmd);
    if (code) throw execError(cmd, code);
    return cmd;
  }
  let refused: string | undefined;
  for (const dir of searchPath.split(':')) {
    const file = path.join(dir || '.', cmd);
    const code = await executable(file);
    if (!code) return file;
    if (code !== 'ENOENT' && code !== 'ENOTDIR') refused ??= code;
  }
  throw execError(cmd, refused ?? 'ENOENT');
}

export async function runInSandbox(
  opts: EngineOptions,
  spec: (name: string) => SandboxSpec,
  name: string | undefined,
  command: string[],
  afterCreate: () => Promise<void>,
): Promise<number> {
  const forwarded = new Set(forwardedSignals(isatty(0)));
  let child: ChildProcess | undefined;
  let running = false;
  /** A signal that came before COMMAND started: the run ends there. */
  const cancel: { by?: NodeJS.Signals } = {};
  const onSignal = (sig: NodeJS.Signals): void => {
    if (running) {
      if (forwarded.has(sig)) child?.kill(sig);
    } else if (!child) {
      cancel.by ??= sig;
    }
    // After COMMAND: the removal goes on; the status is COMMAND's.
  };
  // Installed before anything is made, kept until everything is removed.
  for (const s of SIGNALS) process.on(s, onSignal);
  try {
    const sandboxName = name ?? `run-${randomBytes(4).toString('hex')}`;
    const sandboxSpec = spec(sandboxName);
    // What cannot run is found before a sandbox is made for it; `ip netns
    // exec` would only say so in its own exit status (255).
    await findCommand(command[0] ?? '');
    if (sandboxSpec.network !== 'host') {
      await findCommand('ip').catch(() => {
        throw new NotFoundError('ip', 'ip (iproute2) is needed to run a command in a sandbox');
      });
    }
    const engine = await Engine.open(opts);
    // Only what this run made is removed: a failed creation (the name taken,
    // no such network) has rolled back, and a sandbox of that name is another's.
    let created = false;
    try {
      if (cancel.by) return signalStatus(cancel.by);
      const sbx = await engine.createSandbox(sandboxSpec);
      created = true;
      // e.g. the resolver daemon must know the sandbox before COMMAND asks it
      await afterCreate();
      if (cancel.by) return signalStatus(cancel.by);
      for (const w of sbx.warnings) process.stderr.write(`warning: ${w}\n`);
      const argv = sbx.netns ? ['ip', 'netns', 'exec', sbx.netns, ...command] : command;
      const proc = spawn(argv[0]!, argv.slice(1), { stdio: 'inherit' });
      child = proc;
      running = true;
      return await new Promise<number>((resolve, reject) => {
        proc.once('error', (err: NodeJS.ErrnoException) => {
          running = false;
          reject(
            sbx.netns
              ? new NotFoundError('ip', `cannot run ip netns exec (iproute2): ${err.message}`)
              : execError(argv[0]!, err.code),
          );
        });
        proc.once('exit', (code, signal) => {
          running = false;
          resolve(code ?? (signal ? signalStatus(signal) : RUN_FAILED));
        });
      });
    } finally {
      if (created)
        await engine.removeSandbox(sandboxName).catch((err: unknown) => {
          if ((err as { code?: string }).code !== 'ERR_NETPLUMB_NOT_FOUND')
            process.stderr.write(
              `netplumb: cleanup of ${sandboxName} failed: ${(err as Error).message}\n`,
            );
        });
      await engine.close();
    }
  } finally {
    // The process ends next: a signal now must not kill it before it exits
    // with the status found (the run is a command's whole process).
    for (const s of SIGNALS) {
      process.on(s, ignoreSignal);
      process.off(s, onSignal);
    }
  }
}

function ignoreSignal(): void {
  // see the end of runInSandbox
}
