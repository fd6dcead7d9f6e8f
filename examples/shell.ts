/**
 * What the examples share: running a program here or inside a sandbox's
 * namespace (`ip netns exec`, which also binds the sandbox's hosts and
 * resolv.conf over /etc), without blocking the event loop, since the
 * engine's DNS resolver answers the sandboxes from this process.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';

import type { EngineOptions } from 'netplumb';

/**
 * How the examples open their engine: state in a directory of their own
 * (NETPLUMB_STATE_DIR to change it), and the host's resolvers as upstreams
 * for names outside the networks (NETPLUMB_RESOLV_CONF to change them).
 */
export const OPTIONS: EngineOptions = {
  stateDir: process.env.NETPLUMB_STATE_DIR ?? '/run/netplumb-examples',
  resolvConf: process.env.NETPLUMB_RESOLV_CONF ?? '/etc/resolv.conf',
};

/** Runs `argv` (inside `netns` when given) and returns its standard output. */
export function sh(argv: string[], netns?: string): Promise<string> {
  const full = netns ? ['ip', 'netns', 'exec', netns, ...argv] : argv;
  return new Promise((resolve, reject) => {
    execFile(full[0]!, full.slice(1), { encoding: 'utf8', timeout: 15_000 }, (err, out, errOut) => {
      if (err) reject(new Error(`${full.join(' ')}: ${errOut.trim() || err.message}`));
      else resolve(out);
    });
  });
}

const SERVER = `
const http = require('node:http');
const [port, text] = process.argv.slice(1);
http
  .createServer((req, res) => res.end(text + ' (asked by ' + req.socket.remoteAddress.replace('::ffff:', '') + ')\\n'))
  .listen(Number(port), () => console.log('listening'));
`;

/** Starts an HTTP server answering `text` on `port` inside `netns`; resolves once it listens. */
export async function httpServer(netns: string, port: number, text: string): Promise<ChildProcess> {
  const child = spawn(
    'ip',
    ['netns', 'exec', netns, process.execPath, '-e', SERVER, String(port), text],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const listening = once(child.stdout, 'data').then(() => true);
  const exited = once(child, 'exit').then(() => false);
  if (!(await Promise.race([listening, exited]))) throw new Error(`server in ${netns} exited`);
  return child;
}

/** Stops a server started by httpServer. */
export async function stop(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  await exited;
}

const GET = `
fetch(process.argv[1], { signal: AbortSignal.timeout(5000) })
  .then((r) => r.text())
  .then((t) => process.stdout.write(t), (e) => { console.error(String(e.cause ?? e)); process.exit(1); });
`;

/** GET `url` from inside `netns` (names resolve through the sandbox's resolv.conf). */
export function httpGet(url: string, netns: string): Promise<string> {
  return sh([process.execPath, '-e', GET, url], netns);
}
