/**
 * Nft: an nf_tables handle bound to one network namespace. Changes go
 * through atomic transactions (`nft.transaction()...commit()`); listings
 * return the typed model of ./types.
 *
 * Reading back gives each statement in one canonical form, so a rule reads
 * back deepStrictEqual to its spec when the spec uses it:
 * - `op: '=='` is the default and is left out (except for `ct state` and
 *   `ct status`, where no operator means "any of these flags" and '==' means
 *   exactly these);
 * - protocols read back by name where nft has one (`'tcp'`, not 6), ranges
 *   as numbers; a full-length prefix as a plain address (`10.0.0.1`, not
 *   `10.0.0.1/32`); IPv6 addresses in RFC 5952 form; ct flags in bit order;
 * - a set match or map key of one selector as that selector, not a list;
 * - `counter` with its values; `masquerade: {}` (no flag set) as `true`;
 *   `reject: 'icmpx port-unreachable'` as `reject: true` (nft prints both
 *   as `reject`);
 * - a `meta nfproto` / `meta l4proto` match that only serves as the
 *   protocol dependency of the next match folds into it, as nft prints it;
 *   consecutive raw expressions read back as one `{ raw }` statement.
 * Base chains always read back with their policy. Set elements read back
 * sorted by key, the catch-all element (`key: '*'`) last; an element
 * timeout equal to the set's default is not reported by the kernel.
 */
import { K, native, type HandleNative, type NativeTransaction } from '../binding';
import { Channel } from '../channel';
import {
  NetlinkError,
  NftCommitError,
  NotFoundError,
  ValidationError,
  fromSystemError,
} from '../errors';
import type { NetNS } from '../netns';
import { chainFromMsg } from './chains';
import { F_ACK, F_DUMP, familyNumber, validateFamily, validateName } from './common';
import { elementsFromMsgs } from './elements';
import { ruleFromMsg } from './rules';
import { setFromMsg, setKey, setText, validateSetRef, type SetInfo } from './sets';
import { tableFromMsg, validateTableRef } from './tables';
import { Transaction, type NftContext } from './transaction';
import type {
  Chain,
  NftFamily,
  NftSet,
  Rule,
  Ruleset,
  SetElement,
  SetRef,
  Table,
  TableRef,
} from './types';
import type { ChainMsg, GenMsg, NftMsg, RuleMsg, SetElemMsg, SetMsg, TableMsg } from './wire';

/** How often list() re-reads when the ruleset changed while it was reading. */
const LIST_RETRIES = 5;

/** Which rules {@link Nft.listRules} returns: a table's (`nft list table`), or one chain's (`nft list chain`). */
export interface RuleFilter {
  /** the table's family */
  family: NftFamily;
  /** the table's name */
  table: string;
  /** only this chain's rules */
  chain?: string;
}

/**
 * An nf_tables handle in one network namespace: list tables, chains, sets,
 * elements and rules (`nft list ...`) and change them in atomic
 * transactions (`nft -f`). Open it with {@link Nft.open}; close it when done.
 */
export class Nft implements NftContext {
  /** @internal */
  readonly channel: Channel;
  /** sets seen through this handle, so element changes need no lookup */
  private readonly sets = new Map<string, SetInfo>();

  private constructor(
    /** @internal */ readonly handle: HandleNative,
    /** the namespace this handle works in; undefined: this process's own */
    readonly netns: NetNS | undefined,
  ) {
    this.channel = new Channel(handle, K.NETLINK_NETFILTER);
  }

  /**
   * Opens a handle whose netlink socket lives in `netns` (this process's
   * namespace when omitted), like `ip netns exec NS nft ...`. Close it when done.
   */
  static async open(netns?: NetNS): Promise<Nft> {
    const handle = new native.Handle();
    try {
      if (netns) (await handle.enter({ netns: netns.fd })).close();
    } catch (err) {
      await handle.close();
      throw fromSystemError(err, `open nftables in ${netns?.path ?? 'this namespace'}`);
    }
    return new Nft(handle, netns);
  }

  /** Closes the socket and its thread. Idempotent. */
  async close(): Promise<void> {
    await this.handle.close();
  }

  /** A new, empty transaction. Equivalent to writing an `nft -f` file. */
  transaction(): Transaction {
    return new Transaction(this);
  }

  /**
   * The ruleset generation id; every committed batch moves it on. nft asks
   * for it (NFT_MSG_GETGEN) before each command without printing it (`nft
   * monitor` shows new ones); pass it to commit({ genId }) to refuse a batch
   * if anything changed in between.
   */
  async generation(): Promise<number> {
    const msgs = await this.channel.request({
      buf: native.encode('getgen', { flags: F_ACK(), family: K.NFPROTO_UNSPEC }),
      op: 'NFT_MSG_GETGEN',
    });
    const gen = msgs.map((m) => m.object as NftMsg).find((o): o is GenMsg => o.kind === 'gen');
    if (!gen) throw new Error('NFT_MSG_GETGEN: no generation in the reply');
    return gen.id;
  }

  private async dump<T extends NftMsg>(buf: Buffer, op: string, kind: T['kind']): Promise<T[]> {
    const msgs = await this.channel.dumpAll({ buf, op });
    return msgs.map((m) => m.object as NftMsg).filter((o): o is T => o.kind === kind);
  }

  /** Tables, optionally of one family. Equivalent to `nft list tables [FAMILY]`. */
  async listTables(family?: NftFamily): Promise<Table[]> {
    const fam = family === undefined ? K.NFPROTO_UNSPEC : familyNumber(validateFamily(family));
    const msgs = await this.dump<TableMsg>(
      native.encode('gettable', { flags: F_DUMP(), family: fam }),
      'NFT_MSG_GETTABLE dump',
      'table',
    );
    return msgs.flatMap((m) => tableFromMsg(m) ?? []);
  }

  /** Chains, optionally of one table. Equivalent to `nft list chains` / `nft list table FAMILY NAME`. */
  async listChains(table?: TableRef): Promise<Chain[]> {
    const t = table === undefined ? undefined : validateTableRef(table);
    const fam = t === undefined ? K.NFPROTO_UNSPEC : familyNumber(t.family);
    const msgs = await this.dump<ChainMsg>(
      native.encode('getchain', { flags: F_DUMP(), family: fam }),
      'NFT_MSG_GETCHAIN dump',
      'chain',
    );
    return msgs
      .filter((m) => t === undefined || m.table === t.name)
      .flatMap((m) => chainFromMsg(m) ?? []);
  }

  private async setMsgs(table?: TableRef): Promise<SetMsg[]> {
    const t = table === undefined ? undefined : validateTableRef(table);
    const wire =
      t === undefined
        ? { flags: F_DUMP(), family: K.NFPROTO_UNSPEC }
        : { flags: F_DUMP(), family: familyNumber(t.family), table: t.name };
    return this.dump<SetMsg>(native.encode('getset', wire), 'NFT_MSG_GETSET dump', 'set');
  }

  private remember(m: SetMsg): { set: NftSet; info: SetInfo } | undefined {
    const got = setFromMsg(m);
    if (got) this.sets.set(setKey(got.info), got.info);
    return got;
  }

  /**
   * Named sets and maps (without their elements), optionally of one table.
   * Equivalent to `nft list sets [FAMILY TABLE]`. Sets whose key or value
   * types the model has no name for are left out.
   */
  async listSets(table?: TableRef): Promise<NftSet[]> {
    return (await this.setMsgs(table)).flatMap((m) => this.remember(m)?.set ?? []);
  }

  private async elementsOf(info: SetInfo): Promise<SetElement[]> {
    const msgs = await this.dump<SetElemMsg>(
      native.encode('getsetelem', {
        flags: F_DUMP(),
        family: familyNumber(info.family),
        table: info.table,
        set: info.name,
      }),
      `NFT_MSG_GETSETELEM ${setText(info)}`,
      'setelem',
    );
    return elementsFromMsgs(
      info,
      msgs.flatMap((m) => m.elements),
    );
  }

  /**
   * The elements of a set or map, sorted by key. Equivalent to `nft list set
   * FAMILY TABLE NAME`. A missing set is a NotFoundError.
   */
  async listElements(set: SetRef): Promise<SetElement[]> {
    const r = validateSetRef(set);
    const got = await this.fetchSets([r]);
    const info = got.get(setKey(r));
    if (info instanceof NftCommitError) {
      if (info.code === 'ENOENT')
        throw new NotFoundError('set', `set ${setText(r)} does not exist`);
      throw new NetlinkError({
        code: info.code,
        errno: info.errno,
        op: `NFT_MSG_GETSET ${setText(r)}`,
        extack: info.extack,
      });
    }
    if (!info)
      throw new ValidationError(
        'set',
        `${setText(r)} has key or value types the model does not name`,
      );
    return this.elementsOf(info);
  }

  /**
   * Rules, all or those of one table or chain, in chain order. Equivalent to
   * `nft -a list ruleset` / `nft -a list chain FAMILY TABLE CHAIN`.
   */
  async listRules(filter?: RuleFilter): Promise<Rule[]> {
    let wire: { flags: number; family: number; table?: string; chain?: string } = {
      flags: F_DUMP(),
      family: K.NFPROTO_UNSPEC,
    };
    if (filter !== undefined) {
      wire = {
        flags: F_DUMP(),
        family: familyNumber(validateFamily(filter.family, 'filter.family')),
        table: validateName(filter.table, 'filter.table'),
      };
      if (filter.chain !== undefined) wire.chain = validateName(filter.chain, 'filter.chain');
    }
    const msgs = await this.dump<RuleMsg>(
      native.encode('getrule', wire),
      'NFT_MSG_GETRULE dump',
      'rule',
    );
    return msgs.flatMap((m) => ruleFromMsg(m) ?? []);
  }

  /**
   * Everything: tables, chains, sets (with their elements) and rules, read
   * at one generation (re-read if the ruleset changed meanwhile).
   * Equivalent to `nft -a list ruleset`.
   */
  async list(): Promise<Ruleset> {
    for (let attempt = 0; ; attempt++) {
      const before = await this.generation();
      const tables = await this.listTables();
      const chains = await this.listChains();
      const sets: NftSet[] = [];
      for (const m of await this.setMsgs()) {
        const got = this.remember(m);
        if (!got) continue;
        const elements = await this.elementsOf(got.info);
        sets.push(elements.length > 0 ? { ...got.set, elements } : got.set);
      }
      const rules = await this.listRules();
      if ((await this.generation()) === before || attempt >= LIST_RETRIES)
        return { tables, chains, sets, rules };
    }
  }

  // ---- NftContext (used by transactions) ----------------------------------

  /** @internal */
  async transact(
    batch: Buffer,
    what: string,
    opts?: { rcvbuf?: number },
  ): Promise<NativeTransaction> {
    try {
      return await this.handle.transact(K.NETLINK_NETFILTER, batch, opts);
    } catch (err) {
      throw fromSystemError(err, what);
    }
  }

  /** @internal */
  knownSet(ref: SetRef): SetInfo | undefined {
    return this.sets.get(setKey(ref));
  }

  /** @internal */
  async fetchSets(refs: SetRef[]): Promise<Map<string, SetInfo | NftCommitError>> {
    const out = new Map<string, SetInfo | NftCommitError>();
    if (refs.length === 0) return out;
    const requests = refs.map((r) => ({
      buf: native.encode('getset', {
        flags: F_ACK(),
        family: familyNumber(r.family),
        table: r.table,
        name: r.name,
      }),
      op: `NFT_MSG_GETSET ${setText(r)}`,
    }));
    const txn = await this.channel.sendSettled(requests);
    refs.forEach((r, i) => {
      const c = txn.completions[i]!;
      if (c.error !== 0) {
        out.set(
          setKey(r),
          new NftCommitError({
            code: c.code ?? `E${c.error}`,
            errno: c.error,
            index: -1,
            change: `set ${setText(r)}`,
            extack: c.extack ?? `set ${setText(r)} does not exist`,
          }),
        );
        return;
      }
      const m = txn.messages.find((x) => x.index === i)?.object as SetMsg | undefined;
      const got = m && m.kind === 'set' ? this.remember(m) : undefined;
      if (got) out.set(setKey(r), got.info);
    });
    return out;
  }

  /** @internal */
  committed(created: SetInfo[], removed: (SetRef | TableRef)[]): void {
    for (const r of removed) {
      if ('table' in r) this.sets.delete(setKey(r));
      else
        for (const [k, v] of this.sets)
          if (v.family === r.family && v.table === r.name) this.sets.delete(k);
    }
    for (const info of created) {
      const { id: _id, ...rest } = info;
      this.sets.set(setKey(info), rest);
    }
  }

  /** @internal */
  refused(): void {
    this.sets.clear();
  }
}

export { Transaction } from './transaction';
export type { CommitOptions, CommitResult } from './transaction';
export type * from './types';
