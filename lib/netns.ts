/**
 * Network namespaces, as `ip netns` manages them: named ones are bind mounts
 * under /run/netns, so `ip netns exec NAME` works on anything made here.
 */
import { readdir } from 'node:fs/promises';
import path from 'node:path';

import { native, type HandleNative, type NsFdNative } from './binding';
import { ValidationError, fromSystemError } from './errors';

/** Where `ip netns` keeps named namespaces. */
export const NETNS_RUN_DIR = '/run/netns';

/** Checks a namespace name as `ip netns` would accept it (it becomes a file name). */
export function validateNetnsName(name: unknown, field = 'name'): string {
  if (typeof name !== 'string' || name.length === 0)
    throw new ValidationError(field, 'must be a non-empty string');
  if (Buffer.byteLength(name) > 255) throw new ValidationError(field, 'is longer than 255 bytes');
  if (name === '.' || name === '..' || /[/\0]/.test(name)) {
    throw new ValidationError(field, `"${name}" cannot be a file name (no "/", ".", "..")`);
  }
  return name;
}

/** What NetNS.open accepts: a name under /run/netns, `{ path }`, or `{ pid }`. */
export type NetNSTarget =
  | string
  | {
      /** an nsfs file: /run/netns/NAME, /proc/PID/ns/net, a bind mount elsewhere */
      path: string;
    }
  | {
      /** a process whose namespace to open (/proc/PID/ns/net) */
      pid: number;
    };

/** A namespace's identity: the device and inode of its nsfs file (`stat -L /run/netns/NAME`). */
export interface NetNSIdentity {
  /** st_dev of the namespace file */
  dev: number;
  /** st_ino of the namespace file: the namespace's inode number, as in `ls -l /proc/PID/ns/net` */
  ino: number;
}

/**
 * A network namespace, open: named ones under /run/netns (`ip netns`), or
 * any nsfs file (`/proc/PID/ns/net`). Holding it keeps the namespace file
 * open; {@link NetNS.close} releases it, {@link NetNS.delete} removes a
 * named one.
 */
export class NetNS {
  private worker: Promise<HandleNative> | null = null;

  private constructor(
    /** the file that names the namespace */
    readonly path: string,
    /** the name under /run/netns, when it has one */
    readonly name: string | undefined,
    private nsfd: NsFdNative | null,
    /** whether delete() may remove `path` (only namespaces we can name) */
    private readonly deletable: boolean,
  ) {}

  /** Creates a named namespace. Equivalent to `ip netns add NAME`. */
  static async create(name: string, opts: { dir?: string } = {}): Promise<NetNS> {
    validateNetnsName(name);
    const file = path.join(opts.dir ?? NETNS_RUN_DIR, name);
    try {
      const fd = await native.netnsCreate(file);
      return new NetNS(file, name, fd, true);
    } catch (err) {
      throw fromSystemError(err, `netns add ${name}`);
    }
  }

  /**
   * Gives an existing namespace another name under /run/netns. Equivalent
   * to `ip netns attach NAME PID` (or a bind mount of another name). The
   * namespace lives until its last name is deleted and nothing else holds it.
   */
  static async attach(name: string, target: NetNS, opts: { dir?: string } = {}): Promise<NetNS> {
    validateNetnsName(name);
    const file = path.join(opts.dir ?? NETNS_RUN_DIR, name);
    try {
      return new NetNS(file, name, await native.netnsAttach(target.path, file), true);
    } catch (err) {
      throw fromSystemError(err, `netns attach ${name}`);
    }
  }

  /**
   * Creates a named namespace and a handle thread living in it, in one
   * step (the thread that unshares stays there to serve requests).
   * @internal
   */
  static async createWithHandle(
    name: string,
    opts: { dir?: string } = {},
  ): Promise<{ ns: NetNS; handle: HandleNative }> {
    validateNetnsName(name);
    const file = path.join(opts.dir ?? NETNS_RUN_DIR, name);
    const handle = new native.Handle();
    try {
      const fd = await handle.enter({ create: file });
      return { ns: new NetNS(file, name, fd, true), handle };
    } catch (err) {
      await handle.close();
      throw fromSystemError(err, `netns add ${name}`);
    }
  }

  /**
   * Wraps a namespace file descriptor made elsewhere (a handle that created
   * the namespace). @internal
   */
  static adopt(file: string, name: string | undefined, fd: NsFdNative): NetNS {
    return new NetNS(file, name, fd, name !== undefined);
  }

  /**
   * Opens an existing namespace: by name (`ip netns` name), by path (any
   * nsfs file), or by process (`/proc/PID/ns/net`).
   */
  static async open(target: NetNSTarget, opts: { dir?: string } = {}): Promise<NetNS> {
    let file: string;
    let name: string | undefined;
    let deletable = false;
    if (typeof target === 'string') {
      name = validateNetnsName(target);
      file = path.join(opts.dir ?? NETNS_RUN_DIR, target);
      deletable = true;
    } else if ('pid' in target) {
      if (!Number.isInteger(target.pid) || target.pid <= 0) {
        throw new ValidationError('pid', 'must be a positive integer');
      }
      file = `/proc/${target.pid}/ns/net`;
    } else {
      if (typeof target.path !== 'string' || !path.isAbsolute(target.path)) {
        throw new ValidationError('path', 'must be an absolute path');
      }
      file = target.path;
    }
    try {
      return new NetNS(file, name, await native.netnsOpen(file), deletable);
    } catch (err) {
      throw fromSystemError(err, `netns open ${file}`);
    }
  }

  /** The namespace this process runs in (/proc/self/ns/net: what `ip` without `-n` works on). */
  static async host(): Promise<NetNS> {
    return NetNS.open({ path: '/proc/self/ns/net' });
  }

  /** Names of the namespaces under /run/netns. Equivalent to `ip netns list`. */
  static async list(opts: { dir?: string } = {}): Promise<string[]> {
    try {
      return (await readdir(opts.dir ?? NETNS_RUN_DIR)).sort();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
  }

  /** The open namespace file, for handles that enter it. @internal */
  get fd(): NsFdNative {
    if (!this.nsfd || this.nsfd.fd < 0)
      throw new ValidationError('netns', `namespace ${this.path} is closed`);
    return this.nsfd;
  }

  /**
   * st_dev/st_ino of the namespace: equal identities mean the same namespace.
   * Equivalent to `stat -L -c '%d %i' FILE`; `ip netns identify PID` compares the same.
   */
  identity(): NetNSIdentity {
    const [dev, ino] = this.fd.identity();
    return { dev, ino };
  }

  /** Whether `other` is the same kernel namespace (even under another name), as `ip netns identify` decides. */
  sameAs(other: NetNS): boolean {
    const a = this.identity();
    const b = other.identity();
    return a.dev === b.dev && a.ino === b.ino;
  }

  /**
   * A native thread living in this namespace, started on first use, for
   * steps that must run inside it (sysctl writes, tun creation).
   * @internal
   */
  inside(): Promise<HandleNative> {
    if (!this.worker) {
      const h = new native.Handle();
      const entered = h.enter({ netns: this.fd }).then((self) => {
        self.close();
        return h;
      });
      entered.catch(() => h.close());
      this.worker = entered;
    }
    return this.worker;
  }

  /** Releases the namespace file and the inside thread; the namespace itself stays. */
  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = null;
    if (worker) await worker.then((h) => h.close()).catch(() => undefined);
    this.nsfd?.close();
    this.nsfd = null;
  }

  /**
   * Deletes a named namespace. Equivalent to `ip netns delete NAME`: the
   * mount is detached lazily, and the kernel tears the namespace and its
   * interfaces down once nothing holds it any more.
   */
  async delete(): Promise<void> {
    if (!this.deletable) {
      throw new ValidationError(
        'netns',
        `${this.path} is not a named namespace; only those can be deleted`,
      );
    }
    await this.close();
    try {
      await native.netnsDelete(this.path);
    } catch (err) {
      throw fromSystemError(err, `netns delete ${this.name ?? this.path}`);
    }
  }
}
