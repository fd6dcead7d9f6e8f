/**
 * The embedded resolver: one UDP socket and one TCP server on each DNS
 * network's gateway address, port 53 (and on its IPv6 gateway on dual-stack
 * networks). It answers from a view of the state directory, rebuilt when the
 * engine changes something and when another process changes the directory
 * (fs.watch), and swapped in whole: no query ever sees half an update.
 */
import { createSocket, type Socket } from 'node:dgram';
import { watch, type FSWatcher } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import path from 'node:path';

import { HostResolvConf } from '../engine/files';
import type { NetworkRecord, SandboxRecord } from '../engine/records';
import { FsBatch, type StateStore } from '../engine/state';
import { answer } from './resolver';
import { applySandbox, buildView, hasDns, type DnsView } from './view';

const RELOAD_DEBOUNCE_MS = 20;
/** How often the directories are looked at when they cannot be watched. */
const POLL_MS = 1000;
/** A directory changed this recently may change again within the same clock tick. */
const POLL_SETTLE_MS = 100;
const TCP_IDLE_MS = 10_000;
/** How often a network whose port 53 another process holds is tried again. */
const RETRY_ELSEWHERE_MS = 5000;
const TCP_MAX_BUFFER = 65_537;

interface Listener {
  address: string;
  udp: Socket;
  tcp: Server;
}

export interface DnsServiceOptions {
  /** where upstream nameservers come from (default /etc/resolv.conf) */
  resolvConf?: string;
  /** rebuild on changes other processes make to the state directory */
  watch?: boolean;
}

export class DnsService {
  private current: DnsView = { networks: new Map(), memberships: new Map() };
  /**
   * The sandboxes as the view has them, as JSON (an immutable snapshot,
   * compared as it is with a record read back, and much cheaper to take
   * than a clone: structuredClone was ~11 µs of a creation's event-loop time).
   */
  private known = new Map<string, string>();
  /** sandbox records changed on disk since the last reload, and whether all must be read */
  private readonly changed = new Set<string>();
  private fullReload = false;
  private readonly listeners = new Map<string, Listener[]>();
  /**
   * Networks whose port 53 another process holds: another resolver (the
   * CLI's daemon, another engine), which serves them, or a foreign program,
   * which does not. Tried again on every full reload and every
   * RETRY_ELSEWHERE_MS, so the resolver comes up here once the port is free.
   */
  private readonly servedElsewhere = new Map<string, NetworkRecord>();
  private watchers: FSWatcher[] = [];
  private pollTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private reloadTimer: NodeJS.Timeout | undefined;
  private reloading: Promise<void> = Promise.resolve();
  private readonly hostResolv: HostResolvConf;
  private closed = false;
  readonly resolvConf: string;
  /** how many times every record was read (start, a network changed): diagnostics @internal */
  fullReads = 0;

  constructor(
    private readonly state: StateStore,
    private readonly opts: DnsServiceOptions = {},
  ) {
    this.resolvConf = opts.resolvConf ?? '/etc/resolv.conf';
    this.hostResolv = new HostResolvConf(this.resolvConf);
  }

  async start(): Promise<void> {
    await this.reload();
    this.retryTimer = setInterval(() => {
      void this.retryElsewhere().catch(() => undefined);
    }, RETRY_ELSEWHERE_MS);
    this.retryTimer.unref();
    if (this.opts.watch === false) return;
    try {
      for (const dir of ['networks', 'sandboxes'] as const) this.watchers.push(this.watchDir(dir));
    } catch {
      // No inotify watch to be had (the user's fs.inotify.max_user_watches
      // spent, most often): look at the directories instead. The engine's
      // own changes reach the view directly either way.
      this.pollInstead();
    }
  }

  private watchDir(dir: 'networks' | 'sandboxes'): FSWatcher {
    const w = watch(path.join(this.state.dir, dir), { persistent: false }, (_event, file) => {
      // Temporaries come and go with every atomic write: named .tmp.PID...,
      // or unnamed (O_TMPFILE), which inotify reports as "#INODE" until
      // linkat gives it its name. Reacting to those would re-read every
      // record once per sandbox.
      if (typeof file === 'string' && (file.startsWith('.') || file.startsWith('#'))) return;
      // A sandbox record: re-read just that one; anything else: everything.
      if (dir === 'sandboxes' && typeof file === 'string' && file.endsWith('.json'))
        this.changed.add(file.slice(0, -5));
      else this.fullReload = true;
      this.scheduleReload();
    });
    // An emitter's unhandled 'error' would end the user's process.
    w.on('error', () => {
      this.pollInstead();
    });
    return w;
  }

  /**
   * Without watchers: every POLL_MS, a full reload when either directory
   * changed (its mtime, ctime and size, as one stat sees them). A change
   * within the same coarse clock tick as the stat could leave the times
   * as they were, so a directory changed that recently is looked at again.
   */
  private pollInstead(): void {
    for (const w of this.watchers) w.close();
    this.watchers = [];
    if (this.closed || this.pollTimer) return;
    let last = '';
    this.pollTimer = setInterval(() => {
      const dirs = ['networks', 'sandboxes'].map((d) => path.join(this.state.dir, d));
      void Promise.all(dirs.map((d) => stat(d).catch(() => undefined))).then((stats) => {
        const now = Date.now();
        const key = stats.map((s) => (s ? `${s.mtimeMs}/${s.ctimeMs}/${s.size}` : '-')).join(' ');
        const recent = stats.some((s) => s !== undefined && now - s.mtimeMs < POLL_SETTLE_MS);
        if (key === last) return;
        last = recent ? '' : key;
        this.fullReload = true;
        this.scheduleReload();
      });
    }, POLL_MS);
    this.pollTimer.unref();
  }

  /**
   * Resolves once the view has caught up with the state directory: for two
   * debounce periods in a row no change was waiting to be read and none was
   * being read (an inotify event already queued reaches the watcher within
   * a turn of the loop). For tests. @internal
   */
  async settled(): Promise<void> {
    for (let quiet = 0; quiet < 2;) {
      await new Promise((r) => setTimeout(r, RELOAD_DEBOUNCE_MS));
      const busy = this.reloadTimer !== undefined;
      await this.reloading;
      quiet = busy ? 0 : quiet + 1;
    }
  }

  /**
   * Runs `step` after the reloads queued before it, whether they worked or
   * not: one that failed (a file unreadable for a moment) must not stop
   * every later one. The promise is `step`'s own.
   */
  private afterReloads(step: () => void | Promise<void>): Promise<void> {
    return this.reloading.catch(() => undefined).then(step);
  }

  /** Networks currently served here or elsewhere. */
  networks(): string[] {
    return [...this.current.networks.keys()];
  }

  private scheduleReload(): void {
    if (this.closed || this.reloadTimer) return;
    this.reloadTimer = setTimeout(() => {
      this.reloadTimer = undefined;
      this.readReported();
    }, RELOAD_DEBOUNCE_MS);
    this.reloadTimer.unref();
  }

  /** Reads what the watchers (or the poll) reported since the last read. */
  private readReported(): void {
    const full = this.fullReload;
    const names = [...this.changed];
    this.fullReload = false;
    this.changed.clear();
    void (full ? this.reload() : this.reloadSandboxes(names)).catch(() => undefined);
  }

  /**
   * Brings the view up to date with changes made before this call: the
   * resolver daemon's answer to a CLI command's reload request. With
   * watchers, only what they reported is read, at once rather than after
   * the debounce: the command's writes came before its request, and one
   * inotify descriptor (libuv has one per loop) reports events in order, so
   * by the next turn of the loop they have been reported. Without
   * watchers, every record is read.
   */
  async catchUp(): Promise<void> {
    if (this.watchers.length === 0) return this.reload();
    await new Promise((resolve) => setImmediate(resolve)); // past the loop's I/O phase
    if (this.reloadTimer) {
      clearTimeout(this.reloadTimer);
      this.reloadTimer = undefined;
      this.readReported();
    }
    return this.reloading;
  }

  /**
   * Re-reads the records of sandboxes that changed on disk (another
   * process's work, or this one's, already applied: then nothing changes).
   */
  private reloadSandboxes(names: string[]): Promise<void> {
    this.reloading = this.afterReloads(async () => {
      if (this.closed) return;
      const b = new FsBatch();
      for (const n of names) b.add({ op: 'read', path: this.state.recordPath('sandboxes', n) });
      const results = await b.run();
      names.forEach((n, i) => {
        const r = results[i]!;
        const text = r.ok ? r.text! : undefined;
        if (text !== undefined && this.known.get(n) === text) return;
        const rec = text !== undefined ? (JSON.parse(text) as SandboxRecord) : undefined;
        applySandbox(this.current, this.knownRecord(n), rec);
        if (text !== undefined) this.known.set(n, text);
        else this.known.delete(n);
      });
    });
    return this.reloading;
  }

  /** Rebuilds the view from the state directory and opens/closes listeners to match. */
  reload(): Promise<void> {
    this.reloading = this.afterReloads(async () => {
      if (this.closed) return;
      this.fullReads++;
      const networks = await this.state.all<NetworkRecord>('networks');
      const sandboxes = await this.state.all<SandboxRecord>('sandboxes');
      this.current = buildView(networks, sandboxes);
      this.known = new Map(sandboxes.map((s) => [s.name, JSON.stringify(s)]));
      await this.syncListeners(networks.filter(hasDns));
    });
    return this.reloading;
  }

  /**
   * One sandbox changed (`rec`; undefined when removed), as this process
   * knows first-hand: applied to the view without reading every record.
   */
  sandboxChanged(name: string, rec: SandboxRecord | undefined): Promise<void> {
    this.reloading = this.afterReloads(() => {
      if (this.closed) return;
      applySandbox(this.current, this.knownRecord(name), rec);
      if (rec) this.known.set(name, JSON.stringify(rec));
      else this.known.delete(name);
    });
    return this.reloading;
  }

  private knownRecord(name: string): SandboxRecord | undefined {
    const text = this.known.get(name);
    return text === undefined ? undefined : (JSON.parse(text) as SandboxRecord);
  }

  private async syncListeners(networks: NetworkRecord[]): Promise<void> {
    const wanted = new Map(networks.map((n) => [n.name, n]));
    for (const [name, ls] of this.listeners) {
      if (!wanted.has(name)) {
        for (const l of ls) this.closeListener(l);
        this.listeners.delete(name);
      }
    }
    for (const name of this.servedElsewhere.keys())
      if (!wanted.has(name)) this.servedElsewhere.delete(name);
    // Those served elsewhere too: whoever held the port may have let it go.
    for (const n of networks) if (!this.listeners.has(n.name)) await this.open(n);
  }

  /** Opens the listeners of network `n`, or notes that another process holds its port. */
  private async open(n: NetworkRecord): Promise<void> {
    const ls: Listener[] = [];
    try {
      ls.push(await this.listen(n.name, n.gateway));
      if (n.gateway6) ls.push(await this.listen(n.name, n.gateway6));
      this.listeners.set(n.name, ls);
      this.servedElsewhere.delete(n.name);
    } catch (err) {
      for (const l of ls) this.closeListener(l);
      const code = (err as NodeJS.ErrnoException).code;
      // Another resolver serves it, or a foreign program sits on the port:
      // tried again later either way.
      if (code === 'EADDRINUSE') this.servedElsewhere.set(n.name, n);
      // EADDRNOTAVAIL: the bridge is not up yet; the next reload retries.
      else if (code !== 'EADDRNOTAVAIL') throw err;
    }
  }

  /** Tries again the networks whose port was held (between full reloads). */
  private retryElsewhere(): Promise<void> {
    if (this.servedElsewhere.size === 0) return this.reloading;
    this.reloading = this.afterReloads(async () => {
      for (const n of [...this.servedElsewhere.values()]) {
        if (this.closed) return;
        await this.open(n).catch(() => undefined);
      }
    });
    return this.reloading;
  }

  private listen(network: string, address: string): Promise<Listener> {
    return new Promise((resolve, reject) => {
      const family = address.includes(':') ? 'udp6' : 'udp4';
      const udp = createSocket({ type: family, reuseAddr: false });
      const tcp = createServer({ pauseOnConnect: false }, (conn) => {
        let buf = Buffer.alloc(0);
        conn.setTimeout(TCP_IDLE_MS, () => conn.destroy());
        conn.on('error', () => conn.destroy());
        conn.on('data', (d) => {
          buf = Buffer.concat([buf, d]);
          if (buf.length > TCP_MAX_BUFFER) {
            conn.destroy();
            return;
          }
          while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
            const msg = buf.subarray(2, 2 + buf.readUInt16BE(0));
            buf = buf.subarray(2 + msg.length);
            void this.handle(network, conn.remoteAddress ?? '', msg, true).then((out) => {
              if (!out || conn.destroyed) return;
              const framed = Buffer.alloc(out.length + 2);
              framed.writeUInt16BE(out.length, 0);
              out.copy(framed, 2);
              conn.write(framed);
            });
          }
        });
      });
      udp.on('message', (msg, rinfo) => {
        void this.handle(network, rinfo.address, msg, false).then((out) => {
          if (!out || this.closed) return;
          try {
            udp.send(out, rinfo.port, rinfo.address);
          } catch {
            // the listener closed while the answer was on its way
          }
        });
      });
      const fail = (err: Error): void => {
        udp.close();
        tcp.close();
        reject(err);
      };
      udp.once('error', fail);
      udp.bind({ address, port: 53, exclusive: true }, () => {
        udp.off('error', fail);
        udp.on('error', () => undefined);
        tcp.once('error', fail);
        tcp.listen({ host: address, port: 53, exclusive: true }, () => {
          tcp.off('error', fail);
          tcp.on('error', () => undefined);
          udp.unref();
          tcp.unref();
          resolve({ address, udp, tcp });
        });
      });
    });
  }

  private closeListener(l: Listener): void {
    l.udp.close();
    l.tcp.close();
  }

  private async handle(
    network: string,
    source: string,
    msg: Buffer,
    overTcp: boolean,
  ): Promise<Buffer | undefined> {
    try {
      // IPv4-mapped sources (::ffff:a.b.c.d) name the same sandbox.
      const src = source.startsWith('::ffff:') ? source.slice(7) : source;
      return await answer(
        { view: () => this.current, upstreams: () => this.upstreams() },
        network,
        src,
        msg,
        overTcp,
      );
    } catch {
      return undefined; // never let one packet take the resolver down
    }
  }

  /** The host's nameservers, re-read when resolv.conf changes (checked at most once a second). */
  async upstreams(): Promise<string[]> {
    // Loopback ones too: the resolver runs in the host's namespace.
    return (await this.hostResolv.nameservers()) ?? [];
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.reloadTimer) clearTimeout(this.reloadTimer);
    if (this.pollTimer) clearInterval(this.pollTimer);
    if (this.retryTimer) clearInterval(this.retryTimer);
    for (const w of this.watchers) w.close();
    await this.reloading.catch(() => undefined);
    for (const ls of this.listeners.values()) for (const l of ls) this.closeListener(l);
    this.listeners.clear();
  }
}
