/**
 * The namespace an engine treats as the host. By default this process's
 * own; `Engine.open({ hostNetns })` names another, so one process can drive
 * several simulated hosts (each engine with its own handles in its own
 * namespace, the same handle-at-namespace machinery sandboxes use).
 */
import path from 'node:path';

import { ValidationError } from '../errors';
import { NetNS, validateNetnsName } from '../netns';

/**
 * Opens the engine's own copy of the host namespace (a NetNS the caller
 * passes stays the caller's to close) and tells whether it is another
 * namespace than this process's.
 */
export async function openHostNetns(
  given: NetNS | string | undefined,
): Promise<{ ns: NetNS; foreign: boolean }> {
  if (given === undefined) return { ns: await NetNS.host(), foreign: false };
  let ns: NetNS;
  if (given instanceof NetNS) ns = await NetNS.open({ path: given.path });
  else if (typeof given === 'string' && path.isAbsolute(given))
    ns = await NetNS.open({ path: given });
  else if (typeof given === 'string') ns = await NetNS.open(validateNetnsName(given, 'hostNetns'));
  else throw new ValidationError('hostNetns', 'must be a NetNS, an `ip netns` name or a path');
  try {
    const self = await NetNS.host();
    try {
      return { ns, foreign: !ns.sameAs(self) };
    } finally {
      await self.close();
    }
  } catch (err) {
    await ns.close();
    throw err;
  }
}
