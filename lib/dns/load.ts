/**
 * The embedded resolver's module, loaded where a resolver runs (an engine
 * with `dns`, the CLI's daemon): every CLI command loads the engine and the
 * daemon's client side, and loading the resolver with dns-packet was ~5 ms
 * of each command's start. A require, not import(): the ESM loader's first
 * dynamic import costs ~5 ms more than the module itself.
 */
import type { DnsService } from './service';

export function loadDnsService(): typeof DnsService {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (require('./service') as typeof import('./service')).DnsService;
}
