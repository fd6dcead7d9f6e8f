/**
 * The engine's firewall: one nftables table it owns (inet netplumb; never
 * another table), laid out so per-port and per-network work is map
 * elements, not rule lists: publishing the 1,000th port costs what the first
 * did, and the packet path does one hash lookup whatever the number of ports.
 *
 *   table inet netplumb {
 *     map dnat4_ip  { ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service }  hostIp:port
 *     map dnat4_any { inet_proto . inet_service : ipv4_addr . inet_service }              0.0.0.0:port
 *     map dnat6_ip, dnat6_any                                                              (IPv6)
 *     set bridges, set internal { ifname }
 *     map intra { ifname . ifname : verdict }    a bridge to itself: accept
 *     chain prerouting, output (nat, dstnat): fib daddr type local jump publish
 *     chain publish: dnat to the maps
 *     chain postrouting (nat, srcnat): per network, masquerade what leaves the
 *       subnet, hairpin DNAT on the bridge, and host-to-sandbox via 127.0.0.1
 *     chain forward (filter): established ok; same bridge ok; internal networks
 *       closed; published (DNAT) ok; bridge to other bridge dropped; anything
 *       else towards a bridge dropped (no direct access from outside)
 *     overlay networks (driver 'overlay'): masquerade only what leaves the
 *       cluster CIDR; forward: the cluster CIDR into the bridge accepted,
 *       inserted ahead of the drops (other hosts' sandboxes reach ours)
 *     chain input (filter): internal networks reach only the resolver (53)
 *     chain raw (filter, prerouting raw): 127.0.0.0/8 arriving on anything
 *       but lo is dropped, so localhost-published ports stay the host's
 *       (the CVE-2020-8558 class of bug)
 *   }
 *
 * Rules and elements carry their owner in comments (net=NAME, sbx=NAME), so
 * prune can find what a crash left behind.
 */
import {
  Nft,
  type ChainSpec,
  type RuleSpec,
  type SetElement,
  type SetRef,
  type Stmt,
  type TableRef,
} from '../nft';
import { Conntrack } from '../conntrack';
import { NetlinkError } from '../errors';
import * as sysctl from '../sysctl';
import { Coalescer } from './coalescer';
import type { Firewall } from './firewall';
import type { NetNS } from '../netns';
import type { EndpointRecord, NetworkRecord, SandboxRecord } from './records';

const TCP = 6;
/** chains holding per-network rules (found again by their comment) */
const NETWORK_CHAINS = ['postrouting', 'forward'] as const;
const UDP = 17;

export class NftFirewall implements Firewall {
  private readonly table: TableRef;
  private ready: Promise<void> | null = null;

  private constructor(
    private readonly nft: Nft,
    private readonly conntrack: Conntrack,
    tableName: string,
    /** the host namespace, when not this process's */
    private readonly netns: NetNS | undefined,
  ) {
    this.table = { family: 'inet', name: tableName };
  }

  static async open(tableName: string, netns?: NetNS): Promise<NftFirewall> {
    const nft = await Nft.open(netns);
    try {
      return new NftFirewall(nft, await Conntrack.open(netns), tableName, netns);
    } catch (err) {
      await nft.close();
      throw err;
    }
  }

  private set(name: string): SetRef {
    return { family: 'inet', table: this.table.name, name };
  }

  private chain(name: string, base?: Omit<ChainSpec, 'family' | 'table' | 'name'>): ChainSpec {
    return { family: 'inet', table: this.table.name, name, ...base };
  }

  private rule(chain: string, expr: Stmt[], comment?: string): RuleSpec {
    return {
      family: 'inet',
      table: this.table.name,
      chain,
      expr,
      ...(comment !== undefined ? { comment } : {}),
    };
  }

  /** The table with its maps, sets, chains and fixed rules, made once (one atomic batch). */
  private ensureTable(): Promise<void> {
    this.ready ??= (async () => {
      const tables = await this.nft.listTables('inet');
      if (tables.some((t) => t.name === this.table.name)) {
        await this.upgradeOutput();
        return;
      }
      const s = (name: string): SetRef => this.set(name);
      const tx = this.nft
        .transaction()
        .addTable({ ...this.table, comment: 'managed by netplumb' })
        .addSet({
          ...s('dnat4_ip'),
          key: ['ipv4_addr', 'inet_proto', 'inet_service'],
          map: ['ipv4_addr', 'inet_service'],
        })
        .addSet({
          ...s('dnat4_any'),
          key: ['inet_proto', 'inet_service'],
          map: ['ipv4_addr', 'inet_service'],
        })
        .addSet({
          ...s('dnat6_ip'),
          key: ['ipv6_addr', 'inet_proto', 'inet_service'],
          map: ['ipv6_addr', 'inet_service'],
        })
        .addSet({
          ...s('dnat6_any'),
          key: ['inet_proto', 'inet_service'],
          map: ['ipv6_addr', 'inet_service'],
        })
        .addSet({ ...s('bridges'), key: 'ifname' })
        .addSet({ ...s('internal'), key: 'ifname' })
        .addSet({ ...s('intra'), key: ['ifname', 'ifname'], map: 'verdict' })
        .addChain(this.chain('publish'))
        .addChain(
          this.chain('prerouting', {
            type: 'nat',
            hook: 'prerouting',
            priority: 'dstnat',
            policy: 'accept',
          }),
        )
        .addChain(
          this.chain('output', {
            type: 'nat',
            hook: 'output',
            priority: 'dstnat',
            policy: 'accept',
          }),
        )
        .addChain(
          this.chain('postrouting', {
            type: 'nat',
            hook: 'postrouting',
            priority: 'srcnat',
            policy: 'accept',
          }),
        )
        .addChain(
          this.chain('forward', {
            type: 'filter',
            hook: 'forward',
            priority: 'filter',
            policy: 'accept',
          }),
        )
        .addChain(
          this.chain('input', {
            type: 'filter',
            hook: 'input',
            priority: 'filter',
            policy: 'accept',
          }),
        )
        .addChain(
          this.chain('raw', {
            type: 'filter',
            hook: 'prerouting',
            priority: 'raw',
            policy: 'accept',
          }),
        )
        // Published ports: any local address (fib), one lookup each way.
        .addRule(
          this.rule('prerouting', [
            { match: 'fib daddr type', value: 'local' },
            { jump: 'publish' },
          ]),
        )
        .addRule(this.loopback6Rule())
        .addRule(
          this.rule('output', [{ match: 'fib daddr type', value: 'local' }, { jump: 'publish' }]),
        )
        // Forwarding policy between bridges and the outside.
        .addRule(
          this.rule('forward', [
            { match: 'ct state', value: ['established', 'related'] },
            { verdict: 'accept' },
          ]),
        )
        .addRule(this.rule('forward', [{ vmap: { key: ['iifname', 'oifname'], set: 'intra' } }]))
        .addRule(this.rule('forward', [{ match: 'iifname', set: 'internal' }, { verdict: 'drop' }]))
        .addRule(this.rule('forward', [{ match: 'oifname', set: 'internal' }, { verdict: 'drop' }]))
        .addRule(
          this.rule('forward', [{ match: 'ct status', value: ['dnat'] }, { verdict: 'accept' }]),
        )
        .addRule(
          this.rule('forward', [
            { match: 'iifname', set: 'bridges' },
            { match: 'oifname', set: 'bridges' },
            { verdict: 'drop' },
          ]),
        )
        .addRule(this.rule('forward', [{ match: 'oifname', set: 'bridges' }, { verdict: 'drop' }]))
        // Internal networks reach the host only for DNS.
        .addRule(
          this.rule('input', [
            { match: 'iifname', set: 'internal' },
            { match: 'ct state', value: ['established', 'related'] },
            { verdict: 'accept' },
          ]),
        )
        .addRule(
          this.rule('input', [
            { match: 'iifname', set: 'internal' },
            { match: 'udp dport', value: 53 },
            { verdict: 'accept' },
          ]),
        )
        .addRule(
          this.rule('input', [
            { match: 'iifname', set: 'internal' },
            { match: 'tcp dport', value: 53 },
            { verdict: 'accept' },
          ]),
        )
        .addRule(this.rule('input', [{ match: 'iifname', set: 'internal' }, { verdict: 'drop' }]))
        // Localhost-published ports are the host's alone.
        .addRule(
          this.rule('raw', [
            { match: 'iifname', op: '!=', value: 'lo' },
            { match: 'ip daddr', value: '127.0.0.0/8' },
            { verdict: 'drop' },
          ]),
        );
      // The port in a NAT map needs the transport protocol known first: one
      // rule per protocol (the protocol is also in the map key).
      for (const proto of [TCP, UDP]) {
        const l4: Stmt = { match: 'meta l4proto', value: proto };
        const v4: Stmt = { match: 'meta nfproto', value: 'ipv4' };
        const v6: Stmt = { match: 'meta nfproto', value: 'ipv6' };
        tx.addRule(
          this.rule('publish', [
            v4,
            l4,
            {
              nat: 'dnat',
              family: 'ip',
              map: { key: ['ip daddr', 'meta l4proto', 'th dport'], set: 'dnat4_ip' },
            },
          ]),
        );
        tx.addRule(
          this.rule('publish', [
            v4,
            l4,
            {
              nat: 'dnat',
              family: 'ip',
              map: { key: ['meta l4proto', 'th dport'], set: 'dnat4_any' },
            },
          ]),
        );
        tx.addRule(
          this.rule('publish', [
            v6,
            l4,
            {
              nat: 'dnat',
              family: 'ip6',
              map: { key: ['ip6 daddr', 'meta l4proto', 'th dport'], set: 'dnat6_ip' },
            },
          ]),
        );
        tx.addRule(
          this.rule('publish', [
            v6,
            l4,
            {
              nat: 'dnat',
              family: 'ip6',
              map: { key: ['meta l4proto', 'th dport'], set: 'dnat6_any' },
            },
          ]),
        );
      }
      try {
        await tx.commit();
      } catch (err) {
        // Another engine process made it first.
        if (!(err instanceof NetlinkError && err.code === 'EEXIST')) throw err;
      }
    })();
    this.ready.catch(() => {
      this.ready = null;
    });
    return this.ready;
  }

  /**
   * ::1 is never DNATed (Docker's ip6tables OUTPUT rule says `! -d ::1/128`):
   * IPv6 has no route_localnet, so a packet with source ::1 sent to a
   * sandbox is dropped and the client hangs; left alone, it is refused at
   * once and the client moves on to 127.0.0.1. First in the output chain.
   */
  private loopback6Rule(): RuleSpec {
    return this.rule('output', [{ match: 'ip6 daddr', value: '::1' }, { verdict: 'return' }]);
  }

  /**
   * A table made by an older netplumb has no loopback6Rule: it is put in
   * front of the output chain, once per engine process (two processes
   * doing it at once leave two equal rules, which is harmless).
   */
  private async upgradeOutput(): Promise<void> {
    const rules = await this.nft.listRules({
      family: 'inet',
      table: this.table.name,
      chain: 'output',
    });
    const want = JSON.stringify(this.loopback6Rule().expr);
    if (rules.some((r) => JSON.stringify(r.expr) === want)) return;
    await this.nft.transaction().insertRule(this.loopback6Rule()).commit();
  }

  async addNetwork(net: NetworkRecord): Promise<void> {
    await this.ensureTable();
    try {
      await this.networkChanges(net).commit();
    } catch (err) {
      if (!(err instanceof NetlinkError && err.code === 'ENOENT')) throw err;
      // Another process removed its last network, and with it the table,
      // since this one made it: make it again, once.
      this.ready = null;
      await this.ensureTable();
      await this.networkChanges(net).commit();
    }
    await sysctl.set(
      `net/ipv4/conf/${net.bridge}/route_localnet`,
      '1',
      this.netns ? { netns: this.netns } : {},
    );
  }

  /** A network's elements and rules, as one transaction (see addNetwork). */
  private networkChanges(net: NetworkRecord): ReturnType<Nft['transaction']> {
    const br = net.bridge;
    const tag = `net=${net.name}`;
    const tx = this.nft.transaction();
    tx.addElements(this.set('bridges'), [{ key: br, comment: tag }]);
    // Within the network: everything, unless icc=false is held here (see
    // NetworkRecord.isolation): then only DNATed traffic (a published port),
    // by the rules after the map.
    if (net.isolation !== 'netfilter')
      tx.addElements(this.set('intra'), [
        { key: [br, br], value: { verdict: 'accept' }, comment: tag },
      ]);
    if (net.internal) {
      tx.addElements(this.set('internal'), [{ key: br, comment: tag }]);
    } else if (net.overlay) {
      // A multi-host network: its sandboxes keep their addresses towards the
      // whole cluster CIDR (other hosts see the real source); only what
      // leaves the cluster is masqueraded.
      tx.addRule(
        this.rule(
          'postrouting',
          [
            { match: 'ip saddr', value: net.subnet },
            { match: 'ip daddr', op: '!=', value: net.overlay.cluster },
            { match: 'oifname', op: '!=', value: br },
            { masquerade: true },
          ],
          tag,
        ),
      );
      // Other hosts' sandboxes reach ours (through the VXLAN device or,
      // routed directly, the underlay): ahead of the drops below.
      tx.insertRule(
        this.rule(
          'forward',
          [
            { match: 'ip saddr', value: net.overlay.cluster },
            { match: 'oifname', value: br },
            { verdict: 'accept' },
          ],
          tag,
        ),
      );
    } else {
      // Leaving the subnet through anything but its bridge: masquerade.
      tx.addRule(
        this.rule(
          'postrouting',
          [
            { match: 'ip saddr', value: net.subnet },
            { match: 'oifname', op: '!=', value: br },
            { masquerade: true },
          ],
          tag,
        ),
      );
      if (net.subnet6) {
        tx.addRule(
          this.rule(
            'postrouting',
            [
              { match: 'ip6 saddr', value: net.subnet6 },
              { match: 'oifname', op: '!=', value: br },
              { masquerade: true },
            ],
            tag,
          ),
        );
      }
    }
    // Hairpin: a sandbox reaching a published port of its own network gets
    // the answer back through us, not straight from the peer (IPv4 and IPv6).
    const hairpin = [
      ['ip saddr', net.subnet],
      ['ip6 saddr', net.subnet6],
    ] as const;
    for (const [match, subnet] of hairpin)
      if (subnet)
        tx.addRule(
          this.rule(
            'postrouting',
            [
              { match: 'oifname', value: br },
              { match: 'ct status', value: ['dnat'] },
              { match, value: subnet },
              { masquerade: true },
            ],
            tag,
          ),
        );
    // The host itself through 127.0.0.1 (route_localnet lets it leave lo).
    tx.addRule(
      this.rule(
        'postrouting',
        [
          { match: 'oifname', value: br },
          { match: 'ip saddr', value: '127.0.0.0/8' },
          { masquerade: true },
        ],
        tag,
      ),
    );
    return tx;
  }

  async removeNetwork(net: NetworkRecord): Promise<void> {
    const tables = await this.nft.listTables('inet');
    if (!tables.some((t) => t.name === this.table.name)) return;
    const tag = `net=${net.name}`;
    const tx = this.nft.transaction();
    for (const chain of NETWORK_CHAINS) {
      for (const r of await this.nft.listRules({ family: 'inet', table: this.table.name, chain }))
        if (r.comment === tag)
          tx.deleteRule({ family: 'inet', table: this.table.name, chain, handle: r.handle });
    }
    await this.deleteOwned(tx, ['bridges', 'internal', 'intra'], (c) => c === tag);
    await tx.commit();
    // The last network gone: the table goes too (nothing of ours remains).
    const left = await this.nft.listElements(this.set('bridges'));
    if (left.length === 0) {
      try {
        await this.nft.transaction().deleteTable(this.table).commit();
        this.ready = null;
      } catch {
        // another engine process is adding a network right now
      }
    }
  }

  /** Queues deletion of the elements of `sets` whose comment satisfies `owned`. */
  private async deleteOwned(
    tx: ReturnType<Nft['transaction']>,
    sets: string[],
    owned: (comment: string | undefined) => boolean,
  ): Promise<number> {
    let n = 0;
    for (const name of sets) {
      const elems = (await this.nft.listElements(this.set(name))).filter((e) => owned(e.comment));
      if (elems.length > 0) {
        tx.deleteElements(
          this.set(name),
          elems.map((e) => ({ key: e.key })),
        );
        n += elems.length;
      }
    }
    return n;
  }

  private elements(sbx: SandboxRecord, ep: EndpointRecord): { set: string; elem: SetElement }[] {
    const out: { set: string; elem: SetElement }[] = [];
    const comment = `sbx=${sbx.name}`;
    for (const p of ep.ports) {
      const proto = p.protocol === 'tcp' ? TCP : UDP;
      const v6 = p.hostIp.includes(':');
      const wildcard = p.hostIp === '0.0.0.0' || p.hostIp === '::';
      if (!v6) {
        const value: [string, number] = [ep.ip, p.containerPort];
        out.push(
          wildcard
            ? { set: 'dnat4_any', elem: { key: [proto, p.hostPort], value, comment } }
            : { set: 'dnat4_ip', elem: { key: [p.hostIp, proto, p.hostPort], value, comment } },
        );
        // 0.0.0.0 on a dual-stack network: the IPv6 side too, as Docker does.
        if (wildcard && ep.ip6)
          out.push({
            set: 'dnat6_any',
            elem: { key: [proto, p.hostPort], value: [ep.ip6, p.containerPort], comment },
          });
      } else if (ep.ip6) {
        const value: [string, number] = [ep.ip6, p.containerPort];
        out.push(
          wildcard
            ? { set: 'dnat6_any', elem: { key: [proto, p.hostPort], value, comment } }
            : { set: 'dnat6_ip', elem: { key: [p.hostIp, proto, p.hostPort], value, comment } },
        );
      }
    }
    return out;
  }

  async publishBatch(sbx: SandboxRecord, ep: EndpointRecord): Promise<Buffer | undefined> {
    const elems = this.elements(sbx, ep);
    if (elems.length === 0) return undefined;
    await this.ensureTable();
    const tx = this.nft.transaction();
    for (const { set, elem } of elems) tx.addElements(this.set(set), [elem]);
    return (await tx.build()).batch;
  }

  /** Element deletions of concurrent removals, sent together (see Coalescer). */
  private readonly deletions = new Coalescer<{ set: string; key: SetElement['key'] }[]>(
    async (lists) => {
      const tx = this.nft.transaction();
      for (const list of lists)
        for (const { set, key } of list) tx.deleteElements(this.set(set), [{ key }]);
      await tx.commit();
    },
    async (list) => {
      const tx = this.nft.transaction();
      for (const { set, key } of list) tx.deleteElements(this.set(set), [{ key }]);
      try {
        await tx.commit();
      } catch (err) {
        // Already gone (a removal finishing after a crash): nothing to undo.
        if (!(err instanceof NetlinkError && err.code === 'ENOENT')) throw err;
      }
    },
  );

  async unpublish(sbx: SandboxRecord, ep: EndpointRecord): Promise<void> {
    const elems = this.elements(sbx, ep);
    if (elems.length === 0) return;
    await this.deletions.submit(elems.map(({ set, elem }) => ({ set, key: elem.key })));
    // UDP has no end: its conntrack entries would keep DNATing a client's
    // packets to this (gone) sandbox for as long as they keep coming, and
    // a later publication of the same port would never see them.
    for (const p of ep.ports) {
      if (p.protocol !== 'udp') continue;
      const ip = p.hostIp.includes(':') ? ep.ip6 : ep.ip;
      if (ip)
        await this.conntrack.flush({ protocol: 'udp', reply: { src: ip, sport: p.containerPort } });
    }
  }

  async reown(from: SandboxRecord, to: SandboxRecord): Promise<void> {
    const tx = this.nft.transaction();
    for (const ep of from.endpoints) {
      for (const { set, elem } of this.elements(from, ep)) {
        tx.deleteElements(this.set(set), [{ key: elem.key }]);
        tx.addElements(this.set(set), [{ ...elem, comment: `sbx=${to.name}` }]);
      }
    }
    await tx.commit();
  }

  async prune(sandboxes: Set<string>, networks: Set<string>): Promise<number> {
    const tables = await this.nft.listTables('inet');
    if (!tables.some((t) => t.name === this.table.name)) return 0;
    const tx = this.nft.transaction();
    let n = await this.deleteOwned(
      tx,
      ['dnat4_ip', 'dnat4_any', 'dnat6_ip', 'dnat6_any'],
      (c) => c?.startsWith('sbx=') === true && !sandboxes.has(c.slice(4)),
    );
    n += await this.deleteOwned(
      tx,
      ['bridges', 'internal', 'intra'],
      (c) => c?.startsWith('net=') === true && !networks.has(c.slice(4)),
    );
    for (const chain of NETWORK_CHAINS) {
      for (const r of await this.nft.listRules({ family: 'inet', table: this.table.name, chain })) {
        if (r.comment?.startsWith('net=') && !networks.has(r.comment.slice(4))) {
          tx.deleteRule({ family: 'inet', table: this.table.name, chain, handle: r.handle });
          n++;
        }
      }
    }
    if (n > 0) await tx.commit();
    return n;
  }

  async close(): Promise<void> {
    await this.nft.close();
    await this.conntrack.close();
  }
}

/** The engine's table: `netplumb`, or `netplumb_TAG` for an engine with its own state directory. */
export async function openFirewall(
  tag: string,
  defaultStateDir: boolean,
  netns?: NetNS,
): Promise<Firewall> {
  return NftFirewall.open(defaultStateDir ? 'netplumb' : `netplumb_${tag}`, netns);
}
