/**
 * Traffic for the engine tests, run inside namespaces:
 *   node net-tool.js serve tcp|udp PORT [ADDRESS]   echo "from <peer address>", prints "ready"
 *     (udp with a multicast ADDRESS: joins that group and answers what is sent to it)
 *   node net-tool.js connect tcp|udp HOST PORT MS [LOCALPORT]   prints { ok, reply } or { ok: false, error }
 */
import { createSocket } from 'node:dgram';
import { connect, createServer } from 'node:net';

const [mode, proto, a, b, c] = process.argv.slice(2);

function peer(addr: string | undefined): string {
  return (addr ?? '?').replace(/^::ffff:/, '');
}

if (mode === 'serve') {
  const port = Number(a);
  const host = b ?? (proto === 'udp' ? '0.0.0.0' : '::');
  if (proto === 'udp') {
    const s = createSocket('udp4');
    s.on('message', (_m, r) => {
      s.send(`from ${r.address}`, r.port, r.address);
    });
    const group = /^2(2[4-9]|3[0-9])\./.test(host) ? host : undefined;
    s.bind(port, group ? '0.0.0.0' : host, () => {
      if (group) s.addMembership(group);
      console.log('ready');
    });
  } else {
    createServer((sock) => sock.end(`from ${peer(sock.remoteAddress)}`)).listen(port, host, () => {
      console.log('ready');
    });
  }
} else {
  const [host, port, ms] = [a!, Number(b), Number(c ?? 1500)];
  const localPort = process.argv[7] !== undefined ? Number(process.argv[7]) : 0;
  const done = (r: object): void => {
    console.log(JSON.stringify(r));
    process.exit(0);
  };
  setTimeout(() => {
    done({ ok: false, error: 'timeout' });
  }, ms);
  if (proto === 'udp') {
    const s = createSocket('udp4');
    s.on('message', (m) => {
      done({ ok: true, reply: m.toString() });
    });
    s.on('error', (e) => {
      done({ ok: false, error: e.message });
    });
    // A fixed source port keeps the "UDP connection" the same between runs.
    s.bind(localPort, () => {
      s.send('ping', port, host);
    });
  } else {
    let got = '';
    const sock = connect({ host, port });
    sock.on('data', (d) => (got += d.toString()));
    sock.on('end', () => {
      done({ ok: true, reply: got });
    });
    sock.on('error', (e) => {
      done({ ok: false, error: (e as NodeJS.ErrnoException).code ?? e.message });
    });
  }
}
