/**
 * Properties of `-p` / `--expose` parsing (lib/engine/ports.ts): every spec
 * written from a model parses to what the model says; any other input is
 * either a well-formed request list or a ValidationError naming the field.
 */
import assert from 'node:assert/strict';
import { isIP } from 'node:net';

import fc from 'fast-check';

import { parseExpose, parsePublish, type PortRequest } from '../../lib/engine/ports';
import { parseIp } from '../../lib/util/ip';
import { nasty, refused, runs } from '../props';

interface Model {
  ip?: string;
  host?: [number, number];
  ctr: [number, number];
  proto?: 'tcp' | 'udp';
}

const port = fc.integer({ min: 1, max: 65535 });
const range = (max = 64): fc.Arbitrary<[number, number]> =>
  fc.oneof(
    port.map((p): [number, number] => [p, p]),
    fc
      .tuple(fc.integer({ min: 1, max: 65535 - max }), fc.integer({ min: 0, max: max }))
      .map(([lo, n]): [number, number] => [lo, lo + n]),
  );

const model: fc.Arbitrary<Model> = fc
  .record(
    {
      // not ::1, refused (see ports.unit.ts)
      ip: fc
        .oneof(fc.ipV4(), fc.ipV6(), fc.constantFrom('0.0.0.0', '::', '127.0.0.1', 'fd00::1'))
        .filter((ip) => parseIp(ip, 'ip').text !== '::1'),
      host: range(),
      ctr: range(),
      proto: fc.constantFrom('tcp' as const, 'udp' as const),
    },
    { requiredKeys: ['ctr'] },
  )
  .map((m) => {
    // Host and container ranges of different lengths only with one container port.
    if (m.host && m.host[1] - m.host[0] !== m.ctr[1] - m.ctr[0]) m.ctr = [m.ctr[0], m.ctr[0]];
    return m;
  });

const text = ([lo, hi]: [number, number]): string => (lo === hi ? `${lo}` : `${lo}-${hi}`);

function render(m: Model): string {
  let s = '';
  if (m.ip !== undefined) s += isIP(m.ip) === 6 ? `[${m.ip}]:` : `${m.ip}:`;
  if (m.host) s += `${text(m.host)}:`;
  else if (m.ip !== undefined) s += ':';
  s += text(m.ctr);
  if (m.proto) s += `/${m.proto}`;
  return s;
}

function expected(m: Model): PortRequest[] {
  const protocol = m.proto ?? 'tcp';
  let hostIp = m.ip === undefined ? '' : parseIp(m.ip, 'x').text;
  if (hostIp === '0.0.0.0') hostIp = '';
  const n = m.ctr[1] - m.ctr[0] + 1;
  if (!m.host) {
    return Array.from({ length: n }, (_, i) => ({
      protocol,
      hostIp,
      hostPort: 0,
      containerPort: m.ctr[0] + i,
    }));
  }
  if (m.host[1] - m.host[0] + 1 === n) {
    return Array.from({ length: n }, (_, i) => ({
      protocol,
      hostIp,
      hostPort: m.host![0] + i,
      containerPort: m.ctr[0] + i,
    }));
  }
  return [
    { protocol, hostIp, hostPort: m.host[0], hostPortEnd: m.host[1], containerPort: m.ctr[0] },
  ];
}

function wellFormed(r: PortRequest): void {
  assert.ok(r.protocol === 'tcp' || r.protocol === 'udp');
  assert.ok(Number.isInteger(r.containerPort) && r.containerPort >= 1 && r.containerPort <= 65535);
  assert.ok(Number.isInteger(r.hostPort) && r.hostPort >= 0 && r.hostPort <= 65535);
  if (r.hostPortEnd !== undefined) {
    assert.ok(r.hostPort >= 1 && r.hostPortEnd > r.hostPort && r.hostPortEnd <= 65535);
  }
  assert.ok(r.hostIp === '' || isIP(r.hostIp) !== 0, r.hostIp);
}

describe('properties: port specs (-p, --expose)', () => {
  it('every spec written from a model parses to the requests the model describes', () => {
    fc.assert(
      fc.property(model, (m) => {
        const spec = render(m);
        assert.deepEqual(parsePublish(spec, 'publish[0]'), expected(m), spec);
      }),
      runs(1000),
    );
  });

  it('parsing is stable: a parsed spec written back parses to the same requests', () => {
    fc.assert(
      fc.property(model, (m) => {
        const first = parsePublish(render(m));
        const back = render({
          ...(first[0]!.hostIp !== '' ? { ip: first[0]!.hostIp } : {}),
          ...(first[0]!.hostPort !== 0
            ? {
                host: [first[0]!.hostPort, first[0]!.hostPortEnd ?? first.at(-1)!.hostPort] as [
                  number,
                  number,
                ],
              }
            : {}),
          ctr: [first[0]!.containerPort, first.at(-1)!.containerPort],
          proto: first[0]!.protocol,
        });
        assert.deepEqual(parsePublish(back), first);
      }),
      runs(300),
    );
  });

  it('any other input: well-formed requests or a ValidationError naming the field', () => {
    const mangled = fc.oneof(
      nasty,
      model.map(render),
      fc
        .tuple(model.map(render), fc.nat(), fc.string({ maxLength: 3 }))
        .map(
          ([s, at, ins]) => s.slice(0, at % (s.length + 1)) + ins + s.slice(at % (s.length + 1)),
        ),
      fc.stringMatching(/^[0-9a-f:.[\]/tcpud-]{0,24}$/),
      fc.constantFrom('0:80', '80:0', '65536:80', '1-65535:1-65534', '[::1]80', '::80', ':80'),
    );
    fc.assert(
      fc.property(mangled, (spec) => {
        let out: PortRequest[] | undefined;
        try {
          out = parsePublish(spec, 'publish[3]');
        } catch {
          refused(() => parsePublish(spec, 'publish[3]'), 'publish[3]');
          return;
        }
        assert.ok(out.length >= 1);
        out.forEach(wellFormed);
      }),
      runs(2000),
    );
  });

  it('values that are not strings are refused, naming the field', () => {
    fc.assert(
      fc.property(
        fc.anything().filter((v) => typeof v !== 'string'),
        (v) => {
          refused(() => parsePublish(v, 'publish[1]'), 'publish[1]');
        },
      ),
      runs(200),
    );
  });

  it('--expose: ports and ranges with a protocol, or a ValidationError naming the entry', () => {
    const entry = fc.oneof(
      port,
      range().map(text),
      fc.tuple(range().map(text), fc.constantFrom('tcp', 'udp')).map(([r, p]) => `${r}/${p}`),
      nasty,
      fc.anything(),
    );
    fc.assert(
      fc.property(fc.array(entry, { maxLength: 4 }), (list) => {
        let out: { protocol: string; port: number }[];
        try {
          out = parseExpose(list, 'expose');
        } catch {
          refused(() => parseExpose(list, 'expose'), /^expose\[\d+\]$/);
          return;
        }
        for (const e of out) {
          assert.ok(e.protocol === 'tcp' || e.protocol === 'udp');
          assert.ok(Number.isInteger(e.port) && e.port >= 1 && e.port <= 65535);
        }
      }),
      runs(500),
    );
  });
});
