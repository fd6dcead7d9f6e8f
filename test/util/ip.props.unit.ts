/**
 * Properties of address parsing and formatting (lib/util/ip.ts), checked
 * against independent oracles: node:net's isIP and the WHATWG URL parser's
 * IPv6 serializer (RFC 5952 form), and bigint arithmetic for prefixes.
 */
import assert from 'node:assert/strict';
import { isIP } from 'node:net';

import fc from 'fast-check';

import {
  broadcastOf,
  formatIp,
  formatMac,
  macFromIpv4,
  networkOf,
  parseCidr,
  parseIp,
  parseMac,
} from '../../lib/util/ip';
import { nasty, refused, runs } from '../props';

/** The WHATWG URL parser's canonical text of an IPv6 address. */
function urlCanonical(v6: string): string {
  return new URL(`http://[${v6}]/`).hostname.slice(1, -1);
}

const bytes4 = fc.uint8Array({ minLength: 4, maxLength: 4 }).map((a) => Buffer.from(a));
// Runs of zero groups make the '::' cases likely.
const group = fc.oneof(fc.constant(0), fc.constant(0), fc.integer({ min: 0, max: 0xffff }));
const bytes16 = fc.array(group, { minLength: 8, maxLength: 8 }).map((gs) => {
  const b = Buffer.alloc(16);
  gs.forEach((g, i) => b.writeUInt16BE(g, i * 2));
  return b;
});

function toBig(b: Buffer): bigint {
  return b.reduce((v, x) => (v << 8n) | BigInt(x), 0n);
}

describe('properties: IP addresses, CIDRs, MACs (lib/util/ip)', () => {
  it('IPv4: format then parse gives the same bytes and text', () => {
    fc.assert(
      fc.property(bytes4, (b) => {
        const text = formatIp(b);
        const p = parseIp(text, 'ip');
        assert.equal(p.family, 4);
        assert.deepEqual(p.bytes, b);
        assert.equal(p.text, text);
        assert.equal(isIP(text), 4);
      }),
      runs(500),
    );
  });

  it('IPv6: the text is RFC 5952 (as the URL parser writes it) and parses back to the same bytes', () => {
    fc.assert(
      fc.property(bytes16, (b) => {
        const full = [...Array(8).keys()].map((i) => b.readUInt16BE(i * 2).toString(16)).join(':');
        const p = parseIp(full, 'ip');
        assert.equal(p.family, 6);
        assert.deepEqual(p.bytes, b);
        assert.equal(p.text, urlCanonical(full));
        assert.equal(formatIp(b), p.text);
        assert.deepEqual(parseIp(p.text, 'ip').bytes, b);
      }),
      runs(500),
    );
  });

  it('IPv6 written any valid way (fc.ipV6) reads as the URL parser reads it', () => {
    fc.assert(
      fc.property(fc.ipV6(), (text) => {
        const p = parseIp(text, 'ip');
        assert.equal(p.text, urlCanonical(text));
        assert.equal(parseIp(p.text, 'ip').text, p.text);
      }),
      runs(300),
    );
  });

  it('any string: an address exactly when node:net says so (zone ids refused), else a ValidationError', () => {
    const candidates = fc.oneof(
      nasty,
      fc.ipV4(),
      fc.ipV4Extended(),
      fc.ipV6(),
      fc.ipV6().map((s) => `${s}%eth0`),
      fc.stringMatching(/^[0-9a-fA-F:.]{1,45}$/),
      // dotted quads, good and bad: leading zeros, 256, short and long ones
      fc.stringMatching(/^[0-9.]{1,17}$/),
      fc.array(fc.nat(300).map(String), { minLength: 3, maxLength: 5 }).map((p) => p.join('.')),
    );
    fc.assert(
      fc.property(candidates, (text) => {
        const want = isIP(text) !== 0 && !text.includes('%');
        if (want) {
          assert.equal(parseIp(text, 'f').family, isIP(text));
        } else {
          refused(() => parseIp(text, 'f'), 'f');
        }
      }),
      runs(1000),
    );
  });

  it('values that are not strings are refused, naming the field', () => {
    fc.assert(
      fc.property(
        fc.anything().filter((v) => typeof v !== 'string'),
        (v) => {
          refused(() => parseIp(v, 'gateway'), 'gateway');
          refused(() => parseCidr(v, 'subnet'), 'subnet');
          refused(() => parseMac(v, 'mac'), 'mac');
        },
      ),
      runs(200),
    );
  });

  it('CIDR: any prefix length in range parses; anything else after "/" is refused', () => {
    const suffix = fc.oneof(
      fc.integer({ min: 0, max: 128 }).map(String),
      fc.integer({ min: -5, max: 1000 }).map(String),
      fc.constantFrom('', ' 24', '24 ', '+24', '2.4', '0x18', '1e1', '24/24', '٢٤'),
      fc.string({ maxLength: 5 }),
    );
    fc.assert(
      fc.property(fc.oneof(fc.ipV4(), fc.ipV6()), suffix, (addr, len) => {
        const max = isIP(addr) === 4 ? 32 : 128;
        const ok = /^\d{1,3}$/.test(len) && Number(len) <= max;
        const text = `${addr}/${len}`;
        if (ok) {
          const c = parseCidr(text, 'subnet');
          assert.equal(c.prefixlen, Number(len));
          assert.deepEqual(c.bytes, parseIp(addr, 'x').bytes);
          // format(parse(x)) is stable
          const again = parseCidr(`${c.text}/${c.prefixlen}`, 'subnet');
          assert.equal(again.text, c.text);
        } else {
          refused(() => parseCidr(text, 'subnet'), 'subnet');
        }
      }),
      runs(1000),
    );
  });

  it('CIDR without a prefix: refused unless a bare address is allowed (then a host prefix)', () => {
    fc.assert(
      fc.property(fc.oneof(fc.ipV4(), fc.ipV6()), (addr) => {
        refused(() => parseCidr(addr, 'dst'), 'dst');
        assert.equal(parseCidr(addr, 'dst', true).prefixlen, isIP(addr) === 4 ? 32 : 128);
      }),
      runs(200),
    );
  });

  it('network and broadcast addresses agree with bigint arithmetic', () => {
    const addr = fc.oneof(
      bytes4.chain((b) => fc.tuple(fc.constant(b), fc.integer({ min: 0, max: 32 }))),
      bytes16.chain((b) => fc.tuple(fc.constant(b), fc.integer({ min: 0, max: 128 }))),
    );
    fc.assert(
      fc.property(addr, ([b, len]) => {
        const bits = BigInt(b.length * 8);
        const hostMask = (1n << (bits - BigInt(len))) - 1n;
        const v = toBig(b);
        assert.equal(toBig(networkOf(b, len)), v & ~hostMask);
        assert.equal(toBig(broadcastOf(b, len)), v | hostMask);
        assert.deepEqual(networkOf(networkOf(b, len), len), networkOf(b, len));
      }),
      runs(500),
    );
  });

  it('MAC: format then parse is the identity; upper case and "-" are read too', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 6, maxLength: 6 }), (a) => {
        const b = Buffer.from(a);
        const text = formatMac(b);
        assert.match(text, /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
        assert.deepEqual(parseMac(text, 'mac'), b);
        assert.deepEqual(parseMac(text.toUpperCase().replace(/:/g, '-'), 'mac'), b);
      }),
      runs(300),
    );
  });

  it('MAC: any other string is refused, naming the field', () => {
    fc.assert(
      fc.property(fc.oneof(nasty, fc.stringMatching(/^[0-9a-fA-F:-]{0,20}$/)), (text) => {
        if (/^[0-9a-fA-F]{2}([:-][0-9a-fA-F]{2}){5}$/.test(text)) parseMac(text, 'mac');
        else refused(() => parseMac(text, 'peer.mac'), 'peer.mac');
      }),
      runs(500),
    );
  });

  it("a container's MAC is 02:42 and its IPv4 address", () => {
    fc.assert(
      fc.property(bytes4, (b) => {
        const mac = parseMac(macFromIpv4(b), 'mac');
        assert.deepEqual([...mac.subarray(0, 2)], [0x02, 0x42]);
        assert.deepEqual(mac.subarray(2), b);
      }),
      runs(100),
    );
  });
});
