/**
 * File steps marked `aside` (NativeStep): a builder writes a sandbox's
 * /etc/netns files and address cursor on a helper thread, beside the kernel
 * steps of the job's second half. What a caller relies on: the next file
 * step without `aside` (the record marked ready) and the end of the job come
 * after every aside step; a failing aside step fails the job at its index
 * and stops what follows.
 */
import assert from 'node:assert/strict';
import { access, mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { native, type FsResult, type HandleNative, type NativeStep } from '../../lib/binding';
import { Cleanup, requireSandbox } from '../helpers';

const exists = (p: string): Promise<boolean> =>
  access(p).then(
    () => true,
    () => false,
  );

describe('builders: file steps aside, beside the kernel steps', function () {
  this.timeout(60000);
  before(requireSandbox);
  const cleanup = new Cleanup();
  let dir: string;
  let handle: HandleNative;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'np-aside-'));
    cleanup.add('remove the directory', () => rm(dir, { recursive: true, force: true }));
    handle = new native.Handle();
    cleanup.add('close the handle', () => handle.close());
  });
  afterEach(() => cleanup.run());

  const create = (name: string, aside: boolean): NativeStep => ({
    fs: { op: 'create', path: path.join(dir, name), data: name },
    ...(aside ? { aside: true } : {}),
  });

  it('the file step after 300 aside writes sees every one of them; each result sits at its index', async () => {
    const names = Array.from({ length: 300 }, (_, i) => `f${i}`);
    const steps: NativeStep[] = [
      ...names.map((n) => create(n, true)),
      { fs: { op: 'readdir', path: dir } },
      create('ready', false),
    ];
    const r = await handle.sequence(steps);
    assert.equal(r.failed, -1);
    assert.equal(r.results.length, steps.length);
    names.forEach((n, i) => {
      const res = r.results[i] as FsResult;
      assert.ok(res.ran && res.ok, `${n}: ${JSON.stringify(res)}`);
    });
    const seen = (r.results[names.length] as FsResult).entries ?? [];
    assert.deepEqual(seen.sort(), [...names].sort(), 'the readdir ran after all aside writes');
    assert.equal(await readFile(path.join(dir, 'f299'), 'utf8'), 'f299');
  });

  it('an aside step that fails fails the sequence at its index; later aside steps and the next file step do not run', async () => {
    const steps: NativeStep[] = [
      create('a', true),
      { fs: { op: 'create', path: path.join(dir, 'missing', 'b'), data: 'b' }, aside: true },
      create('c', true),
      create('ready', false),
    ];
    const r = await handle.sequence(steps);
    assert.equal(r.failed, 1);
    assert.equal(r.results.length, 2, 'results up to the failed step');
    const err = (r.results[1] as FsResult).error;
    assert.equal(err && 'code' in err ? err.code : undefined, 'ENOENT');
    assert.equal(await exists(path.join(dir, 'a')), true);
    assert.equal(await exists(path.join(dir, 'c')), false, 'the helper stopped at the failure');
    assert.equal(await exists(path.join(dir, 'ready')), false, 'the record was not marked ready');
  });

  it('a step that fails before the aside steps is the failure; the aside steps still ran, for the caller to take back', async () => {
    await mkdir(path.join(dir, 'taken'));
    const steps: NativeStep[] = [create('taken', false), create('x', true), create('y', true)];
    const r = await handle.sequence(steps);
    assert.equal(r.failed, 0, 'the reservation that found its name taken');
    assert.equal(r.results.length, 1);
    assert.deepEqual((await readdir(dir)).sort(), ['taken', 'x', 'y']);
  });

  it('aside on a step that is not a file operation is refused, naming the step', () => {
    const bad = [
      create('ok', false),
      { probe: { protocol: 'tcp', port: 1 }, aside: true },
    ] as unknown as NativeStep[];
    assert.throws(
      () => handle.sequence(bad),
      (e: Error) => e instanceof TypeError && /steps\[1\]\.aside/.test(e.message),
    );
  });
});
