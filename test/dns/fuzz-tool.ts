/**
 * Throws malformed and mutated DNS packets at a resolver for a while:
 *   node fuzz-tool.js SERVER SECONDS SEED NAME
 * then checks it still answers a valid query for NAME; prints JSON counts.
 */
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';

import * as packet from 'dns-packet';

const [server = '127.0.0.1', seconds = '2', seedText = '1', name = 'web'] = process.argv.slice(2);
let seed = Number(seedText) >>> 0 || 1;
const rnd = (n: number): number => {
  // xorshift32: reproducible for a given seed
  seed ^= seed << 13;
  seed >>>= 0;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  seed >>>= 0;
  return seed % n;
};

const valid = packet.encode({
  type: 'query',
  id: 7,
  flags: packet.RECURSION_DESIRED,
  questions: [{ type: 'A', name }],
});

function mutate(): Buffer {
  switch (rnd(7)) {
    case 0:
      return Buffer.from(Array.from({ length: rnd(600) }, () => rnd(256)));
    case 1: {
      const b = Buffer.from(valid);
      for (let i = 0; i < 1 + rnd(6); i++) b[rnd(b.length)] = rnd(256);
      return b;
    }
    case 2:
      return valid.subarray(0, rnd(valid.length));
    case 3: {
      // a name far over 255 bytes
      const name = Array.from({ length: 12 }, () => 'x'.repeat(60)).join('.');
      const b = Buffer.alloc(12 + name.length + 6);
      b.writeUInt16BE(rnd(65536), 0);
      b.writeUInt16BE(1, 4);
      let o = 12;
      for (const label of name.split('.')) {
        b[o++] = label.length;
        o += b.write(label, o);
      }
      return b;
    }
    case 4: {
      // a compression pointer to itself
      const b = Buffer.from(valid);
      b[12] = 0xc0;
      b[13] = 12;
      return b;
    }
    case 5: {
      const b = Buffer.from(valid);
      b.writeUInt16BE((rnd(16) << 11) | (rnd(2) << 15), 2); // odd opcodes, QR set
      return b;
    }
    default: {
      const b = Buffer.from(valid);
      b.writeUInt16BE(rnd(5), 4); // 0..4 questions claimed
      return Buffer.concat([b, Buffer.from(Array.from({ length: rnd(40) }, () => rnd(256)))]);
    }
  }
}

async function main(): Promise<void> {
  const end = Date.now() + Number(seconds) * 1000;
  const sock = createSocket('udp4');
  let sent = 0;
  let replies = 0;
  sock.on('message', () => replies++);
  while (Date.now() < end) {
    for (let i = 0; i < 50; i++) {
      sock.send(mutate(), 53, server);
      sent++;
    }
    // A few over TCP, with broken framing too.
    const c = connect(53, server);
    c.on('error', () => undefined);
    c.on('connect', () => {
      const m = mutate();
      c.end(Buffer.concat([Buffer.from([rnd(256), rnd(256)]), m]));
    });
    // Broken framing leaves the server waiting for more: do not wait with it.
    setTimeout(() => c.destroy(), 200).unref();
    await new Promise((r) => setTimeout(r, 5));
  }
  // Still alive and right? A real client retries a lost datagram: so do we.
  let ok = false;
  for (let attempt = 0; attempt < 5 && !ok; attempt++) {
    ok = await new Promise<boolean>((resolve) => {
      const s = createSocket('udp4');
      const t = setTimeout(() => {
        s.close();
        resolve(false);
      }, 1000);
      s.on('message', (m) => {
        clearTimeout(t);
        s.close();
        resolve(m.readUInt16BE(0) === 7 && (packet.decode(m).answers ?? []).length === 1);
      });
      s.send(valid, 53, server);
    });
  }
  sock.close();
  console.log(JSON.stringify({ sent, replies, stillAnswers: ok }));
  process.exit(0);
}

void main();
