/**
 * A netlink protocol spoken over a Handle: pipelined requests with errors
 * mapped to NetlinkError, and dumps (whole, with NLM_F_DUMP_INTR retries, or
 * streamed in bounded chunks).
 */
import type { HandleNative, NativeDumpChunk, NativeMessage, NativeTransaction } from './binding';
import { NetlinkError, fromSystemError } from './errors';

/** One request: its bytes and how to name it in errors (`RTM_NEWLINK vh0`). */
export interface Request {
  buf: Buffer;
  op: string;
}

/** Bytes of replies gathered per native call while streaming a dump. */
const DUMP_CHUNK_BYTES = 256 * 1024;
const DUMP_RETRIES = 5;
/** Streamed dumps are told apart by id: each runs on a netlink socket of its own. */
let nextStream = 1;

export class Channel {
  constructor(
    readonly handle: HandleNative,
    readonly protocol: number,
  ) {}

  /**
   * Sends every request in one sendmsg and waits for all replies. Throws the
   * first failure as a NetlinkError (requests before it have taken effect;
   * rtnetlink does not undo them).
   */
  async send(requests: Request[]): Promise<NativeTransaction> {
    const txn = await this.sendSettled(requests);
    const failed = txn.completions.findIndex((c) => c.error !== 0);
    if (failed >= 0) throw this.errorFor(txn, requests, failed);
    return txn;
  }

  /**
   * Like send, but reports failures per request instead of throwing. After
   * a receive-queue overrun (`overrun`), a completion failed with ENOBUFS
   * means its reply was lost, not that the request failed: it may have
   * taken effect (rtnetlink handles each request as it comes).
   */
  async sendSettled(requests: Request[]): Promise<NativeTransaction> {
    const batch =
      requests.length === 1 ? requests[0]!.buf : Buffer.concat(requests.map((r) => r.buf));
    try {
      return await this.handle.transact(this.protocol, batch);
    } catch (err) {
      // A whole batch failed: named by its first requests (a batch of
      // 20,000 routes made a 600 KB message).
      const ops = requests.slice(0, 3).map((r) => r.op);
      if (requests.length > 3) ops.push(`and ${requests.length - 3} more`);
      throw fromSystemError(err, ops.join(', '));
    }
  }

  /** One request; returns the data messages it got back. */
  async request(req: Request): Promise<NativeMessage[]> {
    const txn = await this.send([req]);
    return txn.messages;
  }

  errorFor(txn: NativeTransaction, requests: Request[], index: number): NetlinkError {
    const c = txn.completions[index]!;
    return new NetlinkError({
      code: c.code ?? `E${c.error}`,
      errno: c.error,
      op: requests[index]?.op ?? 'request',
      extack: c.extack,
    });
  }

  /** A whole dump, retried from scratch while the kernel flags it interrupted. */
  async dumpAll(req: Request): Promise<NativeMessage[]> {
    for (let attempt = 0; ; attempt++) {
      const txn = await this.send([req]);
      if (!txn.interrupted || attempt >= DUMP_RETRIES) {
        if (txn.interrupted) {
          throw new NetlinkError({
            code: 'EINTR',
            errno: 4,
            op: req.op,
            message: `${req.op}: the dump kept changing under us (NLM_F_DUMP_INTR ${attempt + 1} times)`,
          });
        }
        return txn.messages;
      }
    }
  }

  /**
   * Streams a dump in bounded chunks: memory stays flat however large the
   * table. An interrupted dump (NLM_F_DUMP_INTR) cannot be retried once
   * items were yielded, so it ends with a NetlinkError code EINTR.
   */
  async *dumpStream(req: Request): AsyncGenerator<NativeMessage[], void, undefined> {
    const stream = nextStream;
    nextStream = (nextStream + 1) >>> 0;
    let first = true;
    let finished = false;
    // The next chunk is asked for before this one is handed out, so the
    // kernel and the handle's thread fill it while the consumer works.
    let next: Promise<NativeDumpChunk> | undefined;
    try {
      for (;;) {
        let chunk;
        try {
          chunk = await (next ??
            this.handle.dump(
              this.protocol,
              first ? req.buf : null,
              DUMP_CHUNK_BYTES,
              false,
              stream,
            ));
        } catch (err) {
          next = undefined;
          throw fromSystemError(err, req.op);
        }
        next = undefined;
        first = false;
        const c = chunk.completions[0];
        if (c && c.error !== 0) {
          finished = chunk.done;
          throw new NetlinkError({
            code: c.code ?? `E${c.error}`,
            errno: c.error,
            op: req.op,
            extack: c.extack,
          });
        }
        if (chunk.interrupted) {
          finished = chunk.done;
          throw new NetlinkError({
            code: 'EINTR',
            errno: 4,
            op: req.op,
            message: `${req.op}: dump interrupted`,
          });
        }
        if (chunk.done) {
          finished = true;
          if (chunk.messages.length > 0) yield chunk.messages;
          return;
        }
        next = this.handle.dump(this.protocol, null, DUMP_CHUNK_BYTES, false, stream);
        // Settled (and dropped) in `finally` if the consumer stops here.
        next.catch(() => undefined);
        if (chunk.messages.length > 0) yield chunk.messages;
      }
    } finally {
      // A consumer that stopped early: the stream's socket is closed, which
      // ends the kernel's side of the dump.
      if (next) {
        const c = await next.catch(() => undefined);
        if (c?.done === true) finished = true;
      }
      if (!finished && !first)
        await this.handle.dump(this.protocol, null, 0, true, stream).catch(() => undefined);
    }
  }
}
