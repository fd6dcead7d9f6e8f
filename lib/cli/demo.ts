/**
 * netplumb demo (what `npm start` runs): in a private network and mount
 * namespace of its own, build a network with a web and a db sandbox, serve
 * a page from web, fetch it from db (by name) and from the host (through a
 * published port), show what was built, and remove it all.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync } from 'node:fs';

import { Engine } from '../engine/engine';

const SERVER = `
const http = require('http');
const s = http.createServer((req, res) => res.end('hello from ' + require('os').hostname() + ' (' + req.socket.remoteAddress + ' asked)\\n'));
s.listen(80, () => console.log('listening'));
`;

const FETCH = `
fetch(process.argv[1]).then((r) => r.text()).then((t) => { process.stdout.write(t); }, (e) => { console.error(String(e.cause ?? e)); process.exit(1); });
`;

function sh(argv: string[]): string {
  return execFileSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
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
    say('netplumb sandbox create web --net app -p 8080:80 ; netplumb sandbox create db --net app');
    const web = await engine.createSandbox({
      name: 'web',
      network: 'app',
      publish: ['8080:80'],
      aliases: ['frontend'],
    });
    const db = await engine.createSandbox({ name: 'db', network: 'app' });
    out(
      `web ${web.endpoints[0]!.ip}  db ${db.endpoints[0]!.ip}  published ${web.endpoints[0]!.ports.map((p) => `${p.hostIp}:${p.hostPort}->${p.containerPort}/${p.protocol}`).join(', ')}\n`,
    );

    say('a web server in web (ip netns exec web node server.js)');
    server = spawn('ip', ['netns', 'exec', 'web', process.execPath, '-e', SERVER], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await once(server.stdout!, 'data');
    out('listening on :80\n');

    say(`from db: GET http://${web.endpoints[0]!.ip}/`);
    out(
      sh([
        'ip',
        'netns',
        'exec',
        'db',
        process.execPath,
        '-e',
        FETCH,
        `http://${web.endpoints[0]!.ip}/`,
      ]),
    );
    say('from the host: GET http://127.0.0.1:8080/ (published port)');
    out(sh([process.execPath, '-e', FETCH, 'http://127.0.0.1:8080/']));

    say('what was built: links (ip -br link)');
    out(sh(['ip', '-br', 'link']));
    say('inside web (ip -n web -br addr; ip -n web route)');
    out(sh(['ip', '-n', 'web', '-br', 'addr']));
    out(sh(['ip', '-n', 'web', 'route']));
    say('firewall (nft list ruleset)');
    out(sh(['nft', 'list', 'ruleset']));
    return 0;
  } finally {
    if (server?.pid !== undefined) {
      server.kill('SIGTERM');
      await once(server, 'exit').catch(() => undefined);
    }
    say('removing everything');
    for (const s of await engine.listSandboxes()) await engine.removeSandbox(s.name);
    for (const n of await engine.listNetworks()) await engine.removeNetwork(n.name);
    out(`left behind: ${JSON.stringify(await engine.prune())}\n`);
    out(`links now: ${sh(['ip', '-br', 'link']).trim()}\n`);
    await engine.close();
  }
}

/**
 * Outside: re-run this command inside `unshare --net --mount`, with private
 * /run and /etc/netns, so the host's own network is never touched.
 */
export async function demo(alreadyInside: boolean, out: (s: string) => void): Promise<number> {
  if (alreadyInside) {
    sh(['mount', '-t', 'tmpfs', '-o', 'mode=0755', 'netplumb-demo-run', '/run']);
    mkdirSync('/run/netns');
    sh(['mount', '-t', 'tmpfs', '-o', 'mode=0755', 'netplumb-demo-etc', '/etc/netns']);
    sh(['mount', '-t', 'sysfs', 'netplumb-demo-sys', '/sys']);
    sh(['ip', 'link', 'set', 'lo', 'up']);
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
    },
  );
  const [code] = (await once(child, 'exit')) as [number | null];
  return code ?? 1;
}
