#!/usr/bin/env node
// clang-format over native/, fuzz/targets/, bench/floor/ and test/native/ (the C and C++ formatter); --check fails on a diff.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const files = [];
function walk(dir) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walk(p);
    else if (/\.(cc|h|c)$/.test(e.name)) files.push(p);
  }
}
walk(path.join(root, 'native'));
walk(path.join(root, 'fuzz', 'targets'));
walk(path.join(root, 'bench', 'floor'));
walk(path.join(root, 'test', 'native'));
const check = process.argv.includes('--check');
const probe = spawnSync('clang-format', ['--version']);
if (probe.error) {
  console.error(
    'clang-format is not installed (Debian package clang-format): C++ formatting not checked',
  );
  process.exit(check ? 1 : 0);
}
const args = check ? ['--dry-run', '--Werror', ...files] : ['-i', ...files];
const r = spawnSync('clang-format', args, { stdio: 'inherit' });
process.exit(r.status ?? 1);
