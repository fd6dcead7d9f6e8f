import { randomFillSync } from 'node:crypto';

/**
 * Random bytes for identifiers, drawn from a pool refilled 4 KiB at a time:
 * each `randomBytes` call goes down to OpenSSL (~3 µs warm, ~15 µs between
 * sandboxes), and a sandbox takes two ids. The bytes are as random as
 * randomBytes' (the same generator); ids are unique names, not secrets.
 */
const pool = Buffer.alloc(4096);
let used = pool.length;

/** `bytes` random bytes as lowercase hex (2 × bytes characters); at most 256 bytes. */
export function randomHex(bytes: number): string {
  if (used + bytes > pool.length) {
    randomFillSync(pool);
    used = 0;
  }
  const s = pool.toString('hex', used, used + bytes);
  used += bytes;
  return s;
}
