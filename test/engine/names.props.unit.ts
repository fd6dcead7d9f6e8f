/**
 * Properties of the name validators: every name that is accepted is safe
 * as one path component (no "/", NUL, "." or "..": it cannot leave its
 * directory) and within the kernel's and the tools' limits; everything else
 * is a ValidationError naming the field. Checked against independent
 * models (the kernel's dev_valid_name, path.join), not the validators' own
 * regular expressions.
 */
import assert from 'node:assert/strict';
import path from 'node:path';

import fc from 'fast-check';

import { validateHostname, validateLabels, validateName } from '../../lib/engine/names';
import { validateNetnsName } from '../../lib/netns';
import { validateComment, validateName as validateNftName } from '../../lib/nft/common';
import { validateIfName } from '../../lib/rtnl/common';
import { nasty, refused, runs } from '../props';

/** The name stays one component of `dir`: it cannot name anything outside it. */
function staysIn(dir: string, file: string): void {
  const p = path.join(dir, file);
  assert.equal(path.dirname(p), dir, `${JSON.stringify(file)} leaves ${dir}`);
  assert.equal(path.basename(p), file);
}

/** The kernel's dev_valid_name() (net/core/dev.c), over the UTF-8 bytes. */
function kernelValidIfName(name: string): boolean {
  const b = Buffer.from(name);
  if (b.length === 0 || b.length >= 16) return false;
  if (name === '.' || name === '..') return false;
  return ![...b].some(
    (c) => c === 0 || c === 0x2f || c === 0x3a || [9, 10, 11, 12, 13, 32].includes(c),
  );
}

const alnum = fc.constantFrom(
  ...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'.split(''),
);
const dockerName = fc
  .tuple(alnum, fc.array(fc.oneof(alnum, fc.constantFrom('_', '.', '-')), { maxLength: 63 }))
  .map(([a, rest]) => a + rest.join(''));

describe('properties: names that become paths, interface names, labels', () => {
  it('network and sandbox names: accepted ones are one safe path component, 1-64 characters', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          nasty,
          dockerName,
          dockerName.map((n) => `${n}/..`),
        ),
        (name) => {
          let ok = true;
          try {
            validateName(name, 'name');
          } catch {
            ok = false;
            refused(() => validateName(name, 'name'), 'name');
          }
          if (!ok) return;
          assert.ok(name.length >= 1 && name.length <= 64);
          assert.ok(!name.startsWith('.') && !name.startsWith('-'), name);
          assert.ok(!/[/\0\s]/.test(name));
          for (const dir of [
            '/run/netplumb/sandboxes',
            '/run/netplumb/ipam',
            '/etc/netns',
            '/run/netns',
          ])
            staysIn(dir, name);
          staysIn('/run/netplumb/sandboxes', `${name}.json`);
        },
      ),
      runs(2000),
    );
  });

  it('every Docker-style name is accepted', () => {
    fc.assert(
      fc.property(dockerName, (name) => {
        assert.equal(validateName(name, 'name'), name);
      }),
      runs(500),
    );
  });

  it('namespace names (ip netns): accepted ones are one safe path component', () => {
    fc.assert(
      fc.property(fc.oneof(nasty, dockerName), (name) => {
        let ok = true;
        try {
          validateNetnsName(name, 'netns');
        } catch {
          ok = false;
          refused(() => validateNetnsName(name, 'netns'), 'netns');
        }
        if (ok) {
          assert.ok(Buffer.byteLength(name) <= 255);
          staysIn('/run/netns', name);
          staysIn('/etc/netns', name);
        }
      }),
      runs(2000),
    );
  });

  it('interface names: accepted only if the kernel would take them; every ASCII one it takes is accepted', () => {
    const ifname = fc.oneof(
      nasty,
      fc.string({ minLength: 1, maxLength: 17 }),
      fc.string({ unit: 'binary', minLength: 1, maxLength: 16 }),
    );
    fc.assert(
      fc.property(ifname, (name) => {
        let ok = true;
        try {
          validateIfName(name, 'peer.name');
        } catch {
          ok = false;
          refused(() => validateIfName(name, 'peer.name'), 'peer.name');
        }
        if (ok) assert.ok(kernelValidIfName(name), JSON.stringify(name));
        // Stricter than the kernel only for Unicode white space.
        if (!ok && /^[\x21-\x7e]*$/.test(name))
          assert.ok(!kernelValidIfName(name), JSON.stringify(name));
        if (ok) staysIn('/sys/class/net', name);
      }),
      runs(2000),
    );
  });

  it('host names and aliases: RFC 1123 labels only, at most 253 characters', () => {
    const label = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/);
    const host = fc.array(label, { minLength: 1, maxLength: 5 }).map((ls) => ls.join('.'));
    fc.assert(
      fc.property(fc.oneof(nasty, host), (name) => {
        let ok = true;
        try {
          validateHostname(name, 'aliases[0]');
        } catch {
          ok = false;
          refused(() => validateHostname(name, 'aliases[0]'), 'aliases[0]');
        }
        if (ok) {
          assert.ok(name.length <= 253);
          for (const l of name.split('.')) assert.ok(l.length >= 1 && l.length <= 63);
          assert.ok(!/[^a-zA-Z0-9.-]/.test(name));
        } else {
          assert.ok(
            name.length > 253 ||
              name.split('.').some((l) => !/^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$/.test(l)),
            JSON.stringify(name),
          );
        }
      }),
      runs(1000),
    );
  });

  it('labels: kept exactly when keys are 1-255 and values at most 4096 characters, single-line', () => {
    const key = fc.oneof(
      fc.string({ maxLength: 8 }),
      fc.constantFrom('__proto__', 'constructor', 'toString', 'a\nb', 'x\0', 'k'.repeat(256)),
    );
    const value = fc.oneof(
      fc.string({ maxLength: 16 }),
      fc.constantFrom('', 'v'.repeat(4097), 'a\nb', '\0'),
      fc.anything(),
    );
    fc.assert(
      fc.property(fc.array(fc.tuple(key, value), { maxLength: 5 }), (entries) => {
        const labels: Record<string, unknown> = Object.fromEntries(entries);
        const valid = Object.entries(labels).every(
          ([k, v]) =>
            k.length >= 1 &&
            k.length <= 255 &&
            typeof v === 'string' &&
            v.length <= 4096 &&
            !/[\0\n]/.test(k + v),
        );
        if (valid) {
          const out = validateLabels(labels, 'labels');
          assert.deepEqual(Object.entries(out), Object.entries(labels));
          assert.deepEqual(JSON.parse(JSON.stringify(out)), JSON.parse(JSON.stringify(labels)));
        } else {
          refused(() => validateLabels(labels, 'labels'), /^labels\./);
        }
      }),
      runs(1000),
    );
  });

  it('labels that are not an object of strings are refused', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.anything().filter((v) => typeof v !== 'object' || v === null || Array.isArray(v)),
        ),
        (v) => {
          if (v === undefined) assert.deepEqual(validateLabels(v, 'labels'), {});
          else refused(() => validateLabels(v, 'labels'), 'labels');
        },
      ),
      runs(300),
    );
  });

  it('nftables names and comments: byte limits of the kernel and nft, no control characters', () => {
    fc.assert(
      fc.property(fc.oneof(nasty, fc.string({ unit: 'binary', maxLength: 140 })), (s) => {
        let ok = true;
        try {
          validateNftName(s, 'set.name');
        } catch {
          ok = false;
          refused(() => validateNftName(s, 'set.name'), 'set.name');
        }
        assert.equal(ok, s.length > 0 && Buffer.byteLength(s) <= 255 && !/[\x00-\x1f\x7f]/.test(s));
        let commentOk = true;
        try {
          validateComment(s, 'rule.comment');
        } catch {
          commentOk = false;
          refused(() => validateComment(s, 'rule.comment'), 'rule.comment');
        }
        assert.equal(commentOk, Buffer.byteLength(s) <= 127 && !s.includes('\0'));
      }),
      runs(1000),
    );
  });
});
