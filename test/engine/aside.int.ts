/**
 * File steps marked `aside` (NativeStep): a builder writes a sandbox's
 * /etc/netns files and address cursor on a helper thread, beside the kernel
 * steps of the job's second half. What a caller relies on: the next file
 * step without `aside` (the record marked ready) and the end of the job come
 * after every aside step; a failing aside step fails the job at its index
 * and stops what follows; and an engine whose second half fails takes the
 * files back, though they were written beside the step that failed.
 */
import assert from 'node:assert/strict';
import { access, mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { NetlinkError } from '../../lib';
import { native, type FsResult, type HandleNative, type NativeStep } from '../../lib/binding';
import { Cleanup, requireSandbox, run } from '../helpers';
import { netnsNames, openEngine } from './helpers';

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

  it("a sandbox whose second half fails takes back the files written beside it: its bridge deleted behind the engine's back", async () => {
    const e = await openEngine();
    cleanup.add('dispose the engine', () => e.dispose());
    const { engine, stateDir } = e;
    await engine.createNetwork({ name: 'asd', subnet: '10.217.0.0/24' });
    await engine.createSandbox({ name: 'asd0', network: 'asd' });
    assert.equal(await exists('/etc/netns/asd0/hosts'), true);
    const { bridge } = await engine.inspectNetwork('asd');
    await run('ip', ['link', 'del', bridge]);
    await assert.rejects(
      engine.createSandbox({ name: 'asd1', network: 'asd', publish: ['18301:80'] }),
      // The kernel refuses a master that is gone (EINVAL).
      (err: Error) => err instanceof NetlinkError && /asd1/.test(err.message),
    );
    assert.equal(await exists('/etc/netns/asd1'), false, 'no /etc/netns/asd1 left');
    assert.ok(!(await netnsNames()).includes('asd1'), 'the namespace was taken back');
    assert.ok(!(await readdir(`${stateDir}/sandboxes`)).includes('asd1.json'), 'no record left');
    const ports = await readdir(`${stateDir}/ports`);
    assert.ok(
      !ports.some((p) => p.endsWith('_18301')),
      `no port reservation left: ${ports.join(' ')}`,
    );
    assert.deepEqual(
      (await readdir(`${stateDir}/ipam/asd`)).filter((f) => !f.startsWith('.')),
      ['10.217.0.2'],
      "only asd0's address is held",
    );
  });
});
