// WIP placeholder until the nftables API lands (not committed).
import type { Firewall } from './firewall';
export function openFirewall(_tag: string): Promise<Firewall> {
  return Promise.reject(
    new Error('the nftables firewall is not available yet; open the engine with firewall: false'),
  );
}
