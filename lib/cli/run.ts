/**
 * netplumb run: a sandbox for the lifetime of one command. COMMAND runs
 * inside via `ip netns exec`, which also binds the sandbox's hosts,
 * hostname and resolv.conf over /etc; stdio is the terminal's. The sandbox
 * is removed when COMMAND exits or when we get SIGINT/SIGTERM, and the exit
 * status is COMMAND's.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';

import { Engine, type EngineOptions } from '../engine/engine';
import type { SandboxSpec } from '../engine/types';

export async function runInSandbox(
  opts: EngineOptions,
  spec: (name: string) => SandboxSpec,
  name: string | undefined,
  command: string[],
  afterCreate: () => Promise<void>,
): Promise<number> {
  const engine = await Engine.open(opts);
  const sandboxName = name ?? `run-${randomBytes(4).toString('hex')}`;
  // Only what this run made is removed: a failed creation (the name taken,
  // no such network) has rolled back, and a sandbox of that name is another's.
  let created = false;
  try {
    const sbx = await engine.createSandbox(spec(sandboxName));
    created = true;
    // e.g. the resolver daemon must know the sandbox before COMMAND asks it
    await afterCreate();
    for (const w of sbx.warnings) process.stderr.write(`warning: ${w}\n`);
    const argv = sbx.netns ? ['ip', 'netns', 'exec', sbx.netns, ...command] : command;
    const child = spawn(argv[0]!, argv.slice(1), { stdio: 'inherit' });
    const forward = (sig: NodeJS.Signals): void => {
      child.kill(sig);
    };
    process.on('SIGINT', forward);
    process.on('SIGTERM', forward);
    try {
      return await new Promise<number>((resolve, reject) => {
        child.once('error', (err) => {
          reject(
            new Error(
              `cannot run ${argv[0]}: ${err.message}${sbx.netns ? ' (iproute2 provides ip netns exec)' : ''}`,
            ),
          );
        });
        child.once('exit', (code, signal) => {
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
      process.off('SIGINT', forward);
      process.off('SIGTERM', forward);
    }
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
}
