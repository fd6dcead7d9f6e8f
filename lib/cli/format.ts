/** Output for the CLI: aligned tables like docker's, or JSON. */
import type { Network, PortMapping, Sandbox } from '../engine/types';

export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]! + 3)))
      .join('')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n') + '\n';
}

/** `0.0.0.0:8080->80/tcp`, as `docker ps` prints a published port. */
export function portText(p: PortMapping): string {
  const host = p.hostIp.includes(':') ? `[${p.hostIp}]` : p.hostIp;
  return `${host}:${p.hostPort}->${p.containerPort}/${p.protocol}`;
}

export function networksTable(list: Network[]): string {
  return table(
    ['NAME', 'ID', 'BRIDGE', 'SUBNET', 'GATEWAY', 'MTU', 'FLAGS', 'SANDBOXES'],
    list.map((n) => [
      n.name,
      n.id.slice(0, 12),
      n.bridge,
      [n.subnet, n.subnet6].filter(Boolean).join(','),
      [n.gateway, n.gateway6].filter(Boolean).join(','),
      String(n.mtu),
      [n.default ? 'default' : '', n.internal ? 'internal' : '', n.icc ? '' : 'icc=false']
        .filter(Boolean)
        .join(',') || '-',
      String(n.sandboxes.length),
    ]),
  );
}

export function sandboxesTable(list: Sandbox[]): string {
  return table(
    ['NAME', 'MODE', 'NETWORKS', 'ADDRESSES', 'PORTS'],
    list.map((s) => [
      s.name,
      s.mode === 'container' ? `container:${s.container ?? '?'}` : s.mode,
      s.endpoints.map((e) => e.network).join(',') || '-',
      s.endpoints.map((e) => [e.ip, e.ip6].filter(Boolean).join(',')).join(' ') || '-',
      s.endpoints.flatMap((e) => e.ports.map(portText)).join(', ') || '-',
    ]),
  );
}

export function json(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}
