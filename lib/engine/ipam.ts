/**
 * IP address management: subnets (with Docker's default pools), and address
 * arithmetic for allocation. Addresses are handled as bigints so IPv4 and
 * IPv6 share one code path.
 */
import { ValidationError } from '../errors';
import { formatIp, parseCidr, parseIp, type IpFamily } from '../util/ip';

export interface Subnet {
  family: IpFamily;
  /** network address */
  base: bigint;
  prefixlen: number;
  /** canonical text, e.g. 10.89.0.0/24 */
  text: string;
}

const bits = (family: IpFamily): number => (family === 4 ? 32 : 128);

export function toBig(bytes: Buffer): bigint {
  let v = 0n;
  for (const b of bytes) v = (v << 8n) | BigInt(b);
  return v;
}

export function fromBig(v: bigint, family: IpFamily): string {
  const len = family === 4 ? 4 : 16;
  const out = Buffer.alloc(len);
  for (let i = len - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return formatIp(out);
}

export function ipToBig(text: string, field: string): { family: IpFamily; value: bigint } {
  const ip = parseIp(text, field);
  return { family: ip.family, value: toBig(ip.bytes) };
}

/** Parses a subnet; host bits must be zero (10.89.0.0/24, not 10.89.0.1/24). */
export function parseSubnet(text: unknown, field: string, family?: IpFamily): Subnet {
  const c = parseCidr(text, field);
  if (family !== undefined && c.family !== family)
    throw new ValidationError(field, `must be an IPv${family} subnet`);
  const value = toBig(c.bytes);
  const size = 1n << BigInt(bits(c.family) - c.prefixlen);
  if (value % size !== 0n) {
    throw new ValidationError(
      field,
      `${String(text)} has host bits set (the subnet is ${fromBig(value - (value % size), c.family)}/${c.prefixlen})`,
    );
  }
  const minLen = c.family === 4 ? 30 : 126;
  if (c.prefixlen > minLen)
    throw new ValidationError(
      field,
      `${String(text)} is too small for a network (at most /${minLen})`,
    );
  return {
    family: c.family,
    base: value,
    prefixlen: c.prefixlen,
    text: `${fromBig(value, c.family)}/${c.prefixlen}`,
  };
}

export function subnetSize(s: Subnet): bigint {
  return 1n << BigInt(bits(s.family) - s.prefixlen);
}

export function contains(s: Subnet, value: bigint): boolean {
  return value >= s.base && value < s.base + subnetSize(s);
}

export function overlaps(a: Subnet, b: Subnet): boolean {
  if (a.family !== b.family) return false;
  return a.base < b.base + subnetSize(b) && b.base < a.base + subnetSize(a);
}

/** First and last assignable host (no network address; no IPv4 broadcast). */
export function hostRange(s: Subnet): { first: bigint; last: bigint } {
  const size = subnetSize(s);
  return { first: s.base + 1n, last: s.family === 4 ? s.base + size - 2n : s.base + size - 1n };
}

/**
 * Docker's default address pools: 172.17.0.0/16 .. 172.31.0.0/16, then
 * 192.168.0.0/16 cut into /20s.
 */
export function* defaultPools(): Generator<Subnet> {
  for (let i = 17; i <= 31; i++) yield parseSubnet(`172.${i}.0.0/16`, 'subnet');
  for (let i = 0; i < 256; i += 16) yield parseSubnet(`192.168.${i}.0/20`, 'subnet');
}

/** The first pool subnet that overlaps nothing in `taken`. */
export function pickSubnet(taken: Subnet[]): Subnet {
  for (const s of defaultPools()) {
    if (!taken.some((t) => overlaps(s, t))) return s;
  }
  throw new ValidationError('subnet', 'all default address pools are in use; give a subnet');
}

/** An IPv6 ULA /64 derived from the network id, for dual-stack networks without subnet6. */
export function ulaFor(id: string): Subnet {
  const h = id.replace(/[^0-9a-f]/g, '').padEnd(10, '0');
  return parseSubnet(`fd${h.slice(0, 2)}:${h.slice(2, 6)}:${h.slice(6, 10)}::/64`, 'subnet6');
}

/**
 * Candidates to try for a new address, starting just after `cursor` (the
 * last one handed out) and wrapping around, so a freshly released address is
 * the last to be reused (stale ARP caches elsewhere forget it meanwhile).
 */
export function* candidates(
  s: Subnet,
  cursor: bigint | undefined,
  skip: Set<bigint>,
): Generator<bigint> {
  const { first, last } = hostRange(s);
  const total = last - first + 1n;
  let start = cursor !== undefined && cursor >= first && cursor <= last ? cursor + 1n : first;
  if (start > last) start = first;
  // Bound the search: enormous IPv6 subnets never need a full scan.
  const limit = total < 1_000_000n ? total : 1_000_000n;
  for (let i = 0n; i < limit; i++) {
    let v = start + i;
    if (v > last) v -= total;
    if (!skip.has(v)) yield v;
  }
}
