/**
 * The engine's state directory (default /run/netplumb: tmpfs, so it dies
 * at reboot with the kernel objects it describes).
 *
 *   networks/NAME.json     network records
 *   sandboxes/NAME.json    sandbox records (created O_EXCL: the name's reservation)
 *   ipam/NETWORK/ADDR      one file per allocated address (O_EXCL: no double allocation)
 *   ipam/NETWORK/.cursor   the last address handed out
 *   ports/PROTO_PORT/ADDR  one file per published host port and address
 *   locks/NAME             flock(2) files
 *
 * Records are replaced atomically (write a temporary file, rename over);
 * reservations are exclusive file creations, so concurrent processes never
 * hand out the same name, address or port. Nothing follows symlinks.
 */
import { constants as C } from 'node:fs';
import { lstat, mkdir, open, readdir, rename, rmdir, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';

import { native, type FileLockNative } from '../binding';
import { ValidationError } from '../errors';

const RETRY_MS = [1, 2, 5, 10, 20, 50];

async function readText(file: string): Promise<string | undefined> {
  let fh;
  try {
    fh = await open(file, C.O_RDONLY | C.O_NOFOLLOW);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    return await fh.readFile('utf8');
  } finally {
    await fh.close();
  }
}

/** Creates `file` only if it does not exist; false if it does. */
async function createExclusive(file: string, data: string): Promise<boolean> {
  try {
    await writeFile(file, data, {
      flag: C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW,
      mode: 0o600,
    });
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
}

async function unlinkIfExists(file: string): Promise<void> {
  try {
    await unlink(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

let tmpCounter = 0;

export class StateStore {
  constructor(readonly dir: string) {}

  /** Creates the directory tree (0700); refuses a state directory that is a symlink. */
  async init(): Promise<void> {
    if (!path.isAbsolute(this.dir))
      throw new ValidationError('stateDir', 'must be an absolute path');
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    for (const p of [
      this.dir,
      ...['networks', 'sandboxes', 'ipam', 'ports', 'locks'].map((d) => path.join(this.dir, d)),
    ]) {
      await mkdir(p, { recursive: true, mode: 0o700 });
      const st = await lstat(p);
      if (!st.isDirectory() || st.isSymbolicLink())
        throw new ValidationError('stateDir', `${p} is not a plain directory`);
    }
  }

  private file(kind: 'networks' | 'sandboxes', name: string): string {
    return path.join(this.dir, kind, `${name}.json`);
  }

  /** Atomic replace: readers see the old or the new record, never half. */
  async write(kind: 'networks' | 'sandboxes', name: string, record: object): Promise<void> {
    const target = this.file(kind, name);
    const tmp = `${target}.${process.pid}.${++tmpCounter}.tmp`;
    await writeFile(tmp, JSON.stringify(record), {
      flag: C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW,
      mode: 0o600,
    });
    await rename(tmp, target);
  }

  /** Creates a record only if the name is free. */
  create(kind: 'networks' | 'sandboxes', name: string, record: object): Promise<boolean> {
    return createExclusive(this.file(kind, name), JSON.stringify(record));
  }

  async read<T>(kind: 'networks' | 'sandboxes', name: string): Promise<T | undefined> {
    const text = await readText(this.file(kind, name));
    return text === undefined ? undefined : (JSON.parse(text) as T);
  }

  remove(kind: 'networks' | 'sandboxes', name: string): Promise<void> {
    return unlinkIfExists(this.file(kind, name));
  }

  async names(kind: 'networks' | 'sandboxes'): Promise<string[]> {
    const entries = await readdir(path.join(this.dir, kind));
    return entries
      .filter((e) => e.endsWith('.json'))
      .map((e) => e.slice(0, -5))
      .sort();
  }

  async all<T>(kind: 'networks' | 'sandboxes'): Promise<T[]> {
    const out: T[] = [];
    for (const n of await this.names(kind)) {
      const r = await this.read<T>(kind, n);
      if (r) out.push(r);
    }
    return out;
  }

  // ---- addresses ----

  private ipamDir(network: string): string {
    return path.join(this.dir, 'ipam', network);
  }

  async ipamInit(network: string): Promise<void> {
    await mkdir(this.ipamDir(network), { recursive: true, mode: 0o700 });
  }

  /** Reserves `addr` in `network` for `owner`; false if taken. */
  reserveAddress(network: string, addr: string, owner: string): Promise<boolean> {
    return createExclusive(path.join(this.ipamDir(network), addr.replace(/:/g, '_')), owner);
  }

  releaseAddress(network: string, addr: string): Promise<void> {
    return unlinkIfExists(path.join(this.ipamDir(network), addr.replace(/:/g, '_')));
  }

  /** Allocated addresses of a network and their owners. */
  async addresses(network: string): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    let entries: string[];
    try {
      entries = await readdir(this.ipamDir(network));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return out;
      throw err;
    }
    for (const e of entries) {
      if (e.startsWith('.')) continue;
      const owner = await readText(path.join(this.ipamDir(network), e));
      if (owner !== undefined) out.set(e.replace(/_/g, ':'), owner);
    }
    return out;
  }

  async cursor(network: string, family: 4 | 6): Promise<string | undefined> {
    return (
      (await readText(path.join(this.ipamDir(network), `.cursor${family}`)))?.trim() || undefined
    );
  }

  async setCursor(network: string, family: 4 | 6, addr: string): Promise<void> {
    const target = path.join(this.ipamDir(network), `.cursor${family}`);
    const tmp = `${target}.${process.pid}.${++tmpCounter}.tmp`;
    await writeFile(tmp, addr, {
      flag: C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW,
      mode: 0o600,
    });
    await rename(tmp, target);
  }

  async ipamRemove(network: string): Promise<void> {
    const dir = this.ipamDir(network);
    let entries: string[] = [];
    try {
      entries = await readdir(dir);
    } catch {
      return;
    }
    for (const e of entries) await unlinkIfExists(path.join(dir, e));
    await rmdir(dir).catch(() => undefined);
  }

  // ---- host ports ----
  // ports/PROTO_PORT/ADDR: one directory per protocol and port, one file per
  // host address holding it, so address conflicts are one readdir away.

  private portDir(protocol: string, port: number): string {
    return path.join(this.dir, 'ports', `${protocol}_${port}`);
  }

  async reservePort(
    protocol: string,
    port: number,
    hostIp: string,
    owner: string,
  ): Promise<boolean> {
    const dir = this.portDir(protocol, port);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    return createExclusive(path.join(dir, hostIp.replace(/:/g, '_')), owner);
  }

  async releasePort(protocol: string, port: number, hostIp: string): Promise<void> {
    const dir = this.portDir(protocol, port);
    await unlinkIfExists(path.join(dir, hostIp.replace(/:/g, '_')));
    await rmdir(dir).catch(() => undefined);
  }

  /** Holders of a protocol/port: host address -> sandbox. */
  async portHolders(protocol: string, port: number): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    const dir = this.portDir(protocol, port);
    let entries: string[];
    try {
      entries = await readdir(dir);
    } catch {
      return out;
    }
    for (const e of entries) {
      const owner = await readText(path.join(dir, e));
      if (owner !== undefined) out.set(e.replace(/_/g, ':'), owner);
    }
    return out;
  }

  /** Every reservation: [protocol, port, hostIp, owner]. */
  async allPorts(): Promise<[string, number, string, string][]> {
    const out: [string, number, string, string][] = [];
    for (const d of await readdir(path.join(this.dir, 'ports'))) {
      const [protocol, port] = d.split('_');
      for (const [ip, owner] of await this.portHolders(protocol!, Number(port)))
        out.push([protocol!, Number(port), ip, owner]);
    }
    return out;
  }

  // ---- locks ----

  /**
   * Takes an flock on locks/NAME (shared or exclusive), retrying while
   * another holder has it. The kernel releases it if this process dies.
   */
  async lock(name: string, exclusive: boolean, timeoutMs = 60_000): Promise<() => void> {
    const file = path.join(this.dir, 'locks', name);
    const end = Date.now() + timeoutMs;
    for (let attempt = 0; ; attempt++) {
      const held: FileLockNative | null = await native.tryLock(file, exclusive);
      if (held)
        return () => {
          held.release();
        };
      if (Date.now() > end) throw new Error(`timed out waiting for lock ${name}`);
      await new Promise((r) => setTimeout(r, RETRY_MS[Math.min(attempt, RETRY_MS.length - 1)]));
    }
  }

  /** Removes leftovers of interrupted atomic writes. */
  async sweepTemporaries(): Promise<void> {
    for (const kind of ['networks', 'sandboxes'] as const) {
      for (const e of await readdir(path.join(this.dir, kind))) {
        if (e.endsWith('.tmp')) await unlinkIfExists(path.join(this.dir, kind, e));
      }
    }
  }
}
