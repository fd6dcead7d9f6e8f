/**
 * netplumb demo (what `npm start` runs): in a private network and mount
 * namespace of its own, build a network with a web and a db sandbox, serve
 * a page from web, fetch it from db (by name, through the embedded
 * resolver) and from the host (through a published port), show what was
 * built, and remove it all.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, readlinkSync } from 'node:fs';

import { Engine } from '../engine/engine';
import { ValidationError } from '../errors';

const SERVER = `
const http = require('http');
http.createServer((req, res) => res.end('hello from web (' + req.socket.remoteAddress.replace('::ffff:', '') + ' asked)\\n'))
  .listen(80, () => console.log('listening'));
`;

const FETCH = `
fetch(process.argv[1]).then((r) => r.text()).then((t) => { process.stdout.write(t); }, (e) => { console.error(String(e.cause ?? e)); process.exit(1); });
`;

/** Runs a command without blocking this process (its resolver answers the sandboxes meanwhile). */
function sh(argv: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      argv[0]!,
      argv.slice(1),
      { encoding: 'utf8', timeout: 10_000 },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`${argv.join(' ')}: ${stderr || err.message}`));
        else resolve(stdout);
      },
    );
  });
}

async function inside(out: (s: string) => void): Promise<number> {
  const say = (s: string): void => {
    out(`\n== ${s}\n`);
  };
  const engine = await Engine.open({ stateDir: '/run/netplumb' });
  let server: ChildProcess | undefined;
  try {
    say('netplumb network create app --subnet 10.89.0.0/24');
    const net = await engine.createNetwork({ name: 'app', subnet: '10.89.0.0/24' });
    out(`bridge ${net.bridge}, gateway ${net.gateway}\n`);
    say(
      'netplumb sandbox create web --net app -p 8080:80 --alias frontend; netplumb sandbox create db --net app',
    );
    const web = await engine.createSandbox({
      name: 'web',
      network: 'app',
      publish: ['8080:80'],
      aliases: ['frontend'],
    });
    const db = await engine.createSandbox({ name: 'db', network: 'app' });
    const ports = web.endpoints[0]!.ports.map(
      (p) => `${p.hostIp}:${p.hostPort}->${p.containerPort}/${p.protocol}`,
    );
    out(`web ${web.endpoints[0]!.ip}  db ${db.endpoints[0]!.ip}  published ${ports.join(', ')}\n`);

    say('a web server in web (ip netns exec web node server.js)');
    server = spawn('ip', ['netns', 'exec', 'web', process.execPath, '-e', SERVER], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await once(server.stdout!, 'data');
    out('listening on :80\n');

    say('from db: getent hosts web frontend (the resolver on the gateway, 10.89.0.1:53)');
    out(await sh(['ip', 'netns', 'exec', 'db', 'getent', 'hosts', 'web', 'frontend']));
    say('from db: GET http://web/');
    out(await sh(['ip', 'netns', 'exec', 'db', process.execPath, '-e', FETCH, 'http://web/']));
    say('from the host: GET http://127.0.0.1:8080/ (the published port)');
    out(await sh([process.execPath, '-e', FETCH, 'http://127.0.0.1:8080/']));

    say('what was built: links (ip -br link)');
    out(await sh(['ip', '-br', 'link']));
    say('inside web (ip -n web -br addr; ip -n web route)');
    out(await sh(['ip', '-n', 'web', '-br', 'addr']));
    out(await sh(['ip', '-n', 'web', 'route']));
    say('firewall (nft list ruleset)');
    out(await sh(['nft', 'list', 'ruleset']));
    return 0;
  } finally {
    if (server?.pid !== undefined) {
      server.kill('SIGTERM');
      await once(server, 'exit').catch(() => undefined);
    }
    say('removing everything');
    for (const s of await engine.listSandboxes()) await engine.removeSandbox(s.name);
    for (const n of await engine.listNetworks()) await engine.removeNetwork(n.name);
    out(`prune finds nothing left: ${JSON.stringify(await engine.prune())}\n`);
    out(`links now: ${(await sh(['ip', '-br', 'link'])).trim()}\n`);
    out(`nft tables now: ${(await sh(['nft', 'list', 'tables'])).trim() || '(none)'}\n`);
    await engine.close();
  }
}

/** The outer demo's network namespace, passed to the one it runs inside `unshare`. */
const OUTER_NETNS = 'NETPLUMB_DEMO_OUTER_NETNS';

function netnsOf(proc: string): string | undefined {
  try {
    return readlinkSync(`/proc/${proc}/ns/net`); // net:[INODE]
  } catch {
    return undefined; // /proc/1's is not always ours to read (EACCES)
  }
}

/**
 * Why this process must not mount over /run and /sys, if it must not: its
 * network namespace is PID 1's (the host's, as a rule) or the outer demo's,
 * or neither can be read to tell (as test/sandbox-inner.sh checks).
 */
function notPrivate(): string | undefined {
  const self = netnsOf('self');
  const init = netnsOf('1');
  const outer = process.env[OUTER_NETNS] || undefined;
  if (self === undefined || (init === undefined && outer === undefined))
    return 'cannot tell whether this is a private network namespace';
  if (self === init) return "not in a private network namespace (it is PID 1's)";
  if (self === outer) return "not in a private network namespace (it is the outer demo's)";
  return undefined;
}

/**
 * Outside: re-run this command inside `unshare --net --mount`, with private
 * /run, /etc/netns and /sys, so the host's own network is never touched.
 */
export async function demo(alreadyInside: boolean, out: (s: string) => void): Promise<number> {
  if (alreadyInside) {
    // --inside mounts over /run and /sys: only where `unshare` put us.
    const why = notPrivate();
    if (why)
      throw new ValidationError(
        'inside',
        `refusing to mount over /run and /sys: ${why}; run \`netplumb demo\` without --inside`,
      );
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'mode=0755', 'netplumb-demo-run', '/run']);
    mkdirSync('/run/netns');
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'mode=0755', 'netplumb-demo-etc', '/etc/netns']);
    execFileSync('mount', ['-t', 'sysfs', 'netplumb-demo-sys', '/sys']);
    execFileSync('ip', ['link', 'set', 'lo', 'up']);
    return inside(out);
  }
  mkdirSync('/etc/netns', { recursive: true });
  const child = spawn(
    'unshare',
    [
      '--net',
      '--mount',
      '--propagation',
      'private',
      '--',
      process.execPath,
      process.argv[1]!,
      'demo',
      '--inside',
    ],
    {
      stdio: 'inherit',
      env: { ...process.env, [OUTER_NETNS]: netnsOf('self') ?? '' },
    },
  );
  const [code] = (await once(child, 'exit')) as [number | null];
  return code ?? 1;
}
