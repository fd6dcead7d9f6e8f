#!/usr/bin/env node
// Builds the addon with node-gyp against the headers of the Node that runs
// this script, so nothing is downloaded (the machine may be offline).
//   node scripts/build-native.mjs               build build/Release/netplumb.node
//                                               (incremental: make recompiles what changed)
//   node scripts/build-native.mjs --rebuild     configure again first
//   node scripts/build-native.mjs --if-missing  (the package's install script) build only
//                                               when no prebuild or earlier build loads
//   node scripts/build-native.mjs --prebuildify write prebuilds/linux-<arch>/netplumb.glibc.node
//                                               (prebuildify --napi --strip --tag-libc)
//   node scripts/build-native.mjs --prebuildify --clean
//                                               the same from a clean tree (for releases)
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, renameSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const self = fileURLToPath(import.meta.url);
const root = path.resolve(path.dirname(self), '..');
const require = createRequire(import.meta.url);
const args = process.argv.slice(2);

if (args.includes('--if-missing')) {
  // node-gyp-build only checks that a file exists; loading it also proves
  // that this machine's glibc and libstdc++ are new enough for the prebuild.
  try {
    require('node-gyp-build')(root);
    process.exit(0);
  } catch (err) {
    // no usable binary: say why, then build one from source
    const why = String(err instanceof Error ? err.message : err).split('\n')[0];
    console.error(`netplumb: no prebuilt addon loads here (${why}); building from source`);
  }
}

// The Node that runs us keeps its headers in <prefix>/include/node.
const env = { ...process.env };
if (!env.npm_config_nodedir) {
  const prefix = path.resolve(path.dirname(process.execPath), '..');
  if (existsSync(path.join(prefix, 'include', 'node', 'node_api.h'))) {
    env.npm_config_nodedir = prefix;
  }
}
// node-gyp reads JOBS for make -j; a clean build of ~40 files wants them all.
env.JOBS ??= 'max';

function run(bin, argv) {
  const r = spawnSync(bin, argv, { cwd: root, env, stdio: 'inherit' });
  if (r.error?.code === 'ENOENT') {
    console.error(`netplumb: ${bin} not found; a source build needs node-gyp, make and g++`);
    process.exit(1);
  }
  if (r.error) throw r.error;
  if (r.status !== 0) process.exit(r.status ?? 1);
}

function localBin(pkg, file) {
  try {
    return path.join(path.dirname(require.resolve(`${pkg}/package.json`)), file);
  } catch {
    return null;
  }
}

// A consumer's source build has no node-gyp of its own: npm names its bundled one.
const gyp = localBin('node-gyp', 'bin/node-gyp.js') ?? env.npm_config_node_gyp;
const nodeGyp = (argv) => (gyp ? run(process.execPath, [gyp, ...argv]) : run('node-gyp', argv));

/** Configure once, then build incrementally. */
function build() {
  const configured = existsSync(path.join(root, 'build', 'config.gypi'));
  if (!configured || args.includes('--rebuild')) nodeGyp(['configure']);
  nodeGyp(['build']);
}

if (args[0] === 'rebuild' && env.PREBUILD_PLATFORM) {
  // prebuildify runs us as its node-gyp (`rebuild --target=... --release`):
  // build incrementally unless --clean asked for a build from scratch. make hard-links
  // build/Release/netplumb.node to obj.target/netplumb.node, and strip(1)
  // keeps hard links, so hand prebuildify a copy of its own to strip and move.
  if (env.NETPLUMB_PREBUILD_CLEAN === '1') nodeGyp(['rebuild']);
  else build();
  const out = path.join(root, 'build', 'Release', 'netplumb.node');
  if (statSync(out).nlink > 1) {
    copyFileSync(out, `${out}.tmp`);
    renameSync(`${out}.tmp`, out);
  }
} else if (args.includes('--prebuildify')) {
  const bin = localBin('prebuildify', 'bin.js');
  if (!bin) throw new Error('prebuildify is not installed (npm install --include=dev)');
  if (args.includes('--clean')) env.NETPLUMB_PREBUILD_CLEAN = '1';
  run(process.execPath, [
    bin,
    '--napi',
    '--strip',
    '--tag-libc',
    '--target',
    `node@${process.versions.node}`,
    '--node-gyp',
    self,
  ]);
  // prebuildify moved build/Release/netplumb.node away; put the unstripped one back.
  nodeGyp(['build']);
} else {
  build();
}
