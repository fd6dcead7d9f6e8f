/**
 * Subnet leases in etcd. Keys (PREFIX defaults to /netplumb/overlay):
 *
 *   PREFIX/NETWORK/config                    { cluster, hostSubnetLength, backend, vni, port }
 *   PREFIX/NETWORK/subnets/10.244.3.0-24     { publicIp, vtepMac, node, hostname }   (TTL lease)
 *
 * A host takes a subnet with one transaction: create the key if it does not
 * exist (create_revision == 0), attached to an etcd lease of TTL seconds
 * that the client keeps renewing. A host that dies stops renewing; etcd
 * deletes its key when the TTL runs out, and every watcher sees the delete.
 */
import { hostname } from 'node:os';

import type { Etcd3, IKeyValue, Lease, Watcher } from 'etcd3';

import { ConflictError } from '../../errors';
import { fromBig, parseSubnet, subnetSize, type Subnet } from '../ipam';
import type { OverlayRecord } from './spec';

/** What a host publishes about itself in its lease. */
export interface LeaseValue {
  /** underlay address other hosts send to */
  publicIp: string;
  /** MAC of its VXLAN device */
  vtepMac: string;
  /** the host's own id for this network (its network record's id): a restart knows its lease */
  node: string;
  hostname: string;
}

/** A subnet some host holds. */
export interface SubnetLease extends LeaseValue {
  subnet: string;
}

/** The settings every host of a network must agree on. */
export interface ClusterConfig {
  cluster: string;
  hostSubnetLength: number;
  backend: string;
  vni: number;
  port: number;
}

export function configOf(o: OverlayRecord): ClusterConfig {
  return {
    cluster: o.cluster,
    hostSubnetLength: o.hostSubnetLength,
    backend: o.backend,
    vni: o.vni,
    port: o.port,
  };
}

/** 10.244.3.0/24 <-> 10.244.3.0-24 (a '/' would read as a deeper key) */
export const subnetKey = (subnet: string): string => subnet.replace('/', '-');
export const keySubnet = (key: string): string => key.replace(/-(\d+)$/, '/$1');

/** Every host subnet of the cluster CIDR, in order. */
export function* hostSubnets(cluster: Subnet, length: number): Generator<string> {
  const step = 1n << BigInt(32 - length);
  const end = cluster.base + subnetSize(cluster);
  for (let v = cluster.base; v < end; v += step) yield `${fromBig(v, 4)}/${length}`;
}

function parseValue(kv: IKeyValue): LeaseValue | undefined {
  try {
    const v = JSON.parse(kv.value.toString()) as Partial<LeaseValue>;
    if (typeof v.publicIp !== 'string' || typeof v.vtepMac !== 'string') return undefined;
    return {
      publicIp: v.publicIp,
      vtepMac: v.vtepMac,
      node: typeof v.node === 'string' ? v.node : '',
      hostname: typeof v.hostname === 'string' ? v.hostname : '',
    };
  } catch {
    return undefined;
  }
}

export interface WatchHandlers {
  put(lease: SubnetLease): void;
  delete(subnet: string): void;
  /** the watch stream failed for good */
  error(err: Error): void;
}

export class LeaseStore {
  private readonly client: Etcd3;
  private readonly base: string;
  private lease: Lease | undefined;
  private watcher: Watcher | undefined;
  private closed = false;

  private constructor(
    private readonly o: OverlayRecord,
    network: string,
    client: Etcd3,
  ) {
    this.client = client;
    this.base = `${o.etcd.prefix}/${network}`;
  }

  /**
   * A client for the network's etcd. The client library (gRPC) loads on
   * first use: ~0.5 s that engines without overlay networks never pay.
   */
  static async open(o: OverlayRecord, network: string): Promise<LeaseStore> {
    const { Etcd3: Client } = await import('etcd3');
    return new LeaseStore(o, network, new Client({ hosts: o.etcd.endpoints, dialTimeout: 5000 }));
  }

  private get subnetsPrefix(): string {
    return `${this.base}/subnets/`;
  }

  keyOf(subnet: string): string {
    return `${this.subnetsPrefix}${subnetKey(subnet)}`;
  }

  /**
   * Records the network's settings the first time any host creates it;
   * later hosts must bring the same (a host with another VNI or cluster
   * CIDR would silently never reach the others).
   */
  async ensureConfig(): Promise<void> {
    const key = `${this.base}/config`;
    const mine = configOf(this.o);
    const r = await this.client
      .if(key, 'Create', '==', 0)
      .then(this.client.put(key).value(JSON.stringify(mine)))
      .else(this.client.get(key))
      .commit();
    if (r.succeeded) return;
    const kv = r.responses[0]?.response_range?.kvs[0];
    if (!kv) return;
    let theirs: Partial<ClusterConfig>;
    try {
      theirs = JSON.parse(kv.value.toString()) as Partial<ClusterConfig>;
    } catch {
      throw new ConflictError('overlay', `etcd key ${key} holds no network config`);
    }
    for (const k of Object.keys(mine) as (keyof ClusterConfig)[]) {
      if (theirs[k] !== mine[k]) {
        const field = k === 'cluster' ? 'subnet' : `overlay.${k}`;
        throw new ConflictError(
          field,
          `the cluster runs this network with ${k} ${String(theirs[k])}, not ${String(mine[k])} (etcd ${key})`,
        );
      }
    }
  }

  /** Every subnet leased now, and the etcd revision of that view. */
  async list(): Promise<{ revision: string; leases: SubnetLease[] }> {
    const r = await this.client.getAll().prefix(this.subnetsPrefix).exec();
    const leases: SubnetLease[] = [];
    for (const kv of r.kvs) {
      const v = parseValue(kv);
      const subnet = keySubnet(kv.key.toString().slice(this.subnetsPrefix.length));
      if (v) leases.push({ subnet, ...v });
    }
    return { revision: r.header.revision, leases };
  }

  /**
   * Takes a subnet: `previous` again if it is free or still ours (same
   * node: a restart before the old lease expired), else a free one picked
   * at random (so hosts starting together rarely race for the same key;
   * when they do, the transaction lets exactly one win and the others try
   * again). `onLost` runs if etcd later reports the lease gone.
   */
  async acquire(
    value: LeaseValue,
    previous: string | undefined,
    onLost: (err: Error) => void,
  ): Promise<string> {
    const lease = this.client.lease(this.o.etcd.ttl);
    lease.on('lost', (err) => {
      if (!this.closed && this.lease === lease) onLost(err);
    });
    const id = await lease.grant();
    const text = JSON.stringify({ ...value, hostname: value.hostname || hostname() });
    const tryCreate = async (subnet: string): Promise<IKeyValue | undefined | true> => {
      const key = this.keyOf(subnet);
      const r = await this.client
        .if(key, 'Create', '==', 0)
        .then(this.client.put(key).value(text).lease(id))
        .else(this.client.get(key))
        .commit();
      return r.succeeded ? true : r.responses[0]?.response_range?.kvs[0];
    };
    try {
      if (previous !== undefined) {
        const got = await tryCreate(previous);
        if (got === true) return this.keep(lease, previous);
        const held = got ? parseValue(got) : undefined;
        if (got && held?.node === value.node) {
          // Our own key from before a restart: move it to the new lease.
          const key = this.keyOf(previous);
          const r = await this.client
            .if(key, 'Mod', '==', got.mod_revision)
            .then(this.client.put(key).value(text).lease(id))
            .commit();
          if (r.succeeded) return this.keep(lease, previous);
        }
      }
      const cluster = parseSubnet(this.o.cluster, 'subnet', 4);
      for (let attempt = 0; attempt < 64; attempt++) {
        const taken = new Set((await this.list()).leases.map((l) => l.subnet));
        const free: string[] = [];
        for (const s of hostSubnets(cluster, this.o.hostSubnetLength))
          if (!taken.has(s)) free.push(s);
        if (free.length === 0)
          throw new ConflictError(
            'subnet',
            `every /${this.o.hostSubnetLength} of ${this.o.cluster} is leased by another host`,
          );
        const pick = free[Math.floor(Math.random() * free.length)]!;
        if ((await tryCreate(pick)) === true) return this.keep(lease, pick);
      }
      throw new ConflictError(
        'subnet',
        `no subnet of ${this.o.cluster} could be leased (contention)`,
      );
    } catch (err) {
      await lease.revoke().catch(() => undefined);
      throw err;
    }
  }

  private keep(lease: Lease, subnet: string): string {
    this.lease?.release();
    this.lease = lease;
    return subnet;
  }

  /** Follows every change after `revision` (from list()). */
  async watch(revision: string, on: WatchHandlers): Promise<void> {
    const w = await this.client
      .watch()
      .prefix(this.subnetsPrefix)
      .startRevision((BigInt(revision) + 1n).toString())
      .create();
    if (this.closed) {
      await w.cancel();
      return;
    }
    this.watcher = w;
    w.on('put', (kv) => {
      const v = parseValue(kv);
      if (v)
        on.put({ subnet: keySubnet(kv.key.toString().slice(this.subnetsPrefix.length)), ...v });
    });
    w.on('delete', (kv) => {
      on.delete(keySubnet(kv.key.toString().slice(this.subnetsPrefix.length)));
    });
    w.on('error', (err) => {
      if (!this.closed) on.error(err);
    });
  }

  /** Gives the subnet back now (the network is being removed): other hosts see it go at once. */
  async release(): Promise<void> {
    const lease = this.lease;
    this.lease = undefined;
    if (lease) await lease.revoke();
  }

  /**
   * Stops renewing and watching, leaving the lease to its TTL (a restart
   * within the TTL finds it still there and takes it over).
   */
  async close(): Promise<void> {
    this.closed = true;
    this.lease?.release();
    this.lease = undefined;
    const w = this.watcher;
    this.watcher = undefined;
    if (w) await w.cancel().catch(() => undefined);
    this.client.close();
  }
}
