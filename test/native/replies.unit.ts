/**
 * The native reply matcher, compiled alone (no N-API) with the addon's
 * warnings-as-errors flags and run on hand-made receive buffers.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

import { ROOT } from '../helpers';

const execFileP = promisify(execFile);

describe('native reply matching (C++, built for the test)', function () {
  this.timeout(120_000);

  it('flags an interrupted dump from its DONE as from its data; ignores stale ends', async () => {
    const out = path.join(ROOT, 'build', 'native-tests');
    await mkdir(out, { recursive: true });
    const exe = path.join(out, 'replies_test');
    const native = path.join(ROOT, 'native');
    await execFileP('c++', [
      '-std=c++20',
      '-Wall',
      '-Wextra',
      '-Werror',
      `-I${native}`,
      path.join(ROOT, 'test', 'native', 'replies_test.cc'),
      path.join(native, 'netlink', 'replies.cc'),
      path.join(native, 'netlink', 'message.cc'),
      '-o',
      exe,
    ]);
    const { stdout } = await execFileP(exe).catch((err: unknown) => {
      const printed = (err as { stdout?: string }).stdout;
      return assert.fail(`replies_test failed:\n${printed ?? (err as Error).message}`);
    });
    assert.match(stdout, /^8 checks passed, 0 failed$/m);
  });
});
