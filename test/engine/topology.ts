/**
 * An "outside host" for the policy tests: namespace `ext`, joined to the
 * test's own namespace (playing the host) by a veth, 10.200.0.2/24 with the
 * host at 10.200.0.1 as its router (and fd20::2/64, fd20::1 for IPv6).
 */
import { run } from '../helpers';

export const HOST_IP = '10.200.0.1';
export const EXT_IP = '10.200.0.2';
export const HOST_IP6 = 'fd20::1';
export const EXT_IP6 = 'fd20::2';

export async function makeOutside(): Promise<() => Promise<void>> {
  await run('ip', ['netns', 'add', 'ext']);
  await run('ip', [
    'link',
    'add',
    'npext0',
    'type',
    'veth',
    'peer',
    'name',
    'eth0',
    'netns',
    'ext',
  ]);
  await run('ip', ['addr', 'add', `${HOST_IP}/24`, 'dev', 'npext0']);
  await run('ip', ['link', 'set', 'npext0', 'up']);
  await run('ip', ['-n', 'ext', 'addr', 'add', `${EXT_IP}/24`, 'dev', 'eth0']);
  await run('ip', ['-n', 'ext', 'link', 'set', 'eth0', 'up']);
  await run('ip', ['-n', 'ext', 'link', 'set', 'lo', 'up']);
  await run('ip', ['-n', 'ext', 'route', 'add', 'default', 'via', HOST_IP]);
  // nodad: usable at once, no duplicate address detection to wait for.
  await run('ip', ['addr', 'add', `${HOST_IP6}/64`, 'dev', 'npext0', 'nodad']);
  await run('ip', ['-n', 'ext', 'addr', 'add', `${EXT_IP6}/64`, 'dev', 'eth0', 'nodad']);
  await run('ip', ['-n', 'ext', '-6', 'route', 'add', 'default', 'via', HOST_IP6]);
  return async () => {
    await run('ip', ['link', 'del', 'npext0']).catch(() => undefined);
    await run('ip', ['netns', 'del', 'ext']);
  };
}
