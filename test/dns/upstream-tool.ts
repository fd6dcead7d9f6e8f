/**
 * A tiny authoritative DNS server standing in for the host's upstream
 * resolver in the tests (run inside its own namespace):
 *   node upstream-tool.js ADDRESS NAME=IP...
 * Answers A for the names given, NXDOMAIN for anything else; a name ending
 * in ".big" gets an answer too large for UDP (truncated, then over TCP).
 */
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';

import * as packet from 'dns-packet';

const [address, ...pairs] = process.argv.slice(2);
const table = new Map(pairs.map((p) => p.split('=') as [string, string]));

function respond(query: Buffer, overTcp: boolean): Buffer {
  const q = packet.decode(query);
  const question = q.questions![0]!;
  const name = question.name.toLowerCase();
  if (name.endsWith('.big')) {
    const answers: packet.Answer[] = Array.from({ length: 60 }, (_, i) => ({
      type: 'A',
      name: question.name,
      ttl: 5,
      data: `10.9.${i >> 8}.${i & 255}`,
    }));
    if (!overTcp)
      return packet.encode({
        type: 'response',
        id: q.id ?? 0,
        flags: packet.TRUNCATED_RESPONSE,
        questions: q.questions ?? [],
      });
    return packet.encode({
      type: 'response',
      id: q.id ?? 0,
      questions: q.questions ?? [],
      answers,
    });
  }
  const ip = table.get(name);
  if (!ip)
    return packet.encode({
      type: 'response',
      id: q.id ?? 0,
      flags: 3,
      questions: q.questions ?? [],
    });
  return packet.encode({
    type: 'response',
    id: q.id ?? 0,
    questions: q.questions ?? [],
    answers: [{ type: 'A', name: question.name, ttl: 5, data: ip }],
  });
}

const udp = createSocket('udp4');
// What the engine forwards may be malformed too (fuzz tests): never die of it.
udp.on('message', (m, r) => {
  try {
    udp.send(respond(m, false), r.port, r.address);
  } catch {
    // not a query we can parse: no answer, as a real server would
  }
});
udp.bind(53, address, () => {
  createServer((c) => {
    c.on('error', () => undefined);
    c.on('data', (d) => {
      try {
        const out = respond(d.subarray(2, 2 + d.readUInt16BE(0)), true);
        c.end(Buffer.concat([Buffer.from([out.length >> 8, out.length & 255]), out]));
      } catch {
        c.destroy();
      }
    });
  }).listen(53, address, () => {
    console.log('ready');
  });
});
