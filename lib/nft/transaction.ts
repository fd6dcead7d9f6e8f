/**
 * Atomic nf_tables transactions: changes are queued, then sent as one
 * NFNL_MSG_BATCH_BEGIN ... BATCH_END batch in one sendmsg. The kernel applies
 * all of them or none (`nft -f FILE` works the same way).
 */
import { constants } from 'node:os';

import { K, native, type NativeTransaction } from '../binding';
import { NftCommitError, NftRepliesLostError, ValidationError } from '../errors';
import { F_ACK, F_CREATE, familyNumber } from './common';
import { type CompileEnv } from './compile';
import { elementsWire } from './elements';
import { chainRefWire, chainText, chainWire, validateChainRef, validateChainSpec } from './chains';
import {
  compileRuleSpec,
  ruleRefWire,
  ruleText,
  ruleWire,
  validateHandle,
  validateRuleRef,
} from './rules';
import { setKey, setText, setWire, validateSetRef, validateSetSpec, type SetInfo } from './sets';
import { tableRefWire, tableText, tableWire, validateTableRef, validateTableSpec } from './tables';
import type {
  ChainRef,
  ChainSpec,
  RuleRef,
  RuleSpec,
  SetElement,
  SetRef,
  SetSpec,
  Stmt,
  TableRef,
  TableSpec,
} from './types';

/** Options of {@link Transaction.commit}. */
export interface CommitOptions {
  /**
   * The ruleset generation this transaction was planned against
   * (`nft.generation()`): if the ruleset changed since, the kernel refuses
   * the whole batch (NftCommitError, code ERESTART, index -1).
   */
  genId?: number;
  /**
   * @internal tests: a fixed receive buffer (SO_RCVBUF bytes) for the
   * batch's replies, not grown to hold them, so the kernel drops some.
   */
  rcvbuf?: number;
}

/** What a committed transaction made. */
export interface CommitResult {
  /** handles of the rules added, inserted or replaced, in the order they were queued */
  ruleHandles: number[];
  /** per queued change (the index NftCommitError reports): the new rule's handle, if it made one */
  handles: (number | undefined)[];
  /** the ruleset generation this commit made (absent for an empty transaction) */
  generation?: number;
}

/** What a transaction needs from its Nft handle. @internal */
export interface NftContext {
  /** the ruleset generation (NFT_MSG_GETGEN) */
  generation(): Promise<number>;
  /** sends one batch (one sendmsg) and returns every reply */
  transact(batch: Buffer, what: string, opts?: { rcvbuf?: number }): Promise<NativeTransaction>;
  /** a set this handle knows (cached from earlier lookups and commits) */
  knownSet(ref: SetRef): SetInfo | undefined;
  /** fetches sets from the kernel; missing ones map to an Error (ENOENT) */
  fetchSets(refs: SetRef[]): Promise<Map<string, SetInfo | NftCommitError>>;
  /** after a commit: what the transaction created or removed */
  committed(created: SetInfo[], removed: (SetRef | TableRef)[]): void;
  /** after a refused commit */
  refused(): void;
}

type SetLookup = (ref: SetRef) => SetInfo | undefined;

interface Change {
  desc: string;
  /** sets (made before this transaction) the change needs to know */
  needs: SetRef[];
  /** the messages of this change */
  build(sets: SetLookup): Buffer[];
  /** this change creates a rule: its handle comes back (NLM_F_ECHO) */
  rule?: boolean;
  /**
   * the kernel's echo of this change's first message is small (one object,
   * or a few elements), so it may carry NLM_F_ECHO when it opens the batch
   */
  echoes?: boolean;
  creates?: SetInfo;
  removes?: SetRef | TableRef;
}

const ECHO_RULE = (): number => K.NLM_F_REQUEST | K.NLM_F_ACK | K.NLM_F_ECHO;
/** Element changes up to this many elements echo little enough to open a batch with NLM_F_ECHO. */
const ECHO_ELEMENTS = 16;

/** The names of the sets a rule's statements use. */
function setsOf(stmts: readonly Stmt[]): string[] {
  const out: string[] = [];
  for (const s of stmts) {
    if ('match' in s && 'set' in s) out.push(s.set);
    else if ('vmap' in s) out.push(s.vmap.set);
    else if ('nat' in s && s.map) out.push(s.map.set);
  }
  return out;
}

/** How many netlink messages a buffer holds. */
function messageCount(buf: Buffer): number {
  let n = 0;
  for (let o = 0; o + 4 <= buf.length; n++) {
    const len = buf.readUInt32LE(o);
    if (len < 16) break;
    o += (len + 3) & ~3;
  }
  return n;
}

/**
 * An atomic nf_tables transaction: queue changes (each method names its
 * `nft` command), then {@link Transaction.commit} sends them as one batch
 * that the kernel applies entirely or not at all, like `nft -f FILE`. Get
 * one from {@link Nft.transaction}.
 */
export class Transaction {
  private readonly changes: Change[] = [];
  /** sets created by queued changes, by setKey */
  private readonly created = new Map<string, SetInfo>();
  private nextSetId = 1;
  /** open: changes may be queued; busy: a commit is in flight; done: committed */
  private state: 'open' | 'busy' | 'done' = 'open';

  /** @internal use nft.transaction() */
  constructor(private readonly ctx: NftContext) {}

  /** Number of queued changes. */
  get size(): number {
    return this.changes.length;
  }

  /** The queued changes in nft's words (`add rule inet t c`), by index. */
  describe(): string[] {
    return this.changes.map((c) => c.desc);
  }

  private known(ref: SetRef): SetInfo | undefined {
    return this.created.get(setKey(ref)) ?? this.ctx.knownSet(ref);
  }

  private assertOpen(): void {
    if (this.state !== 'open') {
      throw new ValidationError(
        'transaction',
        this.state === 'busy' ? 'is being committed' : 'was committed; start a new one',
      );
    }
  }

  private push(change: Change): this {
    this.assertOpen();
    this.changes.push(change);
    return this;
  }

  /** Queues `nft add table FAMILY NAME [{ flags ...; comment ...; }]` (no error if it exists). */
  addTable(spec: TableSpec): this {
    validateTableSpec(spec);
    return this.push({
      desc: `add table ${tableText(spec)}`,
      needs: [],
      build: () => [native.encode('newtable', tableWire(spec, F_ACK()))],
      echoes: true,
    });
  }

  /** Queues `nft delete table FAMILY NAME` (with everything in it). */
  deleteTable(ref: TableRef): this {
    const r = validateTableRef(ref);
    return this.push({
      desc: `delete table ${tableText(r)}`,
      needs: [],
      build: () => [native.encode('deltable', tableRefWire(r, F_ACK()))],
      removes: r,
    });
  }

  /** Queues `nft flush table FAMILY NAME`: every rule of every chain in it goes. */
  flushTable(ref: TableRef): this {
    const r = validateTableRef(ref);
    return this.push({
      desc: `flush table ${tableText(r)}`,
      needs: [],
      build: () => [
        native.encode('delrule', ruleRefWire({ family: r.family, table: r.name }, F_ACK())),
      ],
    });
  }

  /** Queues `nft add chain FAMILY TABLE NAME [{ type T hook H priority P; policy X; }]`. */
  addChain(spec: ChainSpec): this {
    validateChainSpec(spec);
    return this.push({
      desc: `add chain ${chainText(spec)}`,
      needs: [],
      build: () => [native.encode('newchain', chainWire(spec, F_CREATE()))],
      echoes: true,
    });
  }

  /** Queues `nft delete chain FAMILY TABLE NAME` (it must be empty and unreferenced). */
  deleteChain(ref: ChainRef): this {
    const r = validateChainRef(ref);
    return this.push({
      desc: `delete chain ${chainText(r)}`,
      needs: [],
      build: () => [native.encode('delchain', chainRefWire(r, F_ACK()))],
      echoes: true,
    });
  }

  /** Queues `nft flush chain FAMILY TABLE NAME`. */
  flushChain(ref: ChainRef): this {
    const r = validateChainRef(ref);
    return this.push({
      desc: `flush chain ${chainText(r)}`,
      needs: [],
      build: () => [
        native.encode(
          'delrule',
          ruleRefWire({ family: r.family, table: r.table, chain: r.name }, F_ACK()),
        ),
      ],
    });
  }

  /**
   * Queues `nft add set|map FAMILY TABLE NAME { type K [: V]; flags ...;
   * elements = { ... } }`; later changes of the transaction can use it.
   */
  addSet(spec: SetSpec): this {
    this.assertOpen();
    const info: SetInfo = { ...validateSetSpec(spec), id: this.nextSetId };
    const elems =
      spec.elements !== undefined ? elementsWire(info, spec.elements, 'set.elements') : undefined;
    this.nextSetId++;
    this.created.set(setKey(spec), info);
    return this.push({
      desc: `add ${spec.map !== undefined ? 'map' : 'set'} ${setText(spec)}`,
      needs: [],
      build: () => {
        const out = [native.encode('newset', setWire(spec, info, F_CREATE()))];
        if (elems && elems.length > 0) {
          out.push(
            native.encode('newsetelem', {
              flags: F_CREATE(),
              family: familyNumber(spec.family),
              table: spec.table,
              set: spec.name,
              setId: info.id!,
              elements: elems,
            }),
          );
        }
        return out;
      },
      creates: info,
      echoes: true,
    });
  }

  /** Queues `nft delete set FAMILY TABLE NAME` (no rule may use it). */
  deleteSet(ref: SetRef): this {
    this.assertOpen();
    const r = validateSetRef(ref);
    this.created.delete(setKey(r));
    return this.push({
      desc: `delete set ${setText(r)}`,
      needs: [],
      build: () => [
        native.encode('delset', {
          flags: F_ACK(),
          family: familyNumber(r.family),
          table: r.table,
          name: r.name,
        }),
      ],
      removes: r,
      echoes: true,
    });
  }

  /** Queues `nft flush set FAMILY TABLE NAME`: every element goes. */
  flushSet(ref: SetRef): this {
    const r = validateSetRef(ref);
    return this.push({
      desc: `flush set ${setText(r)}`,
      needs: [],
      build: () => [
        native.encode('delsetelem', {
          flags: F_ACK(),
          family: familyNumber(r.family),
          table: r.table,
          set: r.name,
        }),
      ],
    });
  }

  private elementsChange(verb: 'add' | 'delete', set: SetRef, elems: readonly SetElement[]): this {
    const r = validateSetRef(set);
    if (!Array.isArray(elems)) throw new ValidationError('elements', 'must be an array');
    const field = 'elements';
    const forDelete = verb === 'delete';
    const now = this.known(r);
    // Validated (and encoded) now when the set is known; reused at commit if it still is.
    const early = now ? elementsWire(now, elems, field, forDelete) : undefined;
    const inTx = this.created.get(setKey(r));
    return this.push({
      desc: `${verb} element ${setText(r)}`,
      needs: inTx ? [] : [r],
      build: (sets) => {
        const info = inTx ?? sets(r)!;
        const elements =
          early && info === now ? early : elementsWire(info, elems, field, forDelete);
        if (elements.length === 0) return [];
        return [
          native.encode(forDelete ? 'delsetelem' : 'newsetelem', {
            flags: forDelete ? F_ACK() : F_CREATE(),
            family: familyNumber(r.family),
            table: r.table,
            set: r.name,
            ...(inTx?.id !== undefined ? { setId: inTx.id } : {}),
            elements,
          }),
        ];
      },
      echoes: elems.length <= ECHO_ELEMENTS,
    });
  }

  /** Queues `nft add element FAMILY TABLE SET { ... }` (large lists go in several messages of the batch). */
  addElements(set: SetRef, elems: readonly SetElement[]): this {
    return this.elementsChange('add', set, elems);
  }

  /** Queues `nft delete element FAMILY TABLE SET { ... }` (keys name the elements). */
  deleteElements(set: SetRef, elems: readonly SetElement[]): this {
    return this.elementsChange('delete', set, elems);
  }

  private ruleChange(
    verb: 'add' | 'insert' | 'replace',
    spec: RuleSpec,
    flags: number,
    at: { handle?: number; position?: number },
  ): this {
    const refs = (Array.isArray(spec.expr) ? setsOf(spec.expr) : []).map((name) => ({
      family: spec.family,
      table: spec.table,
      name,
    }));
    const created = new Map(this.created);
    const envOf = (sets: SetLookup, partial: boolean): CompileEnv => ({
      set: (name) => {
        const ref = { family: spec.family, table: spec.table, name };
        return created.get(setKey(ref)) ?? sets(ref);
      },
      partial,
    });
    compileRuleSpec(
      spec,
      envOf((r) => this.ctx.knownSet(r), true),
    );
    const where =
      at.handle !== undefined
        ? ` handle ${at.handle}`
        : at.position !== undefined
          ? ` position ${at.position}`
          : '';
    return this.push({
      desc: `${verb} rule ${ruleText(spec)}${where}`,
      needs: refs.filter((r) => !created.has(setKey(r))),
      build: (sets) => [
        native.encode(
          'newrule',
          ruleWire(spec, compileRuleSpec(spec, envOf(sets, false)), flags, at),
        ),
      ],
      rule: true,
      echoes: true,
    });
  }

  /** Queues `nft add rule FAMILY TABLE CHAIN [position AFTER] STATEMENTS` (appends, or goes after rule `after`). */
  addRule(spec: RuleSpec & { after?: number }): this {
    const at = spec.after !== undefined ? { position: validateHandle(spec.after, 'after') } : {};
    return this.ruleChange('add', spec, ECHO_RULE() | K.NLM_F_CREATE | K.NLM_F_APPEND, at);
  }

  /** Queues `nft insert rule FAMILY TABLE CHAIN [position BEFORE] STATEMENTS` (prepends, or goes before rule `before`). */
  insertRule(spec: RuleSpec & { before?: number }): this {
    const at = spec.before !== undefined ? { position: validateHandle(spec.before, 'before') } : {};
    return this.ruleChange('insert', spec, ECHO_RULE() | K.NLM_F_CREATE, at);
  }

  /**
   * Queues `nft replace rule FAMILY TABLE CHAIN handle H STATEMENTS`: the
   * rule keeps its place and its handle H (the kernel moves the handle to
   * the new rule; the commit reports H for this change).
   */
  replaceRule(spec: RuleSpec & { handle: number }): this {
    const handle = validateHandle(spec.handle, 'handle');
    return this.ruleChange('replace', spec, ECHO_RULE() | K.NLM_F_REPLACE, {
      handle,
    });
  }

  /** Queues `nft delete rule FAMILY TABLE CHAIN handle H`. */
  deleteRule(ref: RuleRef & { handle: number }): this {
    const r = validateRuleRef(ref);
    const handle = validateHandle(ref.handle, 'handle');
    return this.push({
      desc: `delete rule ${ruleText(r)} handle ${handle}`,
      needs: [],
      build: () => [native.encode('delrule', ruleRefWire(r, F_ACK(), handle))],
      echoes: true,
    });
  }

  /**
   * @internal resolves what the changes need, then encodes the whole batch;
   * `echo`: the batch's first message carries NLM_F_ECHO where its echo is
   * small; `echoing` says whether any message does.
   */
  async build(
    opts: CommitOptions = {},
    echo = false,
  ): Promise<{ batch: Buffer; owner: number[]; echoing: boolean }> {
    if (
      opts.genId !== undefined &&
      (!Number.isInteger(opts.genId) || opts.genId < 0 || opts.genId > 0xffffffff)
    )
      throw new ValidationError('genId', 'must be a generation id from nft.generation()');
    if (
      opts.rcvbuf !== undefined &&
      (!Number.isInteger(opts.rcvbuf) || opts.rcvbuf < 1 || opts.rcvbuf > 0x3fffffff)
    )
      throw new ValidationError('rcvbuf', 'must be a byte count from 1 to 2^30-1');
    const fetched = new Map<string, SetInfo>();
    const missing: SetRef[] = [];
    const seen = new Set<string>();
    for (const c of this.changes) {
      for (const r of c.needs) {
        const k = setKey(r);
        if (seen.has(k)) continue;
        seen.add(k);
        const info = this.ctx.knownSet(r);
        if (info) fetched.set(k, info);
        else missing.push(r);
      }
    }
    if (missing.length > 0) {
      const got = await this.ctx.fetchSets(missing);
      for (const [k, v] of got) {
        if (v instanceof NftCommitError) {
          const index = this.changes.findIndex((c) => c.needs.some((r) => setKey(r) === k));
          throw new NftCommitError({
            code: v.code,
            errno: v.errno,
            index,
            change: this.changes[index]!.desc,
            extack: v.extack,
          });
        }
        fetched.set(k, v);
      }
    }
    for (const r of missing) {
      if (!fetched.has(setKey(r)))
        throw new ValidationError(
          'set',
          `${setText(r)} has key or value types netplumb does not model`,
        );
    }
    const lookup: SetLookup = (r) => fetched.get(setKey(r));
    const parts: Buffer[] = [
      native.encode('batchbegin', opts.genId !== undefined ? { genId: opts.genId } : {}),
    ];
    const owner: number[] = [-1];
    let echoing = false;
    this.changes.forEach((c, i) => {
      for (const buf of c.build(lookup)) {
        // The kernel sends NFT_MSG_NEWGEN to the sender only when the batch's
        // first message asked for an echo (nf_tables_gen_notify looks there).
        if (echo && owner.length === 1 && c.echoes)
          buf.writeUInt16LE(buf.readUInt16LE(6) | K.NLM_F_ECHO, 6);
        if (owner.length === 1 || c.rule) echoing ||= (buf.readUInt16LE(6) & K.NLM_F_ECHO) !== 0;
        parts.push(buf);
        for (let n = messageCount(buf); n > 0; n--) owner.push(i);
      }
    });
    parts.push(native.encode('batchend', {}));
    owner.push(-1);
    return { batch: Buffer.concat(parts), owner, echoing };
  }

  /**
   * Sends every queued change in one batch. Equivalent to `nft -f FILE` with
   * the changes as lines: all take effect or none. Rejects with
   * NftCommitError naming the change the kernel refused.
   */
  async commit(opts: CommitOptions = {}): Promise<CommitResult> {
    if (this.state !== 'open') {
      throw new ValidationError(
        'transaction',
        this.state === 'busy' ? 'is being committed' : 'was committed already',
      );
    }
    const handles: (number | undefined)[] = this.changes.map(() => undefined);
    if (this.changes.length === 0) return { ruleHandles: [], handles };
    // A refused transaction may be committed again (say, with a fresh genId).
    this.state = 'busy';
    let txn: NativeTransaction;
    let owner: number[];
    // A batch nothing of which is echoed: only the generation can tell
    // whether it was applied should its replies be lost.
    let before: number | undefined;
    try {
      const built = await this.build(opts, true);
      owner = built.owner;
      if (!built.echoing) before = opts.genId ?? (await this.ctx.generation());
      txn = await this.ctx.transact(
        built.batch,
        `nftables batch of ${this.changes.length} changes`,
        opts.rcvbuf !== undefined ? { rcvbuf: opts.rcvbuf } : undefined,
      );
    } catch (err) {
      this.state = 'open';
      throw err;
    }
    let generation: number | undefined;
    for (const m of txn.messages) {
      const echo = m.object as { kind?: string; handle?: number; id?: number };
      if (echo.kind === 'gen' && typeof echo.id === 'number') generation = echo.id;
      const i = owner[m.index];
      if (i === undefined || i < 0 || !this.changes[i]!.rule) continue;
      if (echo.kind === 'rule' && typeof echo.handle === 'number') handles[i] = echo.handle;
    }
    const what = `nftables batch of ${this.changes.length} changes`;
    const failed = txn.completions.findIndex(
      (c) => c.error !== 0 && !(txn.overrun && (c.code === 'ENOBUFS' || c.code === 'ECANCELED')),
    );
    // The kernel queues a committed batch's echoes and its NFT_MSG_NEWGEN
    // before any ACK, and always queues the first reply; an aborted batch
    // queues none of them: after an overrun, an echoing batch was applied if
    // and only if any echo (of whatever kind) or the NEWGEN arrived.
    // Otherwise the generation moved on if it was (or, rarely, another
    // writer's commit moved it, or it cannot be read: then this one is taken
    // as applied, so it is never sent twice).
    const applied =
      txn.overrun &&
      (before !== undefined
        ? failed < 0 && (await this.ctx.generation().catch(() => undefined)) !== before
        : txn.messages.length > 0);
    // Applied, and only ACKs were lost: every handle is here, so it is a
    // plain success.
    const complete =
      applied &&
      before === undefined &&
      generation !== undefined &&
      this.changes.every((c, i) => !c.rule || handles[i] !== undefined);
    if (failed >= 0 || (txn.overrun && !applied)) {
      this.state = 'open';
      this.ctx.refused();
      if (failed < 0)
        throw new NftRepliesLostError({ errno: constants.errno.ENOBUFS, op: what, applied: false });
      const c = txn.completions[failed]!;
      const index = owner[failed] ?? -1;
      const change =
        index >= 0
          ? this.changes[index]!.desc
          : opts.genId !== undefined
            ? `batch (generation ${opts.genId})`
            : 'batch';
      throw new NftCommitError({
        code: c.code ?? `E${c.error}`,
        errno: c.error,
        index,
        change,
        extack: c.extack,
      });
    }
    this.state = 'done';
    this.ctx.committed(
      this.changes.flatMap((c) => (c.creates ? [c.creates] : [])),
      this.changes.flatMap((c) => (c.removes ? [c.removes] : [])),
    );
    if (applied && !complete)
      throw new NftRepliesLostError({
        errno: constants.errno.ENOBUFS,
        op: what,
        applied,
        handles,
        generation,
      });
    const ruleHandles = this.changes.flatMap((c, i) =>
      c.rule && handles[i] !== undefined ? [handles[i]] : [],
    );
    return generation !== undefined
      ? { ruleHandles, handles, generation }
      : { ruleHandles, handles };
  }
}
