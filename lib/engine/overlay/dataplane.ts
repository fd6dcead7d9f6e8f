/**
 * The kernel side of an overlay network on one host, as flannel lays it out:
 *
 *   ip link add npx-ID type vxlan id VNI local PUBLIC dev UNDERLAY dstport PORT nolearning
 *   ip link set npx-ID mtu UNDERLAY_MTU-50 address VTEP_MAC up
 *   ip addr add SUBNET_BASE/32 dev npx-ID            (this host's VTEP address)
 *
 * and for every remote host's lease, in this order (removed in reverse):
 *
 *   ip neigh replace REMOTE_VTEP lladdr REMOTE_MAC dev npx-ID nud permanent
 *   bridge fdb replace REMOTE_MAC dev npx-ID dst REMOTE_PUBLIC self permanent
 *   ip route replace REMOTE_SUBNET via REMOTE_VTEP dev npx-ID onlink
 *
 * With direct routing (backend 'direct', or 'auto' for a remote host on the
 * underlay's own segment) only:
 *
 *   ip route replace REMOTE_SUBNET via REMOTE_PUBLIC dev UNDERLAY
 *
 * REMOTE_VTEP is the remote subnet's network address (10.244.3.0): it is
 * never a sandbox's, and the ARP entry makes it resolve without broadcast
 * (learning is off, nothing floods).
 */
import { createHash } from 'node:crypto';

import { K, native } from '../../binding';
import type { Request } from '../../channel';
import { NetlinkError, ValidationError } from '../../errors';
import type { Rtnl } from '../../rtnl';
import { formatMac } from '../../util/ip';
import { contains, ipToBig, parseSubnet, type Subnet } from '../ipam';
import type { SubnetLease } from './leases';
import { VXLAN_OVERHEAD, type OverlayRecord } from './spec';

export interface Underlay {
  index: number;
  name: string;
  mtu: number;
  /** this host's underlay (public) address */
  address: string;
  /** the prefixes of that interface: a remote address inside one is on-link */
  prefixes: Subnet[];
}

export type Via = 'vxlan' | 'direct' | 'unreachable';

/** What a removal must undo for one remote host. */
export interface Programmed {
  lease: SubnetLease;
  via: Via;
}

/** Errors a removal meets when the entry is already gone. */
const GONE = new Set(['ENOENT', 'ESRCH', 'ENODEV', 'EADDRNOTAVAIL']);

/** The VTEP address of a host subnet: its network address. */
export const vtepOf = (subnet: string): string => subnet.split('/')[0]!;

/** A stable, locally administered MAC for this host's VTEP (same after a restart). */
export function vtepMacFor(networkId: string, publicIp: string, vni: number): string {
  const h = createHash('sha256').update(`${networkId}/${publicIp}/${vni}`).digest();
  h[0] = (h[0]! & 0xfe) | 0x02; // unicast, locally administered
  return formatMac(h.subarray(0, 6));
}

/**
 * Finds the underlay: the given address's interface, the given interface's
 * first IPv4 address, or the default route's interface.
 */
export async function resolveUnderlay(
  rt: Rtnl,
  want: OverlayRecord['underlay'],
): Promise<Underlay> {
  const addrs = (await rt.addrs.list({ family: 4 })).filter((a) => a.scope === K.RT_SCOPE_UNIVERSE);
  let index: number | undefined;
  let address: string | undefined;
  if (want.address !== undefined) {
    const a = addrs.find((x) => x.address === want.address);
    if (!a)
      throw new ValidationError(
        'overlay.underlay.address',
        `${want.address} is not an address of the host namespace`,
      );
    index = a.index;
    address = a.address;
  }
  if (want.interface !== undefined) {
    const link = await rt.links.find(want.interface);
    if (!link)
      throw new ValidationError(
        'overlay.underlay.interface',
        `no interface ${want.interface} on the host`,
      );
    if (index !== undefined && index !== link.index)
      throw new ValidationError(
        'overlay.underlay.address',
        `${want.address} is not on ${want.interface}`,
      );
    index = link.index;
  }
  if (index === undefined) {
    const def = (await rt.routes.list({ family: 4 })).find((r) => r.dst === 'default' && r.oif);
    if (!def)
      throw new ValidationError(
        'overlay.underlay',
        'the host has no default route: give overlay.underlay.interface or .address',
      );
    index = def.oif!;
  }
  const mine = addrs.filter((a) => a.index === index);
  address ??= mine[0]?.address;
  if (address === undefined)
    throw new ValidationError(
      'overlay.underlay',
      `the underlay interface (ifindex ${index}) has no IPv4 address`,
    );
  const link = await rt.links.get(index);
  return {
    index,
    name: link.name,
    mtu: link.mtu ?? 1500,
    address,
    prefixes: mine.map((a) => {
      const v = ipToBig(a.address, 'address').value;
      const size = 1n << BigInt(32 - a.prefixlen);
      return { family: 4, base: v - (v % size), prefixlen: a.prefixlen, text: a.cidr };
    }),
  };
}

export class DataPlane {
  private vxIndex = 0;

  constructor(
    private readonly rt: Rtnl,
    private readonly o: OverlayRecord,
    private readonly underlay: Underlay,
    /** this host's subnet */
    private readonly hostSubnet: string,
  ) {}

  get usesVxlan(): boolean {
    return this.o.backend !== 'direct';
  }

  /** The MTU sandboxes get: the underlay's, less the encapsulation when there is one. */
  static mtuFor(o: OverlayRecord, underlay: Underlay): number {
    return o.backend === 'direct' ? underlay.mtu : underlay.mtu - VXLAN_OVERHEAD;
  }

  /** How this host reaches `remote`. */
  viaFor(remote: SubnetLease): Via {
    const onLink = this.underlay.prefixes.some((p) =>
      contains(p, ipToBig(remote.publicIp, 'publicIp').value),
    );
    if (this.o.backend === 'vxlan') return 'vxlan';
    if (this.o.backend === 'direct') return onLink ? 'direct' : 'unreachable';
    return onLink ? 'direct' : 'vxlan';
  }

  /** Makes (or, after a restart, adopts) the VXLAN device. */
  async ensureDevice(vtepMac: string, alias: string): Promise<void> {
    if (!this.usesVxlan) return;
    const mtu = this.underlay.mtu - VXLAN_OVERHEAD;
    const existing = await this.rt.links.find(this.o.vxlan);
    const fits =
      existing?.kind === 'vxlan' &&
      existing.vxlan?.id === this.o.vni &&
      existing.vxlan.port === this.o.port &&
      existing.vxlan.local === this.underlay.address &&
      existing.vxlan.link === this.underlay.index;
    if (existing && !fits) await this.rt.links.del(existing.index);
    if (!existing || !fits) {
      const link = await this.rt.links.add({
        kind: 'vxlan',
        name: this.o.vxlan,
        vni: this.o.vni,
        local: this.underlay.address,
        dev: this.underlay.index,
        port: this.o.port,
        learning: false,
        mtu,
        mac: vtepMac,
        alias,
      });
      this.vxIndex = link.index;
    } else {
      this.vxIndex = existing.index;
    }
    const vtep = `${vtepOf(this.hostSubnet)}/32`;
    await this.rt.channel.send([
      {
        buf: native.encode('newaddr', this.rt.addrs.wire(this.vxIndex, vtep, { replace: true })),
        op: `RTM_NEWADDR ${vtep} dev ${this.o.vxlan}`,
      },
      {
        buf: native.encode(
          'newlink',
          await this.rt.links.setWire(this.vxIndex, { up: true, mtu, mac: vtepMac }),
        ),
        op: `RTM_NEWLINK ${this.o.vxlan} up`,
      },
    ]);
  }

  /** The requests that program one remote host, in order. */
  private async addRequests(remote: SubnetLease, via: Via): Promise<Request[]> {
    if (via === 'unreachable') return [];
    if (via === 'direct') {
      return [
        await this.rt.routes.request(
          { dst: remote.subnet, gateway: remote.publicIp, dev: this.underlay.index },
          'replace',
        ),
      ];
    }
    const vtep = vtepOf(remote.subnet);
    const dev = this.vxIndex;
    return [
      {
        buf: native.encode(
          'newneigh',
          await this.rt.neigh.wire(
            { dev, dst: vtep, lladdr: remote.vtepMac, replace: true },
            'add',
          ),
        ),
        op: `RTM_NEWNEIGH ${vtep} dev ${this.o.vxlan}`,
      },
      {
        buf: native.encode(
          'newneigh',
          await this.rt.neigh.wire(
            {
              dev,
              family: 'bridge',
              lladdr: remote.vtepMac,
              dst: remote.publicIp,
              self: true,
              replace: true,
            },
            'add',
          ),
        ),
        op: `RTM_NEWNEIGH fdb ${remote.vtepMac} dev ${this.o.vxlan}`,
      },
      await this.rt.routes.request(
        { dst: remote.subnet, gateway: vtep, dev, onlink: true },
        'replace',
      ),
    ];
  }

  /** The requests that remove what addRequests made, in reverse order. */
  private async delRequests(remote: SubnetLease, via: Via): Promise<Request[]> {
    if (via === 'unreachable') return [];
    if (via === 'direct') {
      return [
        await this.rt.routes.request(
          { dst: remote.subnet, gateway: remote.publicIp, dev: this.underlay.index },
          'del',
        ),
      ];
    }
    const vtep = vtepOf(remote.subnet);
    const dev = this.vxIndex;
    return [
      await this.rt.routes.request({ dst: remote.subnet, gateway: vtep, dev }, 'del'),
      {
        buf: native.encode(
          'delneigh',
          await this.rt.neigh.wire(
            { dev, family: 'bridge', lladdr: remote.vtepMac, dst: remote.publicIp, self: true },
            'del',
          ),
        ),
        op: `RTM_DELNEIGH fdb ${remote.vtepMac} dev ${this.o.vxlan}`,
      },
      {
        buf: native.encode('delneigh', await this.rt.neigh.wire({ dev, dst: vtep }, 'del')),
        op: `RTM_DELNEIGH ${vtep} dev ${this.o.vxlan}`,
      },
    ];
  }

  /** Programs one remote host (one sendmsg; the kernel applies the requests in order). */
  async add(remote: SubnetLease): Promise<Via> {
    const via = this.viaFor(remote);
    const requests = await this.addRequests(remote, via);
    if (requests.length > 0) await this.rt.channel.send(requests);
    return via;
  }

  /** Removes what add() made; entries already gone are fine. */
  async remove(p: Programmed): Promise<void> {
    await this.sendIgnoringGone(await this.delRequests(p.lease, p.via));
  }

  private async sendIgnoringGone(requests: Request[]): Promise<void> {
    if (requests.length === 0) return;
    const txn = await this.rt.channel.sendSettled(requests);
    txn.completions.forEach((c, i) => {
      if (c.error !== 0 && !GONE.has(c.code ?? ''))
        throw this.rt.channel.errorFor(txn, requests, i);
    });
  }

  /**
   * Removes kernel entries of remote hosts no longer in `keep` (left by a
   * previous run of the engine, before a crash or restart): routes into the
   * cluster CIDR through the VXLAN device or the underlay, and the VXLAN
   * device's ARP and FDB entries.
   */
  async sweep(keep: Map<string, Programmed>): Promise<number> {
    const cluster = parseSubnet(this.o.cluster, 'subnet', 4);
    const wanted = new Set<string>();
    const macs = new Set<string>();
    const vteps = new Set<string>();
    for (const p of keep.values()) {
      wanted.add(`${p.lease.subnet} ${p.via}`);
      macs.add(`${p.lease.vtepMac} ${p.lease.publicIp}`);
      vteps.add(`${vtepOf(p.lease.subnet)} ${p.lease.vtepMac}`);
    }
    const requests: Request[] = [];
    for (const r of await this.rt.routes.list({ family: 4 })) {
      if (r.dst === 'default' || !contains(cluster, ipToBig(r.dst.split('/')[0]!, 'dst').value))
        continue;
      if (r.dst === this.hostSubnet) continue;
      const via =
        this.vxIndex !== 0 && r.oif === this.vxIndex
          ? 'vxlan'
          : r.oif === this.underlay.index
            ? 'direct'
            : undefined;
      if (via === undefined || r.gateway === undefined) continue;
      if (!wanted.has(`${r.dst} ${via}`))
        requests.push(
          await this.rt.routes.request({ dst: r.dst, gateway: r.gateway, dev: r.oif! }, 'del'),
        );
    }
    if (this.vxIndex !== 0) {
      for (const n of await this.rt.neigh.list({ dev: this.vxIndex, family: 'bridge' })) {
        if (!n.lladdr || !n.dst || (n.flags & K.NTF_SELF) === 0) continue;
        if (n.lladdr === '00:00:00:00:00:00' || macs.has(`${n.lladdr} ${n.dst}`)) continue;
        requests.push({
          buf: native.encode(
            'delneigh',
            await this.rt.neigh.wire(
              { dev: this.vxIndex, family: 'bridge', lladdr: n.lladdr, dst: n.dst, self: true },
              'del',
            ),
          ),
          op: `RTM_DELNEIGH fdb ${n.lladdr}`,
        });
      }
      for (const n of await this.rt.neigh.list({ dev: this.vxIndex, family: 4 })) {
        if (!n.dst || vteps.has(`${n.dst} ${n.lladdr ?? ''}`)) continue;
        requests.push({
          buf: native.encode(
            'delneigh',
            await this.rt.neigh.wire({ dev: this.vxIndex, dst: n.dst }, 'del'),
          ),
          op: `RTM_DELNEIGH ${n.dst}`,
        });
      }
    }
    await this.sendIgnoringGone(requests);
    return requests.length;
  }

  /** Removes the device (its routes and entries go with it) and the direct routes. */
  async destroy(programmed: Iterable<Programmed>): Promise<void> {
    for (const p of programmed) if (p.via === 'direct') await this.remove(p);
    await this.sweep(new Map());
    if (this.usesVxlan) {
      try {
        await this.rt.links.del(this.o.vxlan);
      } catch (err) {
        if (!(err instanceof NetlinkError && err.code === 'ENODEV')) throw err;
      }
    }
  }
}
