/**
 * Typed errors. Every failure netplumb reports is one of these, so callers
 * can branch on `code` instead of parsing messages.
 */
import { constants as osConstants } from 'node:os';

import type { CtEntry } from './conntrack';

/** A kernel (or system call) refusal: the netlink ACK error, with its extended-ACK text. */
export class NetlinkError extends Error {
  /** 'NetlinkError' (or a subclass's name) */
  override readonly name: string = 'NetlinkError';
  /** errno name: 'EEXIST', 'ENODEV', 'EPERM', ... */
  readonly code: string;
  /** positive errno number */
  readonly errno: number;
  /** the system call that failed ('sendmsg' for netlink requests) */
  readonly syscall: string;
  /** the kernel's extended-ACK message, when it gave one */
  readonly extack: string | undefined;
  /** what was being done, e.g. `RTM_NEWLINK vh0` */
  readonly op: string;

  constructor(opts: {
    code: string;
    errno: number;
    op: string;
    syscall?: string;
    extack?: string | undefined;
    message?: string;
  }) {
    const detail = opts.extack ? `: ${opts.extack}` : '';
    super(opts.message ?? `${opts.op} failed: ${opts.code}${detail}`);
    this.code = opts.code;
    this.errno = opts.errno;
    this.syscall = opts.syscall ?? 'sendmsg';
    this.extack = opts.extack;
    this.op = opts.op;
  }
}

/**
 * An nf_tables transaction the kernel refused. The batch was applied all or
 * nothing, so nothing of it remains. `index` is the queued change that
 * failed (0-based, in the order the Transaction methods were called; -1 when
 * the batch as a whole was refused, e.g. a stale generation id: ERESTART).
 */
export class NftCommitError extends NetlinkError {
  /** 'NftCommitError' */
  override readonly name: string = 'NftCommitError';
  /** which queued change failed (0-based); -1 for the batch itself */
  readonly index: number;
  /** the change in nft's words: `add rule inet netplumb forward` */
  readonly change: string;

  constructor(opts: {
    code: string;
    errno: number;
    index: number;
    change: string;
    extack?: string | undefined;
    message?: string;
  }) {
    const detail = opts.extack ? `: ${opts.extack}` : '';
    const where = opts.index >= 0 ? `change #${opts.index} (${opts.change})` : opts.change;
    super({
      code: opts.code,
      errno: opts.errno,
      op: opts.change,
      extack: opts.extack,
      message: opts.message ?? `nftables transaction refused at ${where}: ${opts.code}${detail}`,
    });
    this.index = opts.index;
    this.change = opts.change;
  }
}

/**
 * An nf_tables batch whose replies did not all reach us: the kernel queued
 * more than the socket's receive buffer holds and dropped the rest (ENOBUFS).
 * The batch itself was applied all or nothing, and `applied` says which,
 * from the replies that did arrive (the kernel queues the echoes of a
 * committed batch, with the new generation, before any ACK, and never drops
 * the first reply):
 * - true: the batch took effect; the transaction is done (committing it
 *   again is refused, so nothing is applied twice). `handles` holds the
 *   rule handles that came back, undefined where the echo was lost.
 * - false: the kernel refused the batch (the error saying why was lost);
 *   nothing of it remains and the transaction may be committed again.
 */
export class NftRepliesLostError extends NetlinkError {
  /** 'NftRepliesLostError' */
  override readonly name: string = 'NftRepliesLostError';
  /** whether the kernel applied the batch */
  readonly applied: boolean;
  /** applied: per queued change, the new rule's handle, if its echo arrived */
  readonly handles: (number | undefined)[];
  /** applied: the ruleset generation the batch made, if that reply arrived */
  readonly generation: number | undefined;

  constructor(opts: {
    errno: number;
    op: string;
    applied: boolean;
    handles?: (number | undefined)[];
    generation?: number | undefined;
  }) {
    super({
      code: 'ENOBUFS',
      errno: opts.errno,
      op: opts.op,
      syscall: 'recvmsg',
      message: opts.applied
        ? `${opts.op}: applied, but the kernel dropped some of its replies (ENOBUFS: receive queue overrun); rule handles may be missing. Do not commit it again.`
        : `${opts.op}: refused by the kernel, which dropped its replies and with them the reason (ENOBUFS: receive queue overrun); nothing was applied`,
    });
    this.applied = opts.applied;
    this.handles = opts.handles ?? [];
    this.generation = opts.generation;
  }
}

/**
 * A `Conntrack.flush` in which the kernel refused to delete some entries
 * (other than entries already gone). Every matching entry was tried: the
 * others are deleted, `deleted` says how many, and `failures` lists each
 * refused entry with its error. `code`, `errno` and `extack` are the first
 * failure's.
 */
export class ConntrackFlushError extends NetlinkError {
  /** 'ConntrackFlushError' */
  override readonly name: string = 'ConntrackFlushError';
  /** how many entries were deleted */
  readonly deleted: number;
  /** the entries the kernel refused to delete, each with its error */
  readonly failures: readonly { entry: CtEntry; error: NetlinkError }[];

  constructor(deleted: number, failures: { entry: CtEntry; error: NetlinkError }[]) {
    const first = failures[0]!.error;
    super({
      code: first.code,
      errno: first.errno,
      op: first.op,
      extack: first.extack,
      message:
        `conntrack flush: ${failures.length} entr${failures.length === 1 ? 'y' : 'ies'} ` +
        `not deleted (first: ${first.message}); ${deleted} deleted`,
    });
    this.deleted = deleted;
    this.failures = failures;
  }
}

/** Bad input, refused before anything reached the kernel. `field` names what was wrong. */
export class ValidationError extends Error {
  /** 'ValidationError' */
  override readonly name = 'ValidationError';
  /** always 'ERR_NETPLUMB_INVALID' */
  readonly code = 'ERR_NETPLUMB_INVALID';
  /** the option or argument that was wrong, e.g. `publish[0]` or `peer.name` */
  readonly field: string;

  constructor(field: string, message: string) {
    super(`${field}: ${message}`);
    this.field = field;
  }
}

/** An operation that conflicts with existing state (a name in use, an address taken, ...). */
export class ConflictError extends Error {
  /** 'ConflictError' */
  override readonly name = 'ConflictError';
  /** always 'ERR_NETPLUMB_CONFLICT' */
  readonly code = 'ERR_NETPLUMB_CONFLICT';
  /** the option whose value conflicts, e.g. `name` or `subnet` */
  readonly field: string;

  constructor(field: string, message: string) {
    super(message);
    this.field = field;
  }
}

/** A named object that does not exist (network, sandbox, namespace). */
export class NotFoundError extends Error {
  /** 'NotFoundError' */
  override readonly name = 'NotFoundError';
  /** always 'ERR_NETPLUMB_NOT_FOUND' */
  readonly code = 'ERR_NETPLUMB_NOT_FOUND';
  /** the option that named the missing object */
  readonly field: string;

  constructor(field: string, message: string) {
    super(message);
    this.field = field;
  }
}

/**
 * What a call on a closed handle rejects with: the addon's EBADF (`syscall`
 * 'handle'), for calls that would otherwise start a thread or open a socket
 * of their own before the handle is asked.
 */
export function closedHandleError(op: string): NetlinkError {
  return new NetlinkError({
    code: 'EBADF',
    errno: osConstants.errno.EBADF,
    op,
    syscall: 'handle',
    message: `${op}: handle failed: Bad file descriptor (the handle is closed)`,
  });
}

interface SystemErrorShape {
  code?: unknown;
  errno?: unknown;
  syscall?: unknown;
  message?: unknown;
}

/** Wraps an error thrown by the addon (shaped like Node's SystemError). */
export function fromSystemError(err: unknown, op: string): Error {
  if (err instanceof NetlinkError || err instanceof ValidationError) return err;
  if (err instanceof Error) {
    const e = err as SystemErrorShape;
    if (typeof e.code === 'string' && typeof e.errno === 'number') {
      return new NetlinkError({
        code: e.code,
        errno: e.errno,
        op,
        syscall: typeof e.syscall === 'string' ? e.syscall : 'unknown',
        message: `${op}: ${err.message}`,
      });
    }
  }
  return err instanceof Error ? err : new Error(String(err));
}
