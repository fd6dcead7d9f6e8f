/**
 * The engine's overlay driver: one agent per overlay network on this host.
 * An agent leases the host's subnet in etcd (keeping the lease renewed),
 * builds the VXLAN device, and follows every other host's lease — listed
 * once, then watched — programming or removing that host's ARP, FDB and
 * route entries (or a direct route). Changes are applied one at a time, in
 * the order etcd reports them.
 *
 * Life cycle, as the engine calls it:
 *   createNetwork: validate -> lease (before the bridge: the bridge takes the
 *                  leased subnet) -> start (after the bridge and firewall)
 *   removeNetwork: remove (stop, delete the entries and device, give the lease back)
 *   Engine.open:   resume every overlay network in the state directory,
 *                  reclaiming the subnet it had
 *   Engine.close:  close (stop renewing; the lease runs out by its TTL)
 */
import { ConflictError, ValidationError } from '../../errors';
import type { Engine } from '../engine';
import { fromBig, hostRange, parseSubnet } from '../ipam';
import type { NetworkRecord } from '../records';
import type { NetworkSpec } from '../types';
import {
  DataPlane,
  resolveUnderlay,
  vtepMacFor,
  type Programmed,
  type Underlay,
} from './dataplane';
import { LeaseStore, type SubnetLease } from './leases';
import { VXLAN_OVERHEAD, validateOverlay, type OverlayInfo, type OverlayRecord } from './spec';

type OverlayNetwork = NetworkRecord & { overlay: OverlayRecord };

class Agent {
  private storeOpen: LeaseStore | undefined;
  plane: DataPlane | undefined;
  underlay: Underlay | undefined;
  /** remote subnet -> what is programmed for it */
  readonly programmed = new Map<string, Programmed>();
  status: OverlayInfo['status'] = 'up';
  error: string | undefined;
  private queue: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(
    private readonly engine: Engine,
    readonly rec: OverlayNetwork,
  ) {}

  /** The etcd client, made on first use. */
  private get store(): LeaseStore {
    if (!this.storeOpen) throw new Error('overlay agent used before connect()');
    return this.storeOpen;
  }

  async connect(): Promise<void> {
    this.storeOpen ??= await LeaseStore.open(this.rec.overlay, this.rec.name);
  }

  /** Runs `fn` after every change queued before it. */
  private enqueue(fn: () => Promise<void>): Promise<void> {
    const next = this.queue.then(async () => {
      if (this.stopped) return;
      try {
        await fn();
      } catch (err) {
        this.fail(err);
      }
    });
    this.queue = next;
    return next;
  }

  private fail(err: unknown): void {
    this.status = 'lost';
    this.error = err instanceof Error ? err.message : String(err);
  }

  /** Waits for the changes queued so far. */
  settled(): Promise<void> {
    return this.queue;
  }

  /**
   * Leases this host's subnet (the recorded one again, when it is free or
   * still ours). Sets the record's subnet, gateway, MTU and lease values.
   */
  async lease(mtuGiven: boolean): Promise<void> {
    const o = this.rec.overlay;
    this.underlay = await resolveUnderlay(this.engine.host, o.underlay);
    const mtu = DataPlane.mtuFor(o, this.underlay);
    if (!mtuGiven) this.rec.mtu = mtu;
    else if (this.rec.mtu > mtu)
      throw new ValidationError(
        'mtu',
        `${this.rec.mtu} does not fit the underlay (${this.underlay.name} MTU ${this.underlay.mtu}${o.backend === 'direct' ? '' : ` less ${VXLAN_OVERHEAD} for VXLAN`})`,
      );
    await this.connect();
    await this.store.ensureConfig();
    const publicIp = this.underlay.address;
    const vtepMac = vtepMacFor(this.rec.id, publicIp, o.vni);
    const previous = o.hostSubnet;
    const subnet = await this.store.acquire(
      { publicIp, vtepMac, node: this.rec.id, hostname: '' },
      previous,
      (err) => void this.enqueue(() => this.relost(err)),
    );
    if (previous !== undefined && subnet !== previous) {
      // Sandboxes here hold addresses of the old subnet: they cannot move.
      await this.store.release().catch(() => undefined);
      throw new ConflictError(
        'subnet',
        `this host's subnet ${previous} of network "${this.rec.name}" is leased by another host now; remove and re-create the network`,
      );
    }
    const s = parseSubnet(subnet, 'subnet', 4);
    this.rec.subnet = s.text;
    this.rec.gateway = fromBig(hostRange(s).first, 4);
    o.hostSubnet = s.text;
    o.publicIp = publicIp;
    o.vtepMac = vtepMac;
  }

  /** The lease expired under us (etcd unreachable longer than the TTL): take the subnet again. */
  private async relost(err: Error): Promise<void> {
    try {
      await this.store
        .acquire(
          {
            publicIp: this.rec.overlay.publicIp!,
            vtepMac: this.rec.overlay.vtepMac!,
            node: this.rec.id,
            hostname: '',
          },
          this.rec.overlay.hostSubnet,
          (e) => void this.enqueue(() => this.relost(e)),
        )
        .then((subnet) => {
          if (subnet !== this.rec.overlay.hostSubnet)
            throw new ConflictError(
              'subnet',
              `lost ${this.rec.overlay.hostSubnet}: ${err.message}`,
            );
        });
    } catch (e) {
      this.fail(e);
    }
  }

  /** The VXLAN device, every current remote host, then the watch. */
  async start(): Promise<void> {
    const o = this.rec.overlay;
    this.plane = new DataPlane(this.engine.host, o, this.underlay!, o.hostSubnet!);
    await this.plane.ensureDevice(o.vtepMac!, this.engine.aliasOf('net', this.rec.name));
    const { revision, leases } = await this.store.list();
    for (const l of leases) {
      if (l.subnet === o.hostSubnet) continue;
      this.programmed.set(l.subnet, { lease: l, via: this.plane.viaFor(l) });
    }
    // Entries of hosts that left while this engine was not running.
    await this.plane.sweep(this.programmed);
    for (const p of this.programmed.values()) p.via = await this.plane.add(p.lease);
    this.status = 'up';
    await this.store.watch(revision, {
      put: (l) => void this.enqueue(() => this.put(l)),
      delete: (s) => void this.enqueue(() => this.delete(s)),
      error: (err) => {
        this.fail(err);
      },
    });
  }

  private async put(l: SubnetLease): Promise<void> {
    if (l.subnet === this.rec.overlay.hostSubnet) return;
    const old = this.programmed.get(l.subnet);
    if (old && old.lease.publicIp === l.publicIp && old.lease.vtepMac === l.vtepMac) return;
    if (old) {
      await this.plane!.remove(old);
      this.programmed.delete(l.subnet);
    }
    const via = await this.plane!.add(l);
    this.programmed.set(l.subnet, { lease: l, via });
  }

  private async delete(subnet: string): Promise<void> {
    if (subnet === this.rec.overlay.hostSubnet) {
      // Our own key vanished (revoked elsewhere, or expired while etcd was unreachable).
      await this.relost(new Error('the lease key was deleted'));
      return;
    }
    const old = this.programmed.get(subnet);
    if (!old) return;
    await this.plane!.remove(old);
    this.programmed.delete(subnet);
  }

  /** Stops following etcd; kernel state stays (close) or goes (remove). */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.queue;
    this.status = 'closed';
  }

  async close(): Promise<void> {
    await this.stop();
    await this.storeOpen?.close();
  }

  async remove(): Promise<void> {
    await this.stop();
    try {
      if (this.plane) await this.plane.destroy(this.programmed.values());
      await this.storeOpen?.release();
    } finally {
      await this.storeOpen?.close();
    }
  }

  info(): OverlayInfo {
    const o = this.rec.overlay;
    const info: OverlayInfo = {
      cluster: o.cluster,
      hostSubnet: o.hostSubnet ?? '',
      hostSubnetLength: o.hostSubnetLength,
      backend: o.backend,
      vni: o.vni,
      port: o.port,
      publicIp: o.publicIp ?? '',
      vtepMac: o.vtepMac ?? '',
      status: this.status,
      remotes: [...this.programmed.values()]
        .map((p) => ({ subnet: p.lease.subnet, publicIp: p.lease.publicIp, via: p.via }))
        .sort((a, b) => a.subnet.localeCompare(b.subnet)),
    };
    if (o.backend !== 'direct') info.vxlan = o.vxlan;
    if (this.error !== undefined) info.error = this.error;
    return info;
  }
}

export class OverlayDriver {
  private readonly agents = new Map<string, Agent>();

  constructor(private readonly engine: Engine) {}

  /** Checks an overlay network spec into its record (no etcd, no kernel). */
  validate(spec: NetworkSpec, rec: NetworkRecord): void {
    for (const f of ['gateway', 'ipv6', 'subnet6', 'gateway6'] as const) {
      if (spec[f] !== undefined && spec[f] !== false)
        throw new ValidationError(
          f,
          `an overlay network has no ${f} option (IPv4; each host's gateway is its own)`,
        );
    }
    if (spec.internal === true)
      throw new ValidationError(
        'internal',
        'an overlay network cannot be internal (its traffic crosses hosts)',
      );
    rec.overlay = validateOverlay(spec.subnet, spec.overlay, rec.id);
    rec.subnet = '';
    rec.gateway = '';
  }

  /** Leases this host's subnet; the record gets subnet, gateway and MTU. */
  async lease(rec: NetworkRecord, mtuGiven: boolean): Promise<void> {
    const agent = new Agent(this.engine, rec as OverlayNetwork);
    this.agents.set(rec.name, agent);
    try {
      await agent.lease(mtuGiven);
    } catch (err) {
      this.agents.delete(rec.name);
      await agent.close();
      throw err;
    }
  }

  /** Builds the data plane once the bridge exists. */
  async start(rec: NetworkRecord): Promise<void> {
    await this.agents.get(rec.name)!.start();
  }

  /**
   * Takes an overlay network down on this host: the entries for other
   * hosts, the VXLAN device, and the lease (others then drop this host's
   * entries at once). Works without a live agent too (prune after a crash).
   */
  async remove(rec: NetworkRecord): Promise<void> {
    if (!rec.overlay) return;
    const agent = this.agents.get(rec.name);
    this.agents.delete(rec.name);
    if (agent) {
      await agent.remove();
      return;
    }
    if (!rec.overlay.hostSubnet) return;
    const o = rec.overlay;
    let underlay: Underlay;
    try {
      underlay = await resolveUnderlay(this.engine.host, o.underlay);
    } catch {
      return; // the underlay is gone: so are the routes through it
    }
    const plane = new DataPlane(this.engine.host, o, underlay, o.hostSubnet!);
    await plane.destroy([]);
    // The lease itself runs out by its TTL.
  }

  /** Resumes every overlay network recorded here (Engine.open). Failures show in info(). */
  async resume(): Promise<void> {
    const recs = (await this.engine.state.all<NetworkRecord>('networks')).filter(
      (r) => r.overlay && r.state === 'ready',
    );
    await Promise.all(
      recs.map(async (rec) => {
        const agent = new Agent(this.engine, rec as OverlayNetwork);
        this.agents.set(rec.name, agent);
        try {
          await agent.lease(true);
          await agent.start();
        } catch (err) {
          agent.status = 'lost';
          agent.error = err instanceof Error ? err.message : String(err);
          await agent.stop();
        }
      }),
    );
  }

  /** Waits until the changes seen so far are in the kernel. */
  async settled(name: string): Promise<void> {
    await this.agents.get(name)?.settled();
  }

  info(rec: NetworkRecord): OverlayInfo | undefined {
    return this.agents.get(rec.name)?.info();
  }

  async close(): Promise<void> {
    const all = [...this.agents.values()];
    this.agents.clear();
    await Promise.all(all.map((a) => a.close().catch(() => undefined)));
  }
}
