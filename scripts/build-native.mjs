#!/usr/bin/env node
// Builds the addon with node-gyp against the headers of the Node that runs
// this script, so nothing is downloaded (the machine may be offline).
//   node scripts/build-native.mjs               rebuild build/Release/netplumb.node
//   node scripts/build-native.mjs --if-missing  (npm install) only when no
//                                               prebuild or build loads
//   node scripts/build-native.mjs --prebuildify write prebuilds/<platform>-<arch>
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const args = process.argv.slice(2);

if (args.includes('--if-missing')) {
  try {
    require('node-gyp-build')(root);
    process.exit(0);
  } catch {
    // no usable binary: fall through and build one
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

function run(bin, argv) {
  const r = spawnSync(bin, argv, { cwd: root, env, stdio: 'inherit' });
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

if (args.includes('--prebuildify')) {
  const bin = localBin('prebuildify', 'bin.js');
  if (!bin) throw new Error('prebuildify is not installed (npm install --include=dev)');
  run(process.execPath, [bin, '--napi', '--strip', '--target', `node@${process.versions.node}`]);
} else {
  // Configure once, then build incrementally (make only recompiles what changed).
  const gyp = localBin('node-gyp', 'bin/node-gyp.js') ?? env.npm_config_node_gyp;
  const nodeGyp = (argv) => (gyp ? run(process.execPath, [gyp, ...argv]) : run('node-gyp', argv));
  const configured = existsSync(path.join(root, 'build', 'config.gypi'));
  if (!configured || args.includes('--rebuild')) nodeGyp(['configure']);
  nodeGyp(['build', '-j', 'max']);
}
