/**
 * nft's words for comparison operators, conntrack states and statuses and
 * route types, with their kernel values.
 */
import { K } from '../binding';
import type { CmpOp, CtState, CtStatus, FibAddrType } from './types';

export const CMP_OPS: Readonly<Record<CmpOp, number>> = {
  '==': K.NFT_CMP_EQ,
  '!=': K.NFT_CMP_NEQ,
  '<': K.NFT_CMP_LT,
  '<=': K.NFT_CMP_LTE,
  '>': K.NFT_CMP_GT,
  '>=': K.NFT_CMP_GTE,
};

/** ct state bits: NF_CT_STATE_BIT(ctinfo) = 1 << (ctinfo + 1). */
export const CT_STATES: Readonly<Record<CtState, number>> = {
  invalid: K.NF_CT_STATE_INVALID_BIT,
  established: 1 << (K.IP_CT_ESTABLISHED + 1),
  related: 1 << (K.IP_CT_RELATED + 1),
  new: 1 << (K.IP_CT_NEW + 1),
  untracked: K.NF_CT_STATE_UNTRACKED_BIT,
};

export const CT_STATUSES: Readonly<Record<CtStatus, number>> = {
  expected: K.IPS_EXPECTED,
  'seen-reply': K.IPS_SEEN_REPLY,
  assured: K.IPS_ASSURED,
  confirmed: K.IPS_CONFIRMED,
  snat: K.IPS_SRC_NAT,
  dnat: K.IPS_DST_NAT,
  dying: K.IPS_DYING,
};

export const FIB_TYPES: Readonly<Record<FibAddrType, number>> = {
  unspec: K.RTN_UNSPEC,
  unicast: K.RTN_UNICAST,
  local: K.RTN_LOCAL,
  broadcast: K.RTN_BROADCAST,
  anycast: K.RTN_ANYCAST,
  multicast: K.RTN_MULTICAST,
  blackhole: K.RTN_BLACKHOLE,
  unreachable: K.RTN_UNREACHABLE,
  prohibit: K.RTN_PROHIBIT,
};
