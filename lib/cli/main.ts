#!/usr/bin/env node
/**
 * netplumb: Docker's network verbs over the engine.
 *   netplumb network create|ls|inspect|rm|connect|disconnect
 *   netplumb sandbox create|ls|inspect|rm
 *   netplumb run [--net MODE] [-p ...] [--name N] -- COMMAND ...
 *   netplumb prune | demo
 */
import { Command, CommanderError, Option } from 'commander';

import { ensureDaemon, runDaemon, stopDaemon } from '../dns/daemon';
import { Engine, type EngineOptions } from '../engine/engine';
import { ConflictError, NetlinkError, NotFoundError, ValidationError } from '../errors';
import { json, networksTable, sandboxesTable } from './format';

interface Globals {
  stateDir: string;
  firewall: boolean;
  resolvConf?: string;
  debug?: boolean;
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

function labels(list: string[] | undefined): Record<string, string> | undefined {
  if (!list) return undefined;
  const out: Record<string, string> = {};
  for (const item of list) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw new ValidationError('label', `"${item}" is not KEY=VALUE`);
    out[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return out;
}

/** An error as the CLI prints it: one line for the typed errors, a stack for a bug or with --debug. */
function errorText(err: unknown, debug: boolean): string {
  const known =
    err instanceof ValidationError ||
    err instanceof ConflictError ||
    err instanceof NotFoundError ||
    err instanceof NetlinkError;
  const msg = debug || !known ? ((err as Error).stack ?? String(err)) : (err as Error).message;
  return `netplumb: ${msg}\n`;
}

const RUN_HELP = `
Exit status (as docker run's):
  COMMAND's own status, or 128+N when a signal N ended it
  125  netplumb itself failed (bad flags, no such network, the sandbox could not be made)
  126  COMMAND cannot be invoked (not executable)
  127  COMMAND was not found`;

function bool(value: string, field: string): boolean {
  if (value === 'true') return true;
  if (value === 'false') return false;
  throw new ValidationError(field, `must be true or false, not "${value}"`);
}

export function buildProgram(out: (s: string) => void = (s) => process.stdout.write(s)): Command {
  const program = new Command('netplumb')
    .description('Container networking over netlink: networks, sandboxes, published ports.')
    .option('--state-dir <dir>', 'state directory', '/run/netplumb')
    .option('--no-firewall', 'do not manage nftables (no masquerade, isolation or publishing)')
    .option('--resolv-conf <file>', 'host resolver configuration (upstreams for DNS)')
    .option('--debug', 'print stack traces')
    .showHelpAfterError()
    .exitOverride();

  // The CLI's processes are short-lived: DNS runs in a daemon (lib/dns/daemon).
  const engineOptions = (): EngineOptions => {
    const g = program.opts<Globals>();
    return {
      stateDir: g.stateDir,
      firewall: g.firewall,
      dns: false,
      ...(g.resolvConf ? { resolvConf: g.resolvConf } : {}),
    };
  };
  const daemon = async (): Promise<void> => {
    const g = program.opts<Globals>();
    if (!(await ensureDaemon(g.stateDir, __filename, g.resolvConf)))
      process.stderr.write(
        'netplumb: warning: the resolver daemon did not confirm the change in time; names may resolve a moment later\n',
      );
  };
  const withEngine = async <T>(fn: (e: Engine) => Promise<T>): Promise<T> => {
    const engine = await Engine.open(engineOptions());
    try {
      const result = await fn(engine);
      await daemon();
      return result;
    } finally {
      await engine.close();
    }
  };
  /**
   * `rm NAME...` as Docker's: every name is tried, each failure printed,
   * the status 1 if any failed; the daemon reloads for the ones removed.
   */
  const removeEach = async (
    names: string[],
    remove: (e: Engine, name: string) => Promise<void>,
  ): Promise<void> => {
    const debug = program.opts<Globals>().debug === true;
    let failed = false;
    await withEngine(async (e) => {
      for (const n of names) {
        try {
          await remove(e, n);
          out(`${n}\n`);
        } catch (err) {
          failed = true;
          process.stderr.write(errorText(err, debug));
        }
      }
    });
    if (failed) process.exitCode = 1;
  };

  const network = program.command('network').description('manage networks');
  network
    .command('create <name>')
    .description('create a user-defined bridge network')
    .option('--subnet <cidr>', 'IPv4 subnet (from the default pools when omitted)')
    .option('--gateway <ip>', 'IPv4 gateway')
    .option('--mtu <n>', 'MTU of the bridge and its veths', (v) => Number(v))
    .option('--internal', 'no traffic in or out of the network')
    .option('--icc <bool>', 'inter-container communication (--icc=false isolates)', 'true')
    .option('--ipv6', 'dual stack')
    .option('--subnet6 <cidr>', 'IPv6 subnet')
    .option('--gateway6 <ip>', 'IPv6 gateway')
    .option('--label <k=v>', 'label (repeatable)', collect)
    .action(
      async (
        name: string,
        o: {
          subnet?: string;
          gateway?: string;
          mtu?: number;
          internal?: boolean;
          icc: string;
          ipv6?: boolean;
          subnet6?: string;
          gateway6?: string;
          label?: string[];
        },
      ) => {
        const n = await withEngine((e) =>
          e.createNetwork({
            name,
            ...(o.subnet !== undefined ? { subnet: o.subnet } : {}),
            ...(o.gateway !== undefined ? { gateway: o.gateway } : {}),
            ...(o.mtu !== undefined ? { mtu: o.mtu } : {}),
            internal: o.internal === true,
            icc: bool(o.icc, 'icc'),
            ...(o.ipv6 ? { ipv6: true } : {}),
            ...(o.subnet6 !== undefined ? { subnet6: o.subnet6 } : {}),
            ...(o.gateway6 !== undefined ? { gateway6: o.gateway6 } : {}),
            ...(o.label ? { labels: labels(o.label)! } : {}),
          }),
        );
        out(`${n.name}\n`);
      },
    );
  network
    .command('ls')
    .description('list networks')
    .option('--json', 'JSON output')
    .action(async (o: { json?: boolean }) => {
      const list = await withEngine((e) => e.listNetworks());
      out(o.json ? json(list) : networksTable(list));
    });
  network
    .command('inspect <name>')
    .description('show a network as JSON')
    .action(async (name: string) => {
      out(json(await withEngine((e) => e.inspectNetwork(name))));
    });
  network
    .command('rm <names...>')
    .description('remove networks (refused while sandboxes are attached)')
    .action((names: string[]) => removeEach(names, (e, n) => e.removeNetwork(n)));
  network
    .command('connect <network> <sandbox>')
    .description('connect a sandbox to a network')
    .option('--alias <name>', 'DNS alias (repeatable)', collect)
    .option('--ip <ip>', 'static IPv4 address')
    .option('--ip6 <ip>', 'static IPv6 address')
    .action(
      async (net: string, sbx: string, o: { alias?: string[]; ip?: string; ip6?: string }) => {
        await withEngine((e) =>
          e.connect(sbx, net, {
            ...(o.alias ? { aliases: o.alias } : {}),
            ...(o.ip ? { ip: o.ip } : {}),
            ...(o.ip6 ? { ip6: o.ip6 } : {}),
          }),
        );
      },
    );
  network
    .command('disconnect <network> <sandbox>')
    .description('disconnect a sandbox from a network')
    .action(async (net: string, sbx: string) => {
      await withEngine((e) => e.disconnect(sbx, net));
    });

  const sandboxOptions = (c: Command): Command =>
    c
      .option(
        '--net, --network <mode>',
        'bridge | host | none | container:NAME | NETWORK',
        'bridge',
      )
      .option(
        '-p, --publish <spec>',
        'publish a port: [hostIp:][hostPort:]containerPort[/proto] (repeatable)',
        collect,
      )
      .option('-P, --publish-all', 'publish every --expose port to a free host port')
      .option('--expose <port>', 'a container port for -P (repeatable)', collect)
      .option('--alias <name>', 'DNS alias (repeatable)', collect)
      .option('--ip <ip>', 'static IPv4 address')
      .option('--ip6 <ip>', 'static IPv6 address')
      .option('--mac-address <mac>', 'MAC address')
      .option('--hostname <name>', 'host name')
      .option('--label <k=v>', 'label (repeatable)', collect);

  interface SandboxOpts {
    network: string;
    publish?: string[];
    publishAll?: boolean;
    expose?: string[];
    alias?: string[];
    ip?: string;
    ip6?: string;
    macAddress?: string;
    hostname?: string;
    label?: string[];
  }
  const spec = (name: string, o: SandboxOpts): Parameters<Engine['createSandbox']>[0] => ({
    name,
    network: o.network,
    ...(o.publish ? { publish: o.publish } : {}),
    ...(o.publishAll ? { publishAll: true } : {}),
    ...(o.expose ? { expose: o.expose } : {}),
    ...(o.alias ? { aliases: o.alias } : {}),
    ...(o.ip ? { ip: o.ip } : {}),
    ...(o.ip6 ? { ip6: o.ip6 } : {}),
    ...(o.macAddress ? { mac: o.macAddress } : {}),
    ...(o.hostname ? { hostname: o.hostname } : {}),
    ...(o.label ? { labels: labels(o.label)! } : {}),
  });

  const sandbox = program.command('sandbox').description('manage sandboxes (network namespaces)');
  sandboxOptions(sandbox.command('create <name>').description('create a sandbox')).action(
    async (name: string, o: SandboxOpts) => {
      const s = await withEngine((e) => e.createSandbox(spec(name, o)));
      for (const w of s.warnings) process.stderr.write(`warning: ${w}\n`);
      out(`${s.name}\n`);
    },
  );
  sandbox
    .command('ls')
    .description('list sandboxes')
    .option('--json', 'JSON output')
    .action(async (o: { json?: boolean }) => {
      const list = await withEngine((e) => e.listSandboxes());
      out(o.json ? json(list) : sandboxesTable(list));
    });
  sandbox
    .command('inspect <name>')
    .description('show a sandbox as JSON')
    .action(async (name: string) => {
      out(json(await withEngine((e) => e.inspectSandbox(name))));
    });
  sandbox
    .command('rm <names...>')
    .description('remove sandboxes')
    .action((names: string[]) => removeEach(names, (e, n) => e.removeSandbox(n)));

  sandboxOptions(
    program
      .command('run')
      .description('run COMMAND in a new sandbox; it is removed when COMMAND exits'),
  )
    .option('--name <name>', 'sandbox name (random when omitted)')
    .argument('<command...>', 'the command and its arguments (after --)')
    .addHelpText('after', RUN_HELP)
    // Bad flags are netplumb's failure, not COMMAND's: 125, as docker run.
    .exitOverride((err) => {
      throw err.exitCode === 0 ? err : new CommanderError(125, err.code, err.message);
    })
    .action(async (command: string[], o: SandboxOpts & { name?: string }) => {
      const { runInSandbox, runExitCode } = await import('./run.js');
      try {
        process.exitCode = await runInSandbox(
          engineOptions(),
          (name) => spec(name, o),
          o.name,
          command,
          daemon,
        );
      } catch (err) {
        process.stderr.write(errorText(err, program.opts<Globals>().debug === true));
        process.exitCode = runExitCode(err);
      }
    });

  program
    .command('prune')
    .description('reconcile state with the kernel after a crash')
    .option('--json', 'JSON output')
    .action(async (o: { json?: boolean }) => {
      const r = await withEngine((e) => e.prune());
      if (await stopDaemon(program.opts<Globals>().stateDir, true)) r.daemons = 1;
      if (o.json) {
        out(json(r));
      } else {
        out(
          `sandboxes finished: ${r.sandboxes.length}, networks finished: ${r.networks.length}, links removed: ${r.links.length}, ` +
            `addresses freed: ${r.addresses}, ports freed: ${r.ports}, firewall entries removed: ${r.rules}\n`,
        );
      }
    });

  program
    .command('dns-daemon', { hidden: true })
    .description('the resolver of user-defined networks (started on demand)')
    .action(async () => {
      const g = program.opts<Globals>();
      await runDaemon(g.stateDir, g.resolvConf);
    });

  program
    .command('demo')
    .description('build a small network in a private namespace, show it, and remove it')
    .addOption(new Option('--inside', 'already in the private namespace').hideHelp())
    .action(async (o: { inside?: boolean }) => {
      const { demo } = await import('./demo.js');
      process.exitCode = await demo(o.inside === true, out);
    });

  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode;
    process.stderr.write(errorText(err, program.opts<Globals>().debug === true));
    return 1;
  }
}

if (require.main === module) {
  // A reader that goes away (`netplumb sandbox ls | head -1`) is not an
  // error: the command still finishes what it changes, its output is dropped.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
  });
  void main(process.argv).then((code) => {
    process.exitCode = code;
  });
}
