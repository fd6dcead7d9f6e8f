/**
 * The engine's state directory (default /run/netplumb: tmpfs, so it dies
 * at reboot with the kernel objects it describes).
 *
 *   networks/NAME.json     network records
 *   sandboxes/NAME.json    sandbox records (created O_EXCL: the name's reservation)
 *   ipam/NETWORK/ADDR      one file per allocated address (O_EXCL: no double allocation)
 *   ipam/NETWORK/.cursor4  the last address handed out (.cursor6 for IPv6)
 *   ports/PROTO_PORT/ADDR  one file per published host port and address
 *   locks/NAME             flock(2) files
 *
 * Records are replaced atomically (write a temporary file, rename over);
 * reservations are exclusive file creations, so concurrent processes never
 * hand out the same name, address or port. File operations go to the addon
 * in batches: one trip to the I/O pool for a whole step of the engine.
 *
 * The directory is private (0700, ours) and nothing in it is followed: the
 * addon opens every path with no symlink in any component, so a link
 * planted in place of a record, a directory of addresses or ports, or a
 * lock fails the operation (a NetlinkError, code ELOOP) instead of reaching
 * what it points to. Names become one path component each, checked here.
 */
import { chmod, lstat, mkdir, realpath } from 'node:fs/promises';
import path from 'node:path';

import {
  native,
  type FileLockNative,
  type FsOp,
  type FsResult,
  type LockFileNative,
} from '../binding';
import { ConflictError, ValidationError, fromSystemError } from '../errors';
import type { EndpointRecord } from './records';

const RETRY_MS = [1, 2, 5, 10, 20, 50];

/** How long to wait before trying a taken lock again, the `attempt`th time (see StateStore.lock). */
export function lockRetryMs(attempt: number): number {
  return RETRY_MS[Math.min(attempt, RETRY_MS.length - 1)]!;
}

/** Whether a process exists (our own counts as gone: its temporaries are not in flight). */
export function processAlive(pid: number): boolean {
  if (pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export type RecordKind = 'networks' | 'sandboxes';

/** File names may not hold ':' everywhere we like; IPv6 addresses use '_'. */
const fileOf = (addr: string): string => component(addr.replace(/:/g, '_'), 'address');
const addrOf = (file: string): string => file.replace(/_/g, ':');

/**
 * The host addresses a publication holds: 0.0.0.0 on a dual-stack endpoint
 * holds :: too, as its IPv6 side is published as well (as Docker does).
 */
export function heldAddresses(hostIp: string, dualStack: boolean): string[] {
  return hostIp === '0.0.0.0' && dualStack ? ['0.0.0.0', '::'] : [hostIp];
}

/**
 * A name used as one path component: never empty, ".", ".." or holding "/"
 * or NUL, whatever a record read back says (names are validated when given;
 * this guards the paths themselves).
 */
export function component(name: string, field: string): string {
  if (name === '' || name === '.' || name === '..' || /[/\0]/.test(name))
    throw new ValidationError(field, `${JSON.stringify(name)} cannot name a file`);
  return name;
}

/** A failed file operation of the addon as a typed error (NetlinkError: code, errno, syscall). */
export function fsError(err: Error, op: FsOp): Error {
  return fromSystemError(err, `${op.op} ${op.path}`);
}

/** A list of file operations run in one trip; results by position. */
export class FsBatch {
  readonly ops: FsOp[] = [];

  add(op: FsOp): number {
    this.ops.push(op);
    return this.ops.length - 1;
  }

  /** Runs one operation alone; its result (a failure throws, as run() does). */
  static async one(op: FsOp): Promise<FsResult> {
    const b = new FsBatch();
    b.add(op);
    return (await b.run())[0]!;
  }

  /** Runs the batch; throws the first unexpected failure. */
  async run(): Promise<FsResult[]> {
    if (this.ops.length === 0) return [];
    const results = await native.fsOps(this.ops);
    const failed = results.findIndex((r) => r.error);
    if (failed >= 0) throw fsError(results[failed]!.error!, this.ops[failed]!);
    return results;
  }
}

export class StateStore {
  /**
   * `dir` as every path of the state starts with it: resolved (init()
   * refuses a relative one, or one reached through a symlink), so validated
   * names are appended with a slash; path.join's normalizing pass cost more
   * than the rest of a sandbox's path building.
   */
  private readonly root: string;

  constructor(readonly dir: string) {
    this.root = path.resolve(dir);
  }

  /**
   * Creates the directory tree, private to this user (0700). Refuses a state
   * directory reached through a symlink (give its real path), one owned by
   * another user, and anything but plain directories inside; tightens the
   * mode of ours when it was looser.
   */
  async init(): Promise<void> {
    if (!path.isAbsolute(this.dir))
      throw new ValidationError('stateDir', 'must be an absolute path');
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const real = await realpath(this.dir);
    if (real !== this.root)
      throw new ValidationError(
        'stateDir',
        `${this.dir} is reached through a symlink; give its real path, ${real}`,
      );
    const uid = process.geteuid?.() ?? 0;
    for (const p of [
      this.root,
      ...['networks', 'sandboxes', 'ipam', 'ports', 'locks', 'joins'].map(
        (d) => `${this.root}/${d}`,
      ),
    ]) {
      await mkdir(p, { recursive: true, mode: 0o700 });
      const st = await lstat(p);
      if (!st.isDirectory() || st.isSymbolicLink())
        throw new ValidationError('stateDir', `${p} is not a plain directory`);
      if (st.uid !== uid)
        throw new ValidationError('stateDir', `${p} belongs to uid ${st.uid}, not to this user`);
      if ((st.mode & 0o777) !== 0o700) await chmod(p, 0o700);
    }
  }

  // ---- paths ----

  recordPath(kind: RecordKind, name: string): string {
    return `${this.root}/${kind}/${component(name, kind === 'networks' ? 'network' : 'sandbox')}.json`;
  }

  ipamDir(network: string): string {
    return `${this.root}/ipam/${component(network, 'network')}`;
  }

  addressPath(network: string, addr: string): string {
    return `${this.ipamDir(network)}/${fileOf(addr)}`;
  }

  cursorPath(network: string, family: 4 | 6): string {
    return `${this.ipamDir(network)}/.cursor${family}`;
  }

  /**
   * joins/OWNER/MEMBER: the sandboxes in container mode sharing OWNER's
   * namespace, so a removal finds them without reading every record.
   */
  joinDir(owner: string): string {
    return `${this.root}/joins/${component(owner, 'sandbox')}`;
  }

  /** Operations recording that `member` shares `owner`'s namespace. */
  joinOps(owner: string, member: string): FsOp[] {
    return [
      { op: 'mkdir', path: this.joinDir(owner) },
      {
        op: 'create',
        path: `${this.joinDir(owner)}/${component(member, 'sandbox')}`,
        data: '',
      },
    ];
  }

  /** Operations forgetting that `member` shares `owner`'s namespace. */
  leaveOps(owner: string, member: string): FsOp[] {
    return [
      { op: 'unlink', path: `${this.joinDir(owner)}/${component(member, 'sandbox')}` },
      { op: 'rmdir', path: this.joinDir(owner) },
    ];
  }

  /**
   * Operations handing an endpoint's reservations (its addresses, its host
   * ports) to `owner`: the heir of a shared namespace whose owner goes.
   * Prune frees reservations whose owner holds no such endpoint.
   */
  reownOps(ep: EndpointRecord, owner: string): FsOp[] {
    const ops: FsOp[] = [];
    for (const addr of [ep.ip, ep.ip6])
      if (addr) ops.push({ op: 'replace', path: this.addressPath(ep.network, addr), data: owner });
    for (const m of ep.ports)
      for (const ip of heldAddresses(m.hostIp, ep.ip6 !== undefined))
        ops.push({
          op: 'replace',
          path: `${this.portDir(m.protocol, m.hostPort)}/${fileOf(ip)}`,
          data: owner,
        });
    return ops;
  }

  private portDir(protocol: string, port: number): string {
    if ((protocol !== 'tcp' && protocol !== 'udp') || !Number.isInteger(port))
      throw new ValidationError('publish', `${protocol}/${port} is not a port`);
    return `${this.root}/ports/${protocol}_${port}`;
  }

  // ---- files of the state directory itself (dns.pid, ...) ----

  /** A file at the top of the state directory; undefined when missing. Never follows a symlink. */
  async readFile(name: string): Promise<string | undefined> {
    const r = await FsBatch.one({ op: 'read', path: `${this.root}/${component(name, 'file')}` });
    return r.ok ? r.text : undefined;
  }

  /** Replaces a file at the top of the state directory atomically (a symlink there is replaced, not followed). */
  async writeFile(name: string, text: string): Promise<void> {
    await FsBatch.one({
      op: 'replace',
      path: `${this.root}/${component(name, 'file')}`,
      data: text,
    });
  }

  async removeFile(name: string): Promise<void> {
    await FsBatch.one({ op: 'unlink', path: `${this.root}/${component(name, 'file')}` });
  }

  // ---- records ----

  async write(kind: RecordKind, name: string, record: object): Promise<void> {
    await FsBatch.one({
      op: 'replace',
      path: this.recordPath(kind, name),
      data: JSON.stringify(record),
    });
  }

  /** Creates a record only if the name is free. */
  async create(kind: RecordKind, name: string, record: object): Promise<boolean> {
    return (
      await FsBatch.one({
        op: 'create',
        path: this.recordPath(kind, name),
        data: JSON.stringify(record),
      })
    ).ok;
  }

  async read<T>(kind: RecordKind, name: string): Promise<T | undefined> {
    const r = await FsBatch.one({ op: 'read', path: this.recordPath(kind, name) });
    return r.ok ? (JSON.parse(r.text!) as T) : undefined;
  }

  async remove(kind: RecordKind, name: string): Promise<void> {
    await FsBatch.one({ op: 'unlink', path: this.recordPath(kind, name) });
  }

  async names(kind: RecordKind): Promise<string[]> {
    const entries =
      (await FsBatch.one({ op: 'readdir', path: `${this.root}/${kind}` })).entries ?? [];
    return entries
      .filter((e) => e.endsWith('.json'))
      .map((e) => e.slice(0, -5))
      .sort();
  }

  /** Every record of a kind, read in one batch. */
  async all<T>(kind: RecordKind): Promise<T[]> {
    const names = await this.names(kind);
    const b = new FsBatch();
    for (const n of names) b.add({ op: 'read', path: this.recordPath(kind, n) });
    return (await b.run()).filter((r) => r.ok).map((r) => JSON.parse(r.text!) as T);
  }

  // ---- addresses ----

  async ipamInit(network: string): Promise<void> {
    await FsBatch.one({ op: 'mkdir', path: this.ipamDir(network) });
  }

  /** Reserves `addr` in `network` for `owner`; false if taken. */
  async reserveAddress(network: string, addr: string, owner: string): Promise<boolean> {
    return (await FsBatch.one({ op: 'create', path: this.addressPath(network, addr), data: owner }))
      .ok;
  }

  async releaseAddress(network: string, addr: string): Promise<void> {
    await FsBatch.one({ op: 'unlink', path: this.addressPath(network, addr) });
  }

  /** Allocated addresses of a network and their owners. */
  async addresses(network: string): Promise<Map<string, string>> {
    const files = (
      (await FsBatch.one({ op: 'readdir', path: this.ipamDir(network) })).entries ?? []
    ).filter((e) => !e.startsWith('.'));
    const b = new FsBatch();
    for (const f of files) b.add({ op: 'read', path: `${this.ipamDir(network)}/${f}` });
    const out = new Map<string, string>();
    (await b.run()).forEach((r, i) => {
      if (r.ok) out.set(addrOf(files[i]!), r.text!);
    });
    return out;
  }

  async cursor(network: string, family: 4 | 6): Promise<string | undefined> {
    const r = await FsBatch.one({ op: 'read', path: this.cursorPath(network, family) });
    return r.ok ? r.text!.trim() || undefined : undefined;
  }

  async ipamRemove(network: string): Promise<void> {
    const list = new FsBatch();
    list.add({ op: 'readdir', path: this.ipamDir(network) });
    const b = new FsBatch();
    for (const f of (await list.run())[0]!.entries ?? [])
      b.add({ op: 'unlink', path: `${this.ipamDir(network)}/${f}` });
    b.add({ op: 'rmdir', path: this.ipamDir(network) });
    await b.run();
  }

  // ---- host ports ----
  // ports/PROTO_PORT/ADDR: one directory per protocol and port, one file per
  // host address holding it, so address conflicts are one readdir away.

  /**
   * Reserves protocol/port/address for `owner`, in one trip; also says which
   * other addresses of that port are held (their files), for conflict checks.
   */
  async reservePort(
    protocol: string,
    port: number,
    hostIp: string,
    owner: string,
  ): Promise<{ made: boolean; others: string[] }> {
    const dir = this.portDir(protocol, port);
    const mine = fileOf(hostIp);
    const b = new FsBatch();
    b.add({ op: 'mkdir', path: dir });
    b.add({ op: 'create', path: `${dir}/${mine}`, data: owner });
    b.add({ op: 'readdir', path: dir });
    const r = await b.run();
    const others = (r[2]!.entries ?? [])
      .filter((f) => f !== mine && !f.startsWith('.'))
      .map(addrOf);
    return { made: r[1]!.ok, others };
  }

  /**
   * reservePort as steps of a sandbox job: make the port's directory, create
   * the address's file, then check that no conflicting address holds the
   * port. The check is coarser than reserveOne's (a wildcard accepts no
   * other address of either family): a refusal only sends the caller to the
   * careful path. A step's `undo` takes back what it made (run them in reverse).
   */
  portSteps(
    protocol: string,
    port: number,
    hostIp: string,
    owner: string,
    dualStack = false,
  ): { step: FsOp; undo?: FsOp }[] {
    const dir = this.portDir(protocol, port);
    const mine = heldAddresses(hostIp, dualStack).map(fileOf);
    const wildcard = hostIp.includes(':') ? '::' : '0.0.0.0';
    return [
      { step: { op: 'mkdir', path: dir }, undo: { op: 'rmdir', path: dir } },
      ...mine.map((f): { step: FsOp; undo: FsOp } => ({
        step: { op: 'create', path: `${dir}/${f}`, data: owner },
        undo: { op: 'unlink', path: `${dir}/${f}` },
      })),
      {
        // All files made before the check: a concurrent reservation of
        // either family sees ours, or we see its (onlyEntry: '/'-separated).
        step:
          hostIp === wildcard
            ? { op: 'onlyEntry', path: dir, data: mine.join('/') }
            : { op: 'absent', path: `${dir}/${fileOf(wildcard)}` },
      },
    ];
  }

  async releasePort(
    protocol: string,
    port: number,
    hostIp: string,
    dualStack = false,
  ): Promise<void> {
    const b = new FsBatch();
    for (const op of this.releasePortOps(protocol, port, hostIp, dualStack)) b.add(op);
    await b.run();
  }

  releasePortOps(protocol: string, port: number, hostIp: string, dualStack = false): FsOp[] {
    const dir = this.portDir(protocol, port);
    return [
      ...heldAddresses(hostIp, dualStack).map((ip): FsOp => ({
        op: 'unlink',
        path: `${dir}/${fileOf(ip)}`,
      })),
      { op: 'rmdir', path: dir },
    ];
  }

  /** Holders of a protocol/port: host address -> sandbox. */
  async portHolders(protocol: string, port: number): Promise<Map<string, string>> {
    const dir = this.portDir(protocol, port);
    const files = ((await FsBatch.one({ op: 'readdir', path: dir })).entries ?? []).filter(
      (f) => !f.startsWith('.'),
    );
    const b = new FsBatch();
    for (const f of files) b.add({ op: 'read', path: `${dir}/${f}` });
    const out = new Map<string, string>();
    (await b.run()).forEach((r, i) => {
      if (r.ok) out.set(addrOf(files[i]!), r.text!);
    });
    return out;
  }

  /** Every reservation: [protocol, port, hostIp, owner]. */
  async allPorts(): Promise<[string, number, string, string][]> {
    const list = new FsBatch();
    list.add({ op: 'readdir', path: `${this.root}/ports` });
    const out: [string, number, string, string][] = [];
    for (const d of (await list.run())[0]!.entries ?? []) {
      const [protocol, port] = d.split('_');
      for (const [ip, owner] of await this.portHolders(protocol!, Number(port)))
        out.push([protocol!, Number(port), ip, owner]);
    }
    return out;
  }

  // ---- locks ----

  lockPath(name: string): string {
    return `${this.root}/locks/${component(name, 'lock')}`;
  }

  /** Opens (creating) locks/NAME to take its locks from the event loop's thread (see OperationLocks). */
  async openLockFile(name: string): Promise<LockFileNative> {
    const file = this.lockPath(name);
    try {
      return await native.openLockFile(file);
    } catch (err) {
      throw fromSystemError(err, `lock ${file}`);
    }
  }

  /** Tries once to take an flock on locks/NAME: what releases it, or undefined when another holder has it. */
  async tryLock(name: string, exclusive: boolean): Promise<(() => void) | undefined> {
    const file = this.lockPath(name);
    let held: FileLockNative | null;
    try {
      held = await native.tryLock(file, exclusive);
    } catch (err) {
      throw fromSystemError(err, `lock ${file}`);
    }
    return held
      ? () => {
          held.release();
        }
      : undefined;
  }

  /**
   * Takes an flock on locks/NAME (shared or exclusive), retrying while
   * another holder has it. The kernel releases it if this process dies.
   */
  async lock(name: string, exclusive: boolean, timeoutMs = 60_000): Promise<() => void> {
    const end = Date.now() + timeoutMs;
    for (let attempt = 0; ; attempt++) {
      const release = await this.tryLock(name, exclusive);
      if (release) return release;
      if (Date.now() > end)
        throw new ConflictError(
          'stateDir',
          `timed out after ${timeoutMs / 1000} s waiting for lock ${name} (another process holds it)`,
        );
      await new Promise((r) => setTimeout(r, lockRetryMs(attempt)));
    }
  }

  /**
   * Removes what writes interrupted by a crash left: `.tmp.PID.N` files of
   * processes that are gone, in every directory the state uses (plus any
   * extra ones, like the /etc/netns directories of sandboxes).
   */
  async sweepTemporaries(extra: string[] = []): Promise<number> {
    const dirs = [`${this.root}/networks`, `${this.root}/sandboxes`, ...extra];
    for (const parent of ['ipam', 'ports']) {
      for (const e of (await FsBatch.one({ op: 'readdir', path: `${this.root}/${parent}` }))
        .entries ?? [])
        dirs.push(`${this.root}/${parent}/${e}`);
    }
    // One directory at a time: one that is not a plain directory (a planted
    // symlink, a file) is skipped, not followed, and does not stop the sweep.
    const b = new FsBatch();
    for (const d of dirs) {
      const list = new FsBatch();
      list.add({ op: 'readdir', path: d });
      const entries = await list.run().then(
        (r) => r[0]!.entries ?? [],
        () => [] as string[],
      );
      for (const e of entries) {
        const m = /^\.tmp\.(\d+)\./.exec(e);
        if (m && !processAlive(Number(m[1]))) b.add({ op: 'unlink', path: `${d}/${e}` });
      }
    }
    await b.run();
    return b.ops.length;
  }
}
