/**
 * Port publishing specs (`-p`, `-P`) and host-port reservation.
 *
 *   8080:80            all host addresses, tcp
 *   127.0.0.1:8080:80  one host address
 *   127.0.0.1::80      one host address, a free host port
 *   80                 all host addresses, a free host port
 *   8000-8010:80-90    ranges of equal length
 *   8000-8010:80       one free host port from the range
 *   [fd00::1]:8080:80/udp  IPv6 host address, udp (not [::1]: see parsePublish)
 */
import { readFile } from 'node:fs/promises';

import { ConflictError, ValidationError } from '../errors';
import { parseIp } from '../util/ip';
import type { EndpointRecord, SandboxRecord } from './records';
import { heldAddresses, type StateStore } from './state';
import type { PortMapping } from './types';

export interface PortRequest {
  protocol: 'tcp' | 'udp';
  /** '' = every host address (IPv4 and, on dual-stack networks, IPv6) */
  hostIp: string;
  /** 0 = any free port; with hostPortEnd, any free port in the range */
  hostPort: number;
  hostPortEnd?: number;
  containerPort: number;
}

function port(text: string, field: string, allowZero = false): number {
  if (!/^\d{1,5}$/.test(text)) throw new ValidationError(field, `"${text}" is not a port number`);
  const n = Number(text);
  if (n > 65535 || (n === 0 && !allowZero))
    throw new ValidationError(field, `${n} is out of range (1-65535)`);
  return n;
}

function range(text: string, field: string): [number, number] {
  const [a, b, extra] = text.split('-');
  if (extra !== undefined || a === undefined)
    throw new ValidationError(field, `"${text}" is not a port or range`);
  const lo = port(a, field);
  const hi = b === undefined ? lo : port(b, field);
  if (hi < lo) throw new ValidationError(field, `range ${text} is reversed`);
  return [lo, hi];
}

/** Parses one `-p` spec into one request per container port. */
export function parsePublish(spec: unknown, field = 'publish'): PortRequest[] {
  if (typeof spec !== 'string' || spec.length === 0)
    throw new ValidationError(field, 'must be a port spec like 8080:80');
  let rest = spec;
  let protocol: 'tcp' | 'udp' = 'tcp';
  const slash = rest.lastIndexOf('/');
  if (slash >= 0) {
    const p = rest.slice(slash + 1).toLowerCase(); // Docker takes 80/TCP too
    if (p !== 'tcp' && p !== 'udp')
      throw new ValidationError(field, `"${spec}": protocol must be tcp or udp`);
    protocol = p;
    rest = rest.slice(0, slash);
  }
  let hostIp = '';
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']');
    if (close < 0 || rest[close + 1] !== ':')
      throw new ValidationError(field, `"${spec}": IPv6 host address must be [addr]:port`);
    hostIp = parseIp(rest.slice(1, close), field).text;
    rest = rest.slice(close + 2);
    // IPv6 has no route_localnet: a packet from ::1 may not leave lo, so a
    // DNAT of ::1 to a sandbox could never be answered (the firewall leaves
    // ::1 alone, as Docker does without its userland proxy).
    if (hostIp === '::1')
      throw new ValidationError(
        field,
        `"${spec}": [::1] cannot be published (IPv6 cannot forward loopback traffic to a sandbox); use 127.0.0.1`,
      );
  }
  const parts = rest.split(':');
  let hostPart: string;
  let ctrPart: string;
  if (parts.length === 1) {
    hostPart = '';
    ctrPart = parts[0]!;
  } else if (parts.length === 2) {
    hostPart = parts[0]!;
    ctrPart = parts[1]!;
  } else if (parts.length === 3 && hostIp === '') {
    hostIp = parseIp(parts[0], field).text;
    hostPart = parts[1]!;
    ctrPart = parts[2]!;
  } else {
    throw new ValidationError(field, `"${spec}" is not [hostIp:][hostPort:]containerPort[/proto]`);
  }
  if (hostIp === '0.0.0.0' || hostIp === '::') hostIp = hostIp === '::' ? '::' : '';
  const [c0, c1] = range(ctrPart, field);
  const count = c1 - c0 + 1;
  if (hostPart === '') {
    return Array.from({ length: count }, (_, i) => ({
      protocol,
      hostIp,
      hostPort: 0,
      containerPort: c0 + i,
    }));
  }
  const [h0, h1] = range(hostPart, field);
  if (h1 - h0 + 1 === count) {
    return Array.from({ length: count }, (_, i) => ({
      protocol,
      hostIp,
      hostPort: h0 + i,
      containerPort: c0 + i,
    }));
  }
  if (count === 1) return [{ protocol, hostIp, hostPort: h0, hostPortEnd: h1, containerPort: c0 }];
  throw new ValidationError(
    field,
    `"${spec}": host and container ranges must have the same length`,
  );
}

/** Parses `--expose` entries (`80`, `53/udp`, `8000-8002`) for -P. */
export function parseExpose(
  list: unknown[],
  field = 'expose',
): { protocol: 'tcp' | 'udp'; port: number }[] {
  const out: { protocol: 'tcp' | 'udp'; port: number }[] = [];
  list.forEach((e, i) => {
    const text = typeof e === 'number' ? String(e) : e;
    if (typeof text !== 'string')
      throw new ValidationError(`${field}[${i}]`, 'must be a port or port/proto');
    const [p, given = 'tcp'] = text.split('/');
    const proto = given.toLowerCase();
    if (proto !== 'tcp' && proto !== 'udp')
      throw new ValidationError(`${field}[${i}]`, 'protocol must be tcp or udp');
    const [lo, hi] = range(p ?? '', `${field}[${i}]`);
    for (let v = lo; v <= hi; v++) out.push({ protocol: proto, port: v });
  });
  return out;
}

async function readRange(): Promise<[number, number]> {
  const text = await readFile('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').catch(
    () => '32768 60999',
  );
  const [a, b] = text.trim().split(/\s+/).map(Number);
  return [a ?? 32768, b ?? 60999];
}

async function readReserved(): Promise<Set<number>> {
  const text = await readFile('/proc/sys/net/ipv4/ip_local_reserved_ports', 'utf8').catch(() => '');
  const out = new Set<number>();
  for (const part of text.trim().split(',')) {
    if (part === '') continue;
    const [a, b] = part.split('-').map(Number);
    for (let p = a!; p <= (b ?? a!); p++) out.add(p);
  }
  return out;
}

export async function hostPortsInUse(protocol: 'tcp' | 'udp'): Promise<Set<number>> {
  const out = new Set<number>();
  for (const file of [`/proc/net/${protocol}`, `/proc/net/${protocol}6`]) {
    const text = await readFile(file, 'utf8').catch(() => '');
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 4) continue;
      const st = cols[3];
      // TCP_LISTEN = 0A; for UDP a bound socket shows state 07 (CLOSE).
      if ((protocol === 'tcp' && st === '0A') || (protocol === 'udp' && st === '07')) {
        out.add(parseInt(cols[1]!.split(':')[1]!, 16));
      }
    }
  }
  return out;
}

/**
 * Reserves the host ports of `requests` for a sandbox: fixed ones must be
 * free (not published by another sandbox, no host process on them); free
 * ones come from ip_local_port_range, skipping ip_local_reserved_ports.
 * On failure nothing stays reserved.
 */
/**
 * Asks the host namespace whether ports are in use by a process (see the
 * addon's probePorts: one bind each). Returns, per port, whether it is taken.
 */
export type PortProbe = (
  ports: { protocol: 'tcp' | 'udp'; hostIp: string; hostPort: number }[],
) => Promise<boolean[]>;

export async function reservePorts(
  state: StateStore,
  rec: SandboxRecord,
  requests: PortRequest[],
  probe: PortProbe,
  dualStack = false,
): Promise<PortMapping[]> {
  const done: PortMapping[] = [];
  try {
    let dynamic: { lo: number; hi: number; reserved: Set<number> } | undefined;
    // Fixed ports, all probed in one go.
    const fixed = requests.filter((r) => r.hostPort !== 0 && r.hostPortEnd === undefined);
    const fixedTaken = new Map<PortRequest, boolean>();
    (await probe(fixed)).forEach((taken, i) => fixedTaken.set(fixed[i]!, taken));
    for (const r of requests) {
      const mapping = (hostPort: number): PortMapping => ({
        protocol: r.protocol,
        hostIp: r.hostIp === '' ? '0.0.0.0' : r.hostIp,
        hostPort,
        containerPort: r.containerPort,
      });
      let candidates: Iterable<number>;
      if (r.hostPort !== 0 && r.hostPortEnd === undefined) {
        candidates = [r.hostPort];
      } else if (r.hostPortEnd !== undefined) {
        candidates = Array.from(
          { length: r.hostPortEnd - r.hostPort + 1 },
          (_, i) => r.hostPort + i,
        );
      } else {
        if (!dynamic) {
          const [lo, hi] = await readRange();
          dynamic = { lo, hi, reserved: await readReserved() };
        }
        const d = dynamic;
        // Start at a random point so concurrent engines rarely collide.
        const span = d.hi - d.lo + 1;
        const start = Math.floor(Math.random() * span);
        candidates = (function* () {
          for (let i = 0; i < span; i++) {
            const p = d.lo + ((start + i) % span);
            if (!d.reserved.has(p)) yield p;
          }
        })();
      }
      let got: PortMapping | undefined;
      let holder: string | undefined;
      for (const p of candidates) {
        const taken =
          fixedTaken.get(r) ??
          (await probe([{ protocol: r.protocol, hostIp: r.hostIp, hostPort: p }]))[0];
        if (taken) {
          holder = holder ?? 'a host process';
          continue;
        }
        const m = mapping(p);
        const conflict = await reserveHeld(state, m, rec.name, dualStack);
        if (conflict === undefined) {
          got = m;
          break;
        }
        holder = holder ?? `sandbox "${conflict}"`;
      }
      if (!got) {
        const what =
          r.hostPort === 0
            ? `a free ${r.protocol} port`
            : `${hostAddr(r.hostIp || '0.0.0.0')}:${r.hostPort}${r.hostPortEnd ? `-${r.hostPortEnd}` : ''}/${r.protocol}`;
        throw new ConflictError(
          'publish',
          `cannot publish ${what}: it is in use by ${holder ?? 'others'}`,
        );
      }
      done.push(got);
    }
    return done;
  } catch (err) {
    for (const m of done) await state.releasePort(m.protocol, m.hostPort, m.hostIp, dualStack);
    throw err;
  }
}

/**
 * Takes protocol/port/address for `owner`; returns the holder's name when
 * taken. The wildcard 0.0.0.0 (or ::) conflicts with every address of its
 * family on that port, and the other way round.
 */
async function reserveOne(
  state: StateStore,
  m: PortMapping,
  owner: string,
): Promise<string | undefined> {
  const { made, others } = await state.reservePort(m.protocol, m.hostPort, m.hostIp, owner);
  const holderOf = async (ip: string): Promise<string> =>
    (await state.portHolders(m.protocol, m.hostPort)).get(ip) ?? '?';
  if (!made) return holderOf(m.hostIp);
  const v6 = m.hostIp.includes(':');
  const wildcard = v6 ? '::' : '0.0.0.0';
  for (const ip of others) {
    if (ip.includes(':') !== v6) continue;
    if (ip === wildcard || m.hostIp === wildcard) {
      await state.releasePort(m.protocol, m.hostPort, m.hostIp);
      return holderOf(ip);
    }
  }
  return undefined;
}

/** An address as it goes before :PORT ([::1] for IPv6). */
function hostAddr(ip: string): string {
  return ip.includes(':') ? `[${ip}]` : ip;
}

/** reserveOne for each address the publication holds (see heldAddresses); all or none. */
async function reserveHeld(
  state: StateStore,
  m: PortMapping,
  owner: string,
  dualStack: boolean,
): Promise<string | undefined> {
  const made: string[] = [];
  for (const ip of heldAddresses(m.hostIp, dualStack)) {
    const conflict = await reserveOne(state, { ...m, hostIp: ip }, owner);
    if (conflict !== undefined) {
      for (const got of made) await state.releasePort(m.protocol, m.hostPort, got);
      return conflict;
    }
    made.push(ip);
  }
  return undefined;
}

export async function releasePorts(state: StateStore, ep: EndpointRecord): Promise<void> {
  for (const m of ep.ports)
    await state.releasePort(m.protocol, m.hostPort, m.hostIp, ep.ip6 !== undefined);
}
