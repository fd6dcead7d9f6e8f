/**
 * The query logic of the embedded resolver, independent of sockets: answers
 * A, AAAA and PTR for the names of the networks the asking sandbox is on
 * (known by its source address), forwards everything else upstream, and
 * never forwards for internal networks.
 */
import * as packet from 'dns-packet';

import { forward } from './forwarder';
import { reverseName, type DnsView } from './view';

const TTL = 1;
const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;
const MAX_NAME = 253;
/** Forwarded queries in flight at once; past it, SERVFAIL at once (no fd exhaustion under a flood). */
const MAX_FORWARDS = 256;
let forwarding = 0;

/** A response carrying only an rcode, built from the raw header so even an undecodable query gets one. */
function bare(query: Buffer, rcode: number, questions: packet.Question[] = []): Buffer {
  const id = query.readUInt16BE(0);
  const rd = query.readUInt16BE(2) & packet.RECURSION_DESIRED;
  return packet.encode({
    type: 'response',
    id,
    flags: rd | packet.RECURSION_AVAILABLE | rcode,
    questions,
  });
}

/** What a client over UDP takes without EDNS (RFC 1035 4.2.1). */
const UDP_CLASSIC = 512;
const MAX_MESSAGE = 65_535;

/**
 * The largest answer the client takes: over TCP a whole message; over UDP
 * 512 bytes, or the payload size of its EDNS OPT record (never less than 512).
 */
export function answerLimit(q: packet.DecodedPacket, overTcp: boolean): number {
  if (overTcp) return MAX_MESSAGE;
  const opt = (q.additionals ?? []).find((a): a is packet.OptAnswer => a.type === 'OPT');
  const size = opt?.udpPayloadSize ?? UDP_CLASSIC;
  return Math.min(MAX_MESSAGE, Math.max(UDP_CLASSIC, size));
}

/**
 * `full` if it fits in `limit` bytes; else the header and question alone,
 * with TC set (as Docker's and CoreDNS's resolvers do: no partial answer),
 * so the client asks again over TCP.
 */
function fit(
  full: Buffer,
  limit: number,
  id: number,
  flags: number,
  questions: packet.Question[],
): Buffer {
  if (full.length <= limit) return full;
  return packet.encode({
    type: 'response',
    id,
    flags: flags | packet.TRUNCATED_RESPONSE,
    questions,
  });
}

export interface ResolverContext {
  view(): DnsView;
  upstreams(): Promise<string[]>;
}

/**
 * Answers one query that arrived on `network`'s resolver from `source`.
 * Returns undefined for packets that deserve no answer (responses, runts).
 */
export async function answer(
  ctx: ResolverContext,
  network: string,
  source: string,
  query: Buffer,
  overTcp: boolean,
): Promise<Buffer | undefined> {
  if (query.length < 12) return undefined;
  if ((query.readUInt16BE(2) & 0x8000) !== 0) return undefined; // a response: drop
  let q: packet.DecodedPacket;
  try {
    q = packet.decode(query);
  } catch {
    return bare(query, RCODE.FORMERR);
  }
  if (((query.readUInt16BE(2) >> 11) & 0xf) !== 0) return bare(query, RCODE.NOTIMP); // opcode != QUERY
  const questions = q.questions ?? [];
  if (questions.length !== 1) return bare(query, RCODE.FORMERR);
  const question = questions[0]!;
  const name = question.name.toLowerCase().replace(/\.$/, '');
  if (name.length > MAX_NAME) return bare(query, RCODE.FORMERR, questions);

  const limit = answerLimit(q, overTcp);
  const flags =
    packet.AUTHORITATIVE_ANSWER |
    packet.RECURSION_AVAILABLE |
    (q.flag_rd ? packet.RECURSION_DESIRED : 0);

  const view = ctx.view();
  const here = view.networks.get(network);
  if (!here) return bare(query, RCODE.REFUSED, questions);
  const asker = here.members.get(source);
  const scope = asker
    ? [...(view.memberships.get(asker) ?? [])].map((n) => view.networks.get(n)!).filter(Boolean)
    : [];

  if ((question.class ?? 'IN') === 'IN') {
    // Names: NAME and NAME.NETWORK, on the networks the asker is on.
    for (const nv of scope) {
      const local = name.endsWith(`.${nv.name.toLowerCase()}`)
        ? name.slice(0, -(nv.name.length + 1))
        : name;
      const entry = nv.names.get(local);
      if (!entry) continue;
      const answers: packet.Answer[] = [];
      const want = question.type;
      if (want === 'A' || (want as string) === 'ANY')
        for (const a of entry.v4)
          answers.push({ type: 'A', name: question.name, ttl: TTL, data: a });
      if (want === 'AAAA' || (want as string) === 'ANY')
        for (const a of entry.v6)
          answers.push({ type: 'AAAA', name: question.name, ttl: TTL, data: a });
      // Other types of a known name: no data, but the name exists.
      const full = packet.encode({ type: 'response', id: q.id ?? 0, flags, questions, answers });
      return fit(full, limit, q.id ?? 0, flags, questions);
    }
    const ip = question.type === 'PTR' ? reverseName(name) : undefined;
    if (ip) {
      for (const nv of scope) {
        const target = nv.ptr.get(ip);
        if (target) {
          const full = packet.encode({
            type: 'response',
            id: q.id ?? 0,
            flags,
            questions,
            answers: [{ type: 'PTR', name: question.name, ttl: TTL, data: target }],
          });
          return fit(full, limit, q.id ?? 0, flags, questions);
        }
      }
    }
  }
  // Not ours. Only sandboxes of the network are served; internal networks
  // see nothing outside; others ask upstream.
  if (!asker) return bare(query, RCODE.REFUSED, questions);
  if (here.internal) return bare(query, RCODE.NXDOMAIN, questions);
  if (forwarding >= MAX_FORWARDS) return bare(query, RCODE.SERVFAIL, questions);
  forwarding++;
  try {
    const reply = await forward(await ctx.upstreams(), query, overTcp);
    // More than the client takes (the forwarder got it whole over TCP):
    // "truncated", so it asks again over TCP.
    return fit(
      reply,
      limit,
      q.id ?? 0,
      packet.RECURSION_AVAILABLE | (q.flag_rd ? packet.RECURSION_DESIRED : 0),
      questions,
    );
  } catch {
    return bare(query, RCODE.SERVFAIL, questions);
  } finally {
    forwarding--;
  }
}
