/**
 * Addresses: `ip addr add|del|show`.
 */
import { K, native, type AddrWire } from '../binding';
import type { Request } from '../channel';
import { ValidationError } from '../errors';
import { broadcastOf, parseCidr, parseIp } from '../util/ip';
import {
  REQ_ACK,
  REQ_CREATE,
  REQ_DUMP,
  opName,
  validateBool,
  validateLinkRef,
  validateUint,
  type LinkRef,
  type RawAttr,
  type RtnlContext,
} from './common';

/** An address as the kernel reports it (`ip -j addr show`). */
export interface Address {
  /** IP version */
  family: 4 | 6;
  /** ifindex of the link it is on */
  index: number;
  /** the address, without prefix (IFA_LOCAL, or IFA_ADDRESS) */
  address: string;
  /** prefix length */
  prefixlen: number;
  /** `address/prefixlen` */
  cidr: string;
  /** the other end of a point-to-point address */
  peer?: string;
  /** IPv4 broadcast address (`brd`) */
  broadcast?: string;
  /** IPv4 label (`label eth0:1`) */
  label?: string;
  /** RT_SCOPE_* */
  scope: number;
  /** IFA_F_* */
  flags: number;
  /** seconds the address stays valid; absent or 0xffffffff: forever (`valid_lft`) */
  validLft?: number;
  /** seconds the address stays preferred (`preferred_lft`) */
  preferredLft?: number;
  /** attributes netplumb does not decode, raw */
  unknown?: RawAttr[];
}

/** Options of {@link Addrs.add}, after `ip addr add CIDR dev DEV`. */
export interface AddressOptions {
  /** IPv4 broadcast: an address, true for the subnet's (`brd +`, the default), false for none */
  broadcast?: string | boolean;
  /** IPv4 label, the interface name or `NAME:suffix` (`label`) */
  label?: string;
  /** point-to-point peer address */
  peer?: string;
  /** IPv6: skip duplicate address detection (`nodad`) */
  noDad?: boolean;
  /** do not add the prefix route (`noprefixroute`) */
  noPrefixRoute?: boolean;
  /** RT_SCOPE_* number (`scope`); the kernel's default is global */
  scope?: number;
  /** lifetimes in seconds (`valid_lft`, `preferred_lft`) */
  validLft?: number;
  /** seconds the address stays preferred (`preferred_lft`) */
  preferredLft?: number;
  /** replace an existing address instead of failing with EEXIST (`ip addr replace`) */
  replace?: boolean;
}

/** Which addresses {@link Addrs.list} returns (`ip addr show [dev DEV]`, `ip -4|-6 addr`). */
export interface AddressFilter {
  /** only addresses on this link */
  link?: LinkRef;
  /** only IPv4 or only IPv6 */
  family?: 4 | 6;
}

/** Addresses of one namespace: `ip addr`. Reached as {@link Rtnl.addrs}. */
export class Addrs {
  /** @internal */
  constructor(private readonly ctx: RtnlContext) {}

  /** @internal validated request for `add`, given the link's ifindex */
  wire(index: number, cidr: string, opts: AddressOptions = {}): AddrWire {
    const c = parseCidr(cidr, 'address');
    const wire: AddrWire = {
      flags:
        opts.replace === true
          ? K.NLM_F_REQUEST | K.NLM_F_ACK | K.NLM_F_CREATE | K.NLM_F_REPLACE
          : REQ_CREATE(),
      family: c.family === 4 ? K.AF_INET : K.AF_INET6,
      prefixlen: c.prefixlen,
      index,
      local: c.bytes,
      address: c.bytes,
    };
    if (opts.peer !== undefined) {
      const peer = parseIp(opts.peer, 'peer');
      if (peer.family !== c.family)
        throw new ValidationError('peer', 'must be of the same family as the address');
      wire.address = peer.bytes;
    }
    const brd = opts.broadcast ?? true;
    if (
      c.family === 4 &&
      brd !== false &&
      !(brd === true && (c.prefixlen >= 31 || opts.peer !== undefined))
    ) {
      if (brd === true) {
        wire.broadcast = broadcastOf(c.bytes, c.prefixlen);
      } else {
        const b = parseIp(brd, 'broadcast');
        if (b.family !== 4) throw new ValidationError('broadcast', 'must be an IPv4 address');
        wire.broadcast = b.bytes;
      }
    }
    let flags = 0;
    if (opts.noDad !== undefined && validateBool(opts.noDad, 'noDad')) flags |= K.IFA_F_NODAD;
    if (opts.noPrefixRoute !== undefined && validateBool(opts.noPrefixRoute, 'noPrefixRoute'))
      flags |= K.IFA_F_NOPREFIXROUTE;
    if (flags) wire.ifaFlags = flags;
    if (opts.label !== undefined) {
      if (typeof opts.label !== 'string' || Buffer.byteLength(opts.label) > 15) {
        throw new ValidationError('label', 'must be a string of at most 15 bytes');
      }
      wire.label = opts.label;
    }
    if (opts.scope !== undefined) wire.scope = validateUint(opts.scope, 'scope', 0, 255);
    if (opts.validLft !== undefined)
      wire.validLft = validateUint(opts.validLft, 'validLft', 0, 0xffffffff);
    if (opts.preferredLft !== undefined)
      wire.preferredLft = validateUint(opts.preferredLft, 'preferredLft', 0, 0xffffffff);
    return wire;
  }

  /**
   * Adds an address. Equivalent to `ip addr add CIDR [brd +] dev LINK`
   * (IPv4 gets the subnet's broadcast address unless `broadcast: false`).
   */
  async add(link: LinkRef, cidr: string, opts: AddressOptions = {}): Promise<void> {
    await this.ctx.channel.send([await this.addRequest(link, cidr, opts)]);
  }

  /** @internal the encoded request of `add` (also queued by RtnlBatch) */
  async addRequest(link: LinkRef, cidr: string, opts: AddressOptions = {}): Promise<Request> {
    validateLinkRef(link, 'link');
    parseCidr(cidr, 'address');
    const index = await this.ctx.index(link, 'link');
    const wire = this.wire(index, cidr, opts);
    return {
      buf: native.encode('newaddr', wire),
      op: opName('RTM_NEWADDR', `${cidr} dev ${link}`),
    };
  }

  /** Removes an address. Equivalent to `ip addr del CIDR dev LINK`. */
  async del(link: LinkRef, cidr: string): Promise<void> {
    validateLinkRef(link, 'link');
    parseCidr(cidr, 'address');
    const wire = this.delWire(await this.ctx.index(link, 'link'), cidr);
    await this.ctx.channel.send([
      { buf: native.encode('deladdr', wire), op: opName('RTM_DELADDR', `${cidr} dev ${link}`) },
    ]);
  }

  /** @internal validated request for `del`, given the link's ifindex */
  delWire(index: number, cidr: string): AddrWire {
    const c = parseCidr(cidr, 'address');
    return {
      flags: REQ_ACK(),
      family: c.family === 4 ? K.AF_INET : K.AF_INET6,
      prefixlen: c.prefixlen,
      index,
      local: c.bytes,
      address: c.bytes,
    };
  }

  /** Addresses, optionally of one link or family. Equivalent to `ip [-4|-6] addr show [dev LINK]`. */
  async list(filter: AddressFilter = {}): Promise<Address[]> {
    let family = K.AF_UNSPEC;
    if (filter.family !== undefined) {
      if (filter.family !== 4 && filter.family !== 6)
        throw new ValidationError('family', 'must be 4 or 6');
      family = filter.family === 4 ? K.AF_INET : K.AF_INET6;
    }
    const wire: AddrWire = { flags: REQ_DUMP(), family };
    // The kernel filters by ifa_index itself (strict checking is on).
    if (filter.link !== undefined)
      wire.index = await this.ctx.index(validateLinkRef(filter.link, 'link'), 'link');
    const msgs = await this.ctx.channel.dumpAll({
      buf: native.encode('getaddr', wire),
      op: 'RTM_GETADDR dump',
    });
    return msgs.map((m) => m.object as Address);
  }
}
