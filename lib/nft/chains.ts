/**
 * Chains: `nft add chain`, `nft delete chain`, `nft flush chain`,
 * `nft list chains`. Base chains (type + hook + priority) are checked
 * against what the kernel allows per family and hook before anything is
 * sent.
 */
import { K, type ChainWire } from '../binding';
import { ValidationError } from '../errors';
import { validateIfName } from '../rtnl/common';
import {
  commentOf,
  commentUdata,
  familyName,
  familyNumber,
  validateComment,
  validateFamily,
  validateName,
} from './common';
import type { Chain, ChainRef, ChainSpec, ChainType, Hook, NftFamily, Priority } from './types';
import type { ChainMsg } from './wire';

type NamedPriority = Exclude<Priority, number>;

const INET_HOOKS: Partial<Record<Hook, number>> = {
  prerouting: K.NF_INET_PRE_ROUTING,
  input: K.NF_INET_LOCAL_IN,
  forward: K.NF_INET_FORWARD,
  output: K.NF_INET_LOCAL_OUT,
  postrouting: K.NF_INET_POST_ROUTING,
};

/** The hooks each family has, with their numbers. */
const HOOKS: Readonly<Record<NftFamily, Partial<Record<Hook, number>>>> = {
  ip: INET_HOOKS,
  ip6: INET_HOOKS,
  inet: { ...INET_HOOKS, ingress: K.NF_INET_INGRESS },
  bridge: {
    prerouting: K.NF_BR_PRE_ROUTING,
    input: K.NF_BR_LOCAL_IN,
    forward: K.NF_BR_FORWARD,
    output: K.NF_BR_LOCAL_OUT,
    postrouting: K.NF_BR_POST_ROUTING,
  },
  arp: { input: K.NF_ARP_IN, output: K.NF_ARP_OUT },
  netdev: { ingress: K.NF_NETDEV_INGRESS },
};

/** Which families and hooks each chain type may attach to (the kernel's chain type table). */
const TYPES: Readonly<Record<ChainType, { families: NftFamily[]; hooks?: Hook[] }>> = {
  filter: { families: ['ip', 'ip6', 'inet', 'bridge', 'arp', 'netdev'] },
  nat: { families: ['ip', 'ip6', 'inet'], hooks: ['prerouting', 'input', 'output', 'postrouting'] },
  route: { families: ['ip', 'ip6', 'inet'], hooks: ['output'] },
};

const IP_PRIORITIES: Partial<Record<NamedPriority, number>> = {
  raw: K.NF_IP_PRI_RAW,
  mangle: K.NF_IP_PRI_MANGLE,
  dstnat: K.NF_IP_PRI_NAT_DST,
  filter: K.NF_IP_PRI_FILTER,
  security: K.NF_IP_PRI_SECURITY,
  srcnat: K.NF_IP_PRI_NAT_SRC,
};

/** nft's named priorities per family (bridge has its own scale). */
const PRIORITIES: Readonly<Record<NftFamily, Partial<Record<NamedPriority, number>>>> = {
  ip: IP_PRIORITIES,
  ip6: IP_PRIORITIES,
  inet: IP_PRIORITIES,
  bridge: {
    dstnat: K.NF_BR_PRI_NAT_DST_BRIDGED,
    filter: K.NF_BR_PRI_FILTER_BRIDGED,
    srcnat: K.NF_BR_PRI_NAT_SRC,
  },
  arp: { filter: K.NF_IP_PRI_FILTER },
  netdev: { filter: K.NF_IP_PRI_FILTER },
};

const POLICIES = { accept: K.NF_ACCEPT, drop: K.NF_DROP } as const;

export function validateChainRef(ref: unknown, field = 'chain'): ChainRef {
  if (typeof ref !== 'object' || ref === null)
    throw new ValidationError(field, 'must be an object');
  const r = ref as Partial<ChainRef>;
  return {
    family: validateFamily(r.family, `${field}.family`),
    table: validateName(r.table, `${field}.table`),
    name: validateName(r.name, `${field}.name`),
  };
}

function priorityNumber(family: NftFamily, p: unknown, field: string): number {
  if (typeof p === 'number') {
    if (!Number.isInteger(p) || p < -0x80000000 || p > 0x7fffffff)
      throw new ValidationError(field, 'must be a 32-bit integer or a priority name');
    return p;
  }
  const names = PRIORITIES[family];
  if (typeof p === 'string' && Object.hasOwn(names, p)) return names[p as NamedPriority]!;
  throw new ValidationError(
    field,
    `${JSON.stringify(p)} is not a priority of the ${family} family (${Object.keys(names).join(', ')} or a number)`,
  );
}

/** Checks a chain spec: base chains need a type, hook and priority that fit the family. */
export function validateChainSpec(spec: ChainSpec, field = 'chain'): void {
  validateChainRef(spec, field);
  const base = spec.type !== undefined || spec.hook !== undefined || spec.priority !== undefined;
  if (!base) {
    for (const k of ['policy', 'device'] as const) {
      if (spec[k] !== undefined)
        throw new ValidationError(
          `${field}.${k}`,
          'only base chains (with type, hook, priority) have one',
        );
    }
  } else {
    for (const k of ['type', 'hook', 'priority'] as const) {
      if (spec[k] === undefined)
        throw new ValidationError(
          `${field}.${k}`,
          'is required for a base chain (type, hook and priority)',
        );
    }
    const type = spec.type!;
    if (!Object.hasOwn(TYPES, type))
      throw new ValidationError(
        `${field}.type`,
        `${JSON.stringify(type)} is not a chain type (filter, nat, route)`,
      );
    const hooks = HOOKS[spec.family];
    if (typeof spec.hook !== 'string' || !Object.hasOwn(hooks, spec.hook)) {
      throw new ValidationError(
        `${field}.hook`,
        `${JSON.stringify(spec.hook)} is not a hook of the ${spec.family} family (${Object.keys(hooks).join(', ')})`,
      );
    }
    const rule = TYPES[type];
    if (!rule.families.includes(spec.family) || (rule.hooks && !rule.hooks.includes(spec.hook))) {
      const where = rule.hooks ? ` at ${rule.hooks.join(', ')}` : '';
      throw new ValidationError(
        `${field}.type`,
        `${type} chains exist only in ${rule.families.join(', ')} tables${where}, not ${spec.family} ${spec.hook}`,
      );
    }
    priorityNumber(spec.family, spec.priority, `${field}.priority`);
    if (spec.policy !== undefined && !Object.hasOwn(POLICIES, spec.policy))
      throw new ValidationError(`${field}.policy`, 'must be accept or drop');
    const needsDevice = spec.hook === 'ingress';
    if (needsDevice && spec.device === undefined)
      throw new ValidationError(`${field}.device`, 'is required for ingress chains');
    if (!needsDevice && spec.device !== undefined)
      throw new ValidationError(`${field}.device`, 'only ingress chains attach to a device');
    if (spec.device !== undefined) validateIfName(spec.device, `${field}.device`);
  }
  if (spec.comment !== undefined) validateComment(spec.comment, `${field}.comment`);
}

/** NFT_MSG_NEWCHAIN as `nft add chain` sends it. */
export function chainWire(spec: ChainSpec, flags: number): ChainWire {
  const wire: ChainWire = {
    flags,
    family: familyNumber(spec.family),
    table: spec.table,
    name: spec.name,
  };
  if (spec.type !== undefined) wire.type = spec.type;
  if (spec.policy !== undefined) wire.policy = POLICIES[spec.policy];
  if (spec.hook !== undefined && spec.priority !== undefined) {
    wire.hook = {
      num: HOOKS[spec.family][spec.hook]!,
      priority: priorityNumber(spec.family, spec.priority, 'priority'),
    };
    if (spec.device !== undefined) wire.hook.dev = spec.device;
  }
  const userdata = commentUdata(spec.comment);
  if (userdata) wire.userdata = userdata;
  return wire;
}

export function chainRefWire(ref: ChainRef, flags: number): ChainWire {
  return { flags, family: familyNumber(ref.family), table: ref.table, name: ref.name };
}

/** A chain as the kernel reports it; priorities that have an nft name read back as that name. */
export function chainFromMsg(m: ChainMsg): Chain | undefined {
  const family = familyName(m.family);
  if (!family) return undefined;
  const c: Chain = { family, table: m.table, name: m.name, handle: m.handle };
  if (m.hook && m.type !== undefined) {
    const hook = (Object.keys(HOOKS[family]) as Hook[]).find(
      (h) => HOOKS[family][h] === m.hook!.num,
    );
    if (Object.hasOwn(TYPES, m.type)) c.type = m.type as ChainType;
    if (hook) c.hook = hook;
    const names = PRIORITIES[family];
    const named = (Object.keys(names) as NamedPriority[]).find(
      (n) => names[n] === m.hook!.priority,
    );
    c.priority = named ?? m.hook.priority;
    if (m.policy !== undefined) c.policy = m.policy === K.NF_DROP ? 'drop' : 'accept';
    if (m.hook.dev !== undefined) c.device = m.hook.dev;
  }
  const comment = commentOf(m.userdata);
  if (comment !== undefined) c.comment = comment;
  return c;
}

/** `inet netplumb forward` */
export function chainText(ref: ChainRef): string {
  return `${ref.family} ${ref.table} ${ref.name}`;
}
