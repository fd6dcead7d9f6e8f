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
import { constants } from 'node:os';
import { isatty } from 'node:tty';

import { Engine, type EngineOptions } from '../engine/engine';
import type { SandboxSpec } from '../engine/types';

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
    const engine = await Engine.open(opts);
    const sandboxName = name ?? `run-${randomBytes(4).toString('hex')}`;
    // Only what this run made is removed: a failed creation (the name taken,
    // no such network) has rolled back, and a sandbox of that name is another's.
    let created = false;
    try {
      if (cancel.by) return signalStatus(cancel.by);
      const sbx = await engine.createSandbox(spec(sandboxName));
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
        proc.once('error', (err) => {
          running = false;
          reject(
            new Error(
              `cannot run ${argv[0]}: ${err.message}${sbx.netns ? ' (iproute2 provides ip netns exec)' : ''}`,
            ),
          );
        });
        proc.once('exit', (code, signal) => {
          running = false;
          resolve(
            code ??
              128 +
                (signal
                  ? (({ SIGINT: 2, SIGTERM: 15, SIGKILL: 9 } as Record<string, number>)[signal] ??
                    1)
                  : 1),
          );
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
    for (const s of SIGNALS) process.off(s, onSignal);
  }
}
