/**
 * prune: brings the state directory and the kernel back into agreement after
 * a crash. Records are written before kernel objects are made, so every
 * object the engine made has a record, except after a completed removal.
 *
 *  - a sandbox or network record left 'creating' or 'removing' by a process
 *    that is gone is finished (torn down);
 *  - a 'ready' sandbox whose namespace or veth has vanished is torn down;
 *  - links tagged with this engine's alias that no record owns are deleted;
 *  - addresses and host ports held by no record are freed;
 *  - firewall entries of sandboxes and networks that have no record go.
 * Foreign objects (other tags, untagged links, namespaces not recorded) are
 * never touched.
 *
 * It runs alone: no operation on sandboxes of any engine on the state
 * directory, in this process or another, is in flight meanwhile (locks/ops,
 * see locks.ts), so what it finds half made is a crash's, never work in
 * progress; and network changes wait for it (locks/networks).
 */
import { lstat, readdir, rm } from 'node:fs/promises';
import path from 'node:path';

import type { Engine } from './engine';
import { FsBatch, heldAddresses, processAlive } from './state';
import { deleteLink } from './plumbing';
import type { NetworkRecord, SandboxRecord } from './records';
import type { PruneReport } from './types';

export const HOSTS_MARKER = '# managed by netplumb';

/** A directory's names; none when it is missing or not a plain directory (never followed). */
async function listDir(dir: string): Promise<string[]> {
  return FsBatch.one({ op: 'readdir', path: dir }).then(
    (r) => r.entries ?? [],
    () => [],
  );
}

export async function prune(engine: Engine): Promise<PruneReport> {
  const report: PruneReport = {
    sandboxes: [],
    networks: [],
    links: [],
    netns: [],
    addresses: 0,
    ports: 0,
    rules: 0,
    daemons: 0,
  };
  // In this order (as operations take them): operations first, then networks.
  const unlockOps = await engine.locks.exclusive();
  let unlock: (() => void) | undefined;
  try {
    unlock = await engine.state.lock('networks', true);
    const etcDirs = (await readdir(engine.etcDir).catch(() => [] as string[])).map((d) =>
      path.join(engine.etcDir, d),
    );
    await engine.state.sweepTemporaries(etcDirs);
    // The records before the kernel: a record is written before the kernel
    // objects it names, and marked ready after them.
    const records = await engine.state.all<SandboxRecord>('sandboxes');
    const links = await engine.host.links.list();
    const linkNames = new Set(links.map((l) => l.name));
    const netnsNames = new Set(await readdir(engine.netnsDir).catch(() => [] as string[]));

    // Sandboxes first: they hold addresses on networks.
    for (const rec of records) {
      let broken = false;
      if (rec.state !== 'ready') {
        broken = !processAlive(rec.pid);
      } else if (rec.mode !== 'host') {
        broken =
          rec.netns === undefined ||
          !netnsNames.has(rec.netns) ||
          rec.endpoints.some((e) => !linkNames.has(e.hostIfname));
      }
      if (!broken) continue;
      await engine.finishSandbox(rec);
      report.sandboxes.push(rec.name);
    }

    for (const rec of await engine.state.all<NetworkRecord>('networks')) {
      if (rec.state !== 'ready') {
        await engine.finishNetwork(rec);
        report.networks.push(rec.name);
      }
    }

    // What the remaining records own.
    const sandboxes = await engine.state.all<SandboxRecord>('sandboxes');
    const networks = await engine.state.all<NetworkRecord>('networks');
    const ownedLinks = new Set<string>([
      ...networks.map((n) => n.bridge),
      ...networks.flatMap((n) => (n.overlay ? [n.overlay.vxlan] : [])),
      ...sandboxes.flatMap((s) => s.endpoints.map((e) => e.hostIfname)),
    ]);
    const prefix = `netplumb:${engine.tag}:`;
    for (const l of await engine.host.links.list()) {
      if (l.alias?.startsWith(prefix) && !ownedLinks.has(l.name)) {
        await deleteLink(engine.host, l.name);
        report.links.push(l.name);
      }
    }

    // Addresses and ports nobody holds.
    const byName = new Map(sandboxes.map((s) => [s.name, s]));

    // Sharing marks (joins/OWNER/MEMBER) that no record backs.
    // Through the addon's file operations: a symlink planted here is not
    // followed (the directory is skipped), so nothing outside is removed.
    const joins = path.join(engine.state.dir, 'joins');
    for (const owner of await listDir(joins)) {
      const dir = path.join(joins, owner);
      const b = new FsBatch();
      for (const member of await listDir(dir)) {
        if (byName.get(member)?.container !== owner)
          b.add({ op: 'unlink', path: path.join(dir, member) });
      }
      b.add({ op: 'rmdir', path: dir });
      await b.run().catch(() => undefined);
    }
    for (const net of networks) {
      for (const [addr, owner] of await engine.state.addresses(net.name)) {
        const s = byName.get(owner);
        const held = s?.endpoints.some(
          (e) => e.network === net.name && (e.ip === addr || e.ip6 === addr),
        );
        if (!held) {
          await engine.state.releaseAddress(net.name, addr);
          report.addresses++;
        }
      }
    }
    for (const [protocol, port, ip, owner] of await engine.state.allPorts()) {
      const s = byName.get(owner);
      const held = s?.endpoints.some((e) =>
        e.ports.some(
          (p) =>
            p.protocol === protocol &&
            p.hostPort === port &&
            heldAddresses(p.hostIp, e.ip6 !== undefined).includes(ip),
        ),
      );
      if (!held) {
        await engine.state.releasePort(protocol, port, ip);
        report.ports++;
      }
    }

    if (engine.firewall?.prune) {
      report.rules += await engine.firewall.prune(
        new Set(sandboxes.map((s) => s.name)),
        new Set(networks.map((n) => n.name)),
      );
    }

    // /etc/netns directories this engine wrote for sandboxes that are gone.
    // Only real directories whose hosts file (read without following a
    // symlink) carries this engine's marker.
    for (const dir of await readdir(engine.etcDir).catch(() => [] as string[])) {
      if (byName.has(dir)) continue;
      const st = await lstat(path.join(engine.etcDir, dir)).catch(() => undefined);
      if (!st?.isDirectory()) continue;
      const hosts = await FsBatch.one({
        op: 'read',
        path: path.join(engine.etcDir, dir, 'hosts'),
      }).then(
        (r) => r.text ?? '',
        () => '',
      );
      if (hosts.startsWith(`${HOSTS_MARKER} (${engine.tag})`)) {
        await rm(path.join(engine.etcDir, dir), { recursive: true, force: true });
        report.netns.push(dir);
      }
    }
    return report;
  } finally {
    unlock?.();
    unlockOps();
  }
}
