/**
 * Rules: `nft add|insert|replace|delete rule`, `nft list chain`. Statements
 * compile to expressions in ./compile and read back through ./decompile.
 */
import type { ExprWire, RuleWire } from '../binding';
import { ValidationError } from '../errors';
import {
  commentOf,
  commentUdata,
  familyName,
  familyNumber,
  validateComment,
  validateFamily,
  validateName,
  validateUint,
} from './common';
import { compileRule, type CompileEnv } from './compile';
import { decompileRule } from './decompile';
import type { Rule, RuleRef, RuleSpec } from './types';
import type { RuleMsg } from './wire';

export function validateRuleRef(ref: unknown, field = 'rule'): RuleRef {
  if (typeof ref !== 'object' || ref === null)
    throw new ValidationError(field, 'must be an object');
  const r = ref as Partial<RuleRef>;
  return {
    family: validateFamily(r.family, `${field}.family`),
    table: validateName(r.table, `${field}.table`),
    chain: validateName(r.chain, `${field}.chain`),
  };
}

/** A rule handle (`nft -a list ruleset` shows them): a positive integer. */
export function validateHandle(handle: unknown, field: string): number {
  return validateUint(handle, field, Number.MAX_SAFE_INTEGER, 1);
}

/** Checks a rule spec and compiles its statements. */
export function compileRuleSpec(spec: RuleSpec, env: CompileEnv, field = 'rule'): ExprWire[] {
  validateRuleRef(spec, field);
  if (spec.comment !== undefined) validateComment(spec.comment, `${field}.comment`);
  return compileRule(spec.family, spec.expr, env, field);
}

/** NFT_MSG_NEWRULE as `nft add|insert|replace rule` sends it. */
export function ruleWire(
  spec: RuleSpec,
  exprs: ExprWire[],
  flags: number,
  at: { handle?: number; position?: number } = {},
): RuleWire {
  const wire: RuleWire = {
    flags,
    family: familyNumber(spec.family),
    table: spec.table,
    chain: spec.chain,
  };
  if (at.handle !== undefined) wire.handle = at.handle;
  wire.exprs = exprs;
  if (at.position !== undefined) wire.position = at.position;
  const userdata = commentUdata(spec.comment);
  if (userdata) wire.userdata = userdata;
  return wire;
}

/** NFT_MSG_DELRULE: one rule by handle, a chain's rules, or a table's. */
export function ruleRefWire(
  ref: { family: RuleRef['family']; table: string; chain?: string },
  flags: number,
  handle?: number,
): RuleWire {
  const wire: RuleWire = { flags, family: familyNumber(ref.family), table: ref.table };
  if (ref.chain !== undefined) wire.chain = ref.chain;
  if (handle !== undefined) wire.handle = handle;
  return wire;
}

/** A rule as the kernel reports it, in the model. */
export function ruleFromMsg(m: RuleMsg): Rule | undefined {
  const family = familyName(m.family);
  if (!family) return undefined;
  const rule: Rule = {
    family,
    table: m.table,
    chain: m.chain,
    expr: decompileRule(family, m.exprs ?? []),
    handle: m.handle,
  };
  const comment = commentOf(m.userdata);
  if (comment !== undefined) rule.comment = comment;
  return rule;
}

/** `inet netplumb forward` */
export function ruleText(ref: RuleRef): string {
  return `${ref.family} ${ref.table} ${ref.chain}`;
}
