/** The package's entry points: `import` and `require` hand out the same names. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

import { ROOT } from '../helpers';

interface Manifest {
  main: string;
  types: string;
  exports: Record<string, { import: Record<string, string>; require: Record<string, string> }>;
  bin: Record<string, string>;
  binary: { napi_versions: number[] };
}

const manifest = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as Manifest;

describe('package entry points', () => {
  it('the ES module wrapper exports exactly what the CommonJS build does', async () => {
    const cjs = createRequire(__filename)(
      path.join(ROOT, manifest.exports['.']!.require.default!),
    ) as Record<string, unknown>;
    const esm = (await import(path.join(ROOT, manifest.exports['.']!.import.default!))) as Record<
      string,
      unknown
    >;
    const names = (o: Record<string, unknown>): string[] =>
      Object.keys(o)
        .filter((k) => k !== '__esModule' && k !== 'default')
        .sort();
    assert.deepEqual(names(esm), names(cjs));
    assert.ok(!('__esModule' in esm), 'no CommonJS marker among the ES exports');
    for (const k of names(cjs)) assert.equal(esm[k], cjs[k], `${k} is the same object`);
  });

  it('main, types and exports point at files the build makes; the CLI has a shebang', () => {
    const targets = [
      manifest.main,
      manifest.types,
      ...Object.values(manifest.exports['.']!.import),
      ...Object.values(manifest.exports['.']!.require),
    ];
    for (const t of targets) readFileSync(path.join(ROOT, t));
    const cli = readFileSync(path.join(ROOT, manifest.bin.netplumb!), 'utf8');
    assert.match(cli, /^#!\/usr\/bin\/env node\n/);
  });

  it('binding.gyp builds for the Node-API version package.json declares', () => {
    const gyp = readFileSync(path.join(ROOT, 'binding.gyp'), 'utf8');
    const m = /"NAPI_VERSION=(\d+)"/.exec(gyp);
    assert.ok(m);
    assert.deepEqual(manifest.binary.napi_versions, [Number(m[1])]);
    assert.ok(Number(process.versions.napi) >= Number(m[1]));
  });
});
