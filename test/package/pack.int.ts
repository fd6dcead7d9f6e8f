/**
 * The tarball as a consumer gets it: `npm pack`, install into a fresh
 * project with scripts off (so nothing can compile), then use it from
 * CommonJS, from an ES module and from TypeScript, and run its CLI.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { Engine } from '../../lib';
import { Cleanup, ROOT, requireSandbox, run } from '../helpers';

interface PackedFile {
  path: string;
  size: number;
  mode: number;
}

interface PackResult {
  filename: string;
  size: number;
  unpackedSize: number;
  entryCount: number;
  files: PackedFile[];
}

interface Lockfile {
  packages: Record<string, Record<string, unknown>>;
}

interface Manifest {
  name: string;
  version: string;
  license: string;
  dependencies: Record<string, string>;
  bin: Record<string, string>;
  engines: Record<string, string>;
  os: string[];
}

/** Runs a program to its end; its exit status and output, whatever they are. */
function status(
  file: string,
  args: string[],
  cwd: string,
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const opts = {
      cwd,
      env: { ...process.env, ...env },
      encoding: 'utf8',
      timeout: 60_000,
    } as const;
    execFile(file, args, opts, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

// npm must never reach for the network (there is none in the test sandbox).
const NPM_FLAGS = ['--offline', '--no-audit', '--no-fund', '--no-update-notifier'];

const CJS = `
const path = require('node:path');
const { Engine, NetNS } = require('netplumb');
const [stateDir, name] = process.argv.slice(2);
(async () => {
  const addon = require('node-gyp-build').path(path.dirname(require.resolve('netplumb/package.json')));
  const engine = await Engine.open({ stateDir, resolvConf: '/dev/null' });
  try {
    const sbx = await engine.createSandbox({ name });
    const listed = (await NetNS.list()).includes(name);
    await engine.removeSandbox(name);
    await engine.removeNetwork('bridge');
    const gone = !(await NetNS.list()).includes(name);
    console.log(JSON.stringify({ addon, ip: sbx.endpoints[0].ip, listed, gone }));
  } finally {
    await engine.close();
  }
})().catch((err) => { console.error(err); process.exit(1); });
`;

const ESM = `
import { Engine, NetNS } from 'netplumb';
const [stateDir, name] = process.argv.slice(2);
const engine = await Engine.open({ stateDir, resolvConf: '/dev/null' });
try {
  const sbx = await engine.createSandbox({ name, network: 'none' });
  const listed = (await NetNS.list()).includes(name);
  await engine.removeSandbox(name);
  const gone = !(await NetNS.list()).includes(name);
  console.log(JSON.stringify({ mode: sbx.mode, listed, gone }));
} finally {
  await engine.close();
}
`;

// Types as a consumer sees them, from both module systems.
const TS_ESM = `
import { Engine, NetlinkError, type Sandbox, type LinkSpec } from 'netplumb';
export async function make(name: string): Promise<Sandbox> {
  const engine: Engine = await Engine.open({ stateDir: '/run/x' });
  const spec: LinkSpec = { kind: 'bridge', name: 'br0' };
  void spec;
  try {
    return await engine.createSandbox({ name, network: 'none' });
  } catch (err) {
    if (err instanceof NetlinkError) console.log(err.code);
    throw err;
  }
}
`;
const TS_CJS = `
import netplumb = require('netplumb');
export const open = (): Promise<netplumb.Engine> => netplumb.Engine.open();
`;
const TS_BAD = `
import { Engine } from 'netplumb';
export const e: Engine = Engine.open({ stateDir: 7 });
`;

describe('the npm package', function () {
  this.timeout(120_000);
  this.slow(30_000);
  before(requireSandbox);
  const cleanup = new Cleanup();
  afterEach(() => cleanup.run());

  it('packs without tests or build trees, installs with scripts off and works from require, import, TypeScript and its bin', async () => {
    const tmp = await mkdtemp(path.join(os.tmpdir(), 'netplumb-pack-'));
    cleanup.add('remove the temporary project', () => rm(tmp, { recursive: true, force: true }));

    // What a release does before `npm pack` (prepack): a fresh prebuild. Incremental here.
    await run(process.execPath, [path.join(ROOT, 'scripts', 'build-native.mjs'), '--prebuildify'], {
      timeout: 600_000,
    });
    const packed = JSON.parse(
      (
        await run(
          'npm',
          ['pack', '--json', '--ignore-scripts', '--pack-destination', tmp, ...NPM_FLAGS],
          {
            cwd: ROOT,
          },
        )
      ).stdout,
    ) as PackResult[];
    const pack = packed[0]!;
    const files = new Map(pack.files.map((f) => [f.path, f]));
    for (const must of [
      'package.json',
      'README.md',
      'LICENSE',
      'CHANGELOG.md',
      'binding.gyp',
      'native/addon.cc',
      'scripts/build-native.mjs',
      'prebuilds/linux-x64/netplumb.glibc.node',
      'dist/lib/index.js',
      'dist/lib/index.d.ts',
      'dist/lib/index.mjs',
      'dist/lib/index.d.mts',
      'dist/lib/cli/main.js',
    ]) {
      assert.ok(files.has(must), `${must} is in the tarball`);
    }
    const stray = [...files.keys()].filter(
      (f) =>
        /^(test|bench|fuzz|examples|docs|build|node_modules|\.ci)\//.test(f) ||
        /^dist\/(?!lib\/)/.test(f) ||
        /fixtures|\.map$|\.tgz$/.test(f),
    );
    assert.deepEqual(stray, [], 'nothing but the library, its addon and its sources');
    assert.equal(files.get('dist/lib/cli/main.js')!.mode & 0o111, 0o111, 'the CLI is executable');
    assert.equal(files.get('scripts/build-native.mjs')!.mode & 0o111, 0o111);
    console.log(
      `      tarball: ${pack.filename}, ${pack.entryCount} files, ${Math.round(pack.size / 1024)} KiB (${Math.round(pack.unpackedSize / 1024)} KiB unpacked)`,
    );

    // A consumer project pinned to the versions our own lockfile tested, so
    // npm needs from its cache only what `npm ci` here already put there.
    const app = path.join(tmp, 'app');
    await mkdir(app);
    const manifest = JSON.parse(
      await readFile(path.join(ROOT, 'package.json'), 'utf8'),
    ) as Manifest;
    const ours = JSON.parse(
      await readFile(path.join(ROOT, 'package-lock.json'), 'utf8'),
    ) as Lockfile;
    const spec = `file:../${pack.filename}`;
    const packages: Lockfile['packages'] = {
      '': { name: 'consumer', version: '1.0.0', dependencies: { [manifest.name]: spec } },
      [`node_modules/${manifest.name}`]: {
        version: manifest.version,
        resolved: spec,
        hasInstallScript: true,
        license: manifest.license,
        dependencies: manifest.dependencies,
        bin: manifest.bin,
        engines: manifest.engines,
        os: manifest.os,
      },
    };
    for (const [key, entry] of Object.entries(ours.packages)) {
      if (key === '' || entry.dev === true || entry.devOptional === true) continue;
      packages[key] = entry;
    }
    await writeFile(
      path.join(app, 'package.json'),
      JSON.stringify({
        name: 'consumer',
        version: '1.0.0',
        private: true,
        dependencies: { [manifest.name]: spec },
      }),
    );
    await writeFile(
      path.join(app, 'package-lock.json'),
      JSON.stringify({
        name: 'consumer',
        version: '1.0.0',
        lockfileVersion: 3,
        requires: true,
        packages,
      }),
    );
    await run('npm', ['ci', '--ignore-scripts', ...NPM_FLAGS], { cwd: app, timeout: 60_000 });
    const installed = path.join(app, 'node_modules', 'netplumb');
    assert.ok(existsSync(path.join(installed, 'prebuilds')));
    assert.ok(!existsSync(path.join(installed, 'build')), 'nothing was compiled');

    // Were npm to run the install script (npm 11 asks first), it would find the
    // prebuild loads and build nothing: a compiler that always fails is never called.
    const install = await status(
      process.execPath,
      [path.join(installed, 'scripts', 'build-native.mjs'), '--if-missing'],
      installed,
      { CC: 'false', CXX: 'false' },
    );
    assert.equal(install.code, 0, install.stderr);
    assert.ok(!existsSync(path.join(installed, 'build')), 'the install script built nothing');

    const stateDir = path.join('/run', `np-pack-${process.pid}`);
    cleanup.add('remove what the consumer programs left', async () => {
      const engine = await Engine.open({ stateDir, resolvConf: '/dev/null' });
      try {
        for (const s of await engine.listSandboxes()) await engine.removeSandbox(s.name);
        for (const n of await engine.listNetworks()) await engine.removeNetwork(n.name);
        await engine.prune();
      } finally {
        await engine.close();
      }
      await rm(stateDir, { recursive: true, force: true });
    });

    await writeFile(path.join(app, 'cjs.cjs'), CJS);
    const cjs = JSON.parse(
      (await run(process.execPath, ['cjs.cjs', stateDir, 'pack-cjs'], { cwd: app })).stdout,
    ) as { addon: string; ip: string; listed: boolean; gone: boolean };
    assert.equal(cjs.addon, path.join(installed, 'prebuilds', 'linux-x64', 'netplumb.glibc.node'));
    assert.match(cjs.ip, /^\d+\.\d+\.\d+\.\d+$/);
    assert.ok(cjs.listed && cjs.gone);

    await writeFile(path.join(app, 'esm.mjs'), ESM);
    const esm = JSON.parse(
      (await run(process.execPath, ['esm.mjs', stateDir, 'pack-esm'], { cwd: app })).stdout,
    ) as { mode: string; listed: boolean; gone: boolean };
    assert.deepEqual(esm, { mode: 'none', listed: true, gone: true });

    // The bin: linked by npm, started through its shebang.
    const bin = path.join(app, 'node_modules', '.bin', 'netplumb');
    assert.match((await run(bin, ['--help'])).stdout, /^Usage: netplumb /);
    assert.equal(
      (await run(bin, ['--state-dir', stateDir, 'sandbox', 'ls', '--json'])).stdout.trim(),
      '[]',
    );

    // TypeScript consumers, both module systems, resolve the shipped types.
    const tscBin = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    const tsFlags = [
      '--ignoreConfig',
      '--noEmit',
      '--strict',
      '--target',
      'es2022',
      '--module',
      'nodenext',
      '--moduleResolution',
      'nodenext',
      '--types',
      'node',
      '--typeRoots',
      path.join(ROOT, 'node_modules', '@types'),
    ];
    await writeFile(path.join(app, 'consumer.mts'), TS_ESM);
    await writeFile(path.join(app, 'consumer.cts'), TS_CJS);
    await writeFile(path.join(app, 'bad.mts'), TS_BAD);
    // The README's TypeScript snippets, as a reader would paste them.
    const readme = await readFile(path.join(ROOT, 'README.md'), 'utf8');
    const snippets = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);
    assert.ok(snippets.length >= 2, 'the README shows TypeScript');
    const snippetFiles = snippets.map((_, i) => `readme-${i}.mts`);
    for (const [i, code] of snippets.entries())
      await writeFile(path.join(app, snippetFiles[i]!), `${code}\nexport {};\n`);
    // One compiler run: the good files compile clean, the bad one fails as it should.
    const tsc = await status(
      process.execPath,
      [tscBin, ...tsFlags, 'consumer.mts', 'consumer.cts', ...snippetFiles, 'bad.mts'],
      app,
    );
    const errors = tsc.stdout.split('\n').filter((l) => / error TS\d+/.test(l));
    assert.notEqual(tsc.code, 0);
    assert.ok(
      errors.every((l) => l.startsWith('bad.mts(')),
      `only bad.mts has errors:\n${tsc.stdout}`,
    );
    assert.ok(
      errors.some((l) => l.includes('Promise<Engine>')),
      'a missing await is caught',
    );
    assert.ok(
      errors.some((l) => l.includes("'number' is not assignable")),
      'a wrong option too',
    );
  });
});
