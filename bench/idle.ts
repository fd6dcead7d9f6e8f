/**
 * Waits until the machine is idle, as the peers' harness does before each
 * phase (../shared/bench/peers/harness.py `wait_idle`): busy time across all
 * CPUs under 5% over a 200 ms window, or 8 s at most.
 *
 * Why it matters: a removed namespace is destroyed later by a kernel worker
 * (cleanup_net), which holds rtnl for a while; 1,000 of them keep a CPU busy
 * for seconds. Without this wait a repetition's setup would run beside the
 * previous repetition's destruction, and netplumb would be timed under a load
 * the peers are not.
 */
import { readFileSync } from 'node:fs';

function busyAndTotal(): [number, number] {
  const first = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
  const v = first.trim().split(/\s+/).slice(1, 9).map(Number);
  const total = v.reduce((a, b) => a + b, 0);
  const idle = v[3]! + v[4]!; // idle + iowait
  return [total - idle, total];
}

export async function waitIdle(maxMs = 8000, threshold = 0.05, windowMs = 200): Promise<boolean> {
  const end = Date.now() + maxMs;
  while (Date.now() < end) {
    const [b0, t0] = busyAndTotal();
    await new Promise((r) => setTimeout(r, windowMs));
    const [b1, t1] = busyAndTotal();
    if (t1 > t0 && (b1 - b0) / (t1 - t0) < threshold) return true;
  }
  return false;
}
