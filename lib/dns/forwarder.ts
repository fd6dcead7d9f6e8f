/**
 * Forwarding to the host's upstream resolvers: UDP from a fresh socket (a
 * random source port per query), TCP when the answer comes back truncated,
 * the next upstream on timeout. Any number of queries can be in flight.
 */
import { createSocket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { connect } from 'node:net';

const UDP_TIMEOUT_MS = 1500;
const TCP_TIMEOUT_MS = 3000;

function udpQuery(server: string, query: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const sock = createSocket(isIPv6(server) ? 'udp6' : 'udp4');
    const id = query.readUInt16BE(0);
    const timer = setTimeout(() => {
      sock.close();
      reject(new Error(`timeout from ${server}`));
    }, UDP_TIMEOUT_MS);
    sock.on('message', (msg, rinfo) => {
      // Only the upstream's answer to this query (anything else is spoofing or noise).
      if (rinfo.address !== server || msg.length < 12 || msg.readUInt16BE(0) !== id) return;
      clearTimeout(timer);
      sock.close();
      resolve(msg);
    });
    sock.on('error', (err) => {
      clearTimeout(timer);
      sock.close();
      reject(err);
    });
    sock.send(query, 53, server);
  });
}

function tcpQuery(server: string, query: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const framed = Buffer.alloc(query.length + 2);
    framed.writeUInt16BE(query.length, 0);
    query.copy(framed, 2);
    let got = Buffer.alloc(0);
    const sock = connect({ host: server, port: 53 });
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`tcp timeout from ${server}`));
    }, TCP_TIMEOUT_MS);
    sock.on('connect', () => sock.write(framed));
    sock.on('data', (d) => {
      got = Buffer.concat([got, d]);
      if (got.length >= 2 && got.length >= 2 + got.readUInt16BE(0)) {
        clearTimeout(timer);
        sock.destroy();
        resolve(got.subarray(2, 2 + got.readUInt16BE(0)));
      }
    });
    sock.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

/** Asks the upstreams in turn; resolves with the first answer, or rejects. */
export async function forward(
  upstreams: string[],
  query: Buffer,
  overTcp: boolean,
): Promise<Buffer> {
  let last: Error = new Error('no upstream resolvers');
  for (const server of upstreams) {
    try {
      if (overTcp) return await tcpQuery(server, query);
      const answer = await udpQuery(server, query);
      // TC: the answer did not fit a datagram; ask again over TCP.
      if ((answer.readUInt16BE(2) & 0x0200) !== 0) return await tcpQuery(server, query);
      return answer;
    } catch (err) {
      last = err as Error;
    }
  }
  throw last;
}
