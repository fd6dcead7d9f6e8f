/**
 * Property tests (fast-check): bounded runs, a seed printed on failure.
 *   FC_SEED=123 FC_PATH=... npm test    replays a failure (fast-check prints both)
 *   FC_RUNS_SCALE=10 npm test           runs every property ten times longer
 */
import assert from 'node:assert/strict';

import fc from 'fast-check';

import { ValidationError } from '../lib/errors';

/** Options for fc.assert: `runs` scaled by FC_RUNS_SCALE; FC_SEED/FC_PATH replay a failure. */
export function runs(n: number): fc.Parameters<unknown> {
  const scale = Number(process.env.FC_RUNS_SCALE ?? '1');
  const opts: fc.Parameters<unknown> = {
    numRuns: Math.max(1, Math.round(n * (Number.isFinite(scale) && scale > 0 ? scale : 1))),
  };
  if (process.env.FC_SEED !== undefined) opts.seed = Number(process.env.FC_SEED);
  if (process.env.FC_PATH !== undefined) opts.path = process.env.FC_PATH;
  return opts;
}

/** The call throws a ValidationError whose field is `field` (or matches it). */
export function refused(fn: () => unknown, field: string | RegExp): ValidationError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  return checkRefusal(caught, field);
}

/** The promise rejects with a ValidationError whose field is `field` (or matches it). */
export async function refusedAsync(
  p: () => Promise<unknown>,
  field: string | RegExp,
): Promise<ValidationError> {
  let caught: unknown;
  try {
    await p();
  } catch (err) {
    caught = err;
  }
  return checkRefusal(caught, field);
}

function checkRefusal(caught: unknown, field: string | RegExp): ValidationError {
  assert.ok(caught !== undefined, 'expected a ValidationError, nothing was thrown');
  assert.ok(
    caught instanceof ValidationError,
    `expected a ValidationError, got ${caught instanceof Error ? String(caught.stack) : JSON.stringify(caught)}`,
  );
  if (typeof field === 'string') assert.equal(caught.field, field, caught.message);
  else assert.match(caught.field, field, caught.message);
  // The message names the field, as users read it.
  assert.ok(caught.message.startsWith(`${caught.field}: `), caught.message);
  return caught;
}

/** Strings likely to break parsers and paths, mixed with arbitrary ones. */
export const nasty: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    '',
    '.',
    '..',
    '../x',
    '../../etc/passwd',
    '/',
    '/etc',
    'a/b',
    'x\0y',
    '\0',
    ' ',
    'a b',
    '\n',
    '-',
    '-rf',
    '.hidden',
    'é',
    '\u202e',
    'x'.repeat(300),
    '%2e%2e',
    '..\\x',
    'C:',
    '*',
    '$(id)',
    '`id`',
    ';id',
  ),
  fc.string({ unit: 'binary', maxLength: 80 }),
  fc.string({ maxLength: 80 }),
);
