/**
 * A DNS client run inside a sandbox by the tests:
 *   node query-tool.js SERVER NAME TYPE [udp|tcp] [EDNS]    -> JSON answer
 *     (EDNS: the UDP payload size to advertise in an OPT record; none without)
 *   node query-tool.js SERVER --load COUNT INFLIGHT NAME=IP... -> JSON stats
 * (dns-packet on the wire, no resolver library in between).
 */
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';

import * as packet from 'dns-packet';

/** A, AAAA and PTR data are strings; other types do not matter here. */
function dataOf(a: packet.Answer): string {
  return 'data' in a && typeof a.data === 'string' ? a.data : '';
}

function udp(server: string, q: Buffer, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const s = createSocket('udp4');
    const t = setTimeout(() => {
      s.close();
      reject(new Error('timeout'));
    }, timeoutMs);
    s.on('message', (m) => {
      clearTimeout(t);
      s.close();
      resolve(m);
    });
    s.send(q, 53, server);
  });
}

function tcp(server: string, q: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const c = connect(53, server);
    let got = Buffer.alloc(0);
    c.on('connect', () =>
      c.write(Buffer.concat([Buffer.from([q.length >> 8, q.length & 255]), q])),
    );
    c.on('data', (d) => {
      got = Buffer.concat([got, d]);
      if (got.length >= 2 && got.length >= 2 + got.readUInt16BE(0)) {
        c.destroy();
        resolve(got.subarray(2));
      }
    });
    c.on('error', reject);
  });
}

async function one(
  server: string,
  name: string,
  type: packet.RecordType,
  proto: string,
  edns: number | undefined,
): Promise<void> {
  const q = packet.encode({
    type: 'query',
    id: 4242,
    flags: packet.RECURSION_DESIRED,
    questions: [{ type, name }],
    ...(edns !== undefined
      ? {
          additionals: [
            {
              type: 'OPT' as const,
              name: '.',
              udpPayloadSize: edns,
              extendedRcode: 0,
              ednsVersion: 0,
              flags: 0,
              flag_do: false,
              options: [],
            },
          ],
        }
      : {}),
  });
  const raw = proto === 'tcp' ? await tcp(server, q) : await udp(server, q, 4000);
  const r = packet.decode(raw);
  console.log(
    JSON.stringify({
      rcode: raw.readUInt16BE(2) & 0xf,
      tc: (raw.readUInt16BE(2) & 0x200) !== 0,
      id: r.id,
      size: raw.length,
      answers: (r.answers ?? []).map((a) => ({ type: a.type, data: dataOf(a) })),
    }),
  );
}

async function load(
  server: string,
  count: number,
  inflight: number,
  expect: Map<string, string>,
): Promise<void> {
  const names = [...expect.keys()];
  let sent = 0;
  let ok = 0;
  let wrong = 0;
  let lost = 0;
  const lat: number[] = [];
  const worker = async (): Promise<void> => {
    while (sent < count) {
      const i = sent++;
      const name = names[i % names.length]!;
      const q = packet.encode({
        type: 'query',
        id: i & 0xffff,
        flags: packet.RECURSION_DESIRED,
        questions: [{ type: 'A', name }],
      });
      const t0 = process.hrtime.bigint();
      try {
        const r = packet.decode(await udp(server, q, 2000));
        lat.push(Number(process.hrtime.bigint() - t0) / 1e6);
        const a = (r.answers ?? []).map(dataOf);
        if (r.id === (i & 0xffff) && a.length === 1 && a[0] === expect.get(name)) ok++;
        else wrong++;
      } catch {
        lost++;
      }
    }
  };
  const t0 = Date.now();
  await Promise.all(Array.from({ length: inflight }, worker));
  lat.sort((a, b) => a - b);
  console.log(
    JSON.stringify({
      ok,
      wrong,
      lost,
      ms: Date.now() - t0,
      p99: lat[Math.floor(lat.length * 0.99)] ?? null,
    }),
  );
}

const [server, a, ...rest] = process.argv.slice(2);
if (a === '--load') {
  const [count, inflight, ...pairs] = rest;
  void load(
    server!,
    Number(count),
    Number(inflight),
    new Map(pairs.map((p) => p.split('=') as [string, string])),
  );
} else {
  void one(
    server!,
    a!,
    (rest[0] ?? 'A') as packet.RecordType,
    rest[1] ?? 'udp',
    rest[2] !== undefined ? Number(rest[2]) : undefined,
  );
}
