// nf_tables expressions: each kind encodes NFTA_EXPR_DATA from a plain spec
// ({ name: 'payload', base, offset, len, dreg }, ...) and decodes it into the
// same fields. Registers are passed as the kernel numbers them (NFT_REG_1..4
// for 16-byte registers, NFT_REG32_00.. for 4-byte ones); lib/nft allocates
// them the way nft does.
#pragma once

#include <string_view>

#include "common/out.h"
#include "common/spec.h"
#include "netlink/message.h"

namespace netplumb::nft {

struct ExprKind {
  const char* name;
  // Writes the attributes inside NFTA_EXPR_DATA.
  void (*encode)(MessageWriter& w, const Spec& s);
  // Reads one attribute of NFTA_EXPR_DATA into `out`; false if unknown.
  bool (*decode)(Out out, const AttrView& a);
};

extern const ExprKind kPayloadExpr;
extern const ExprKind kCmpExpr;
extern const ExprKind kMetaExpr;
extern const ExprKind kCtExpr;
extern const ExprKind kFibExpr;
extern const ExprKind kLookupExpr;
extern const ExprKind kImmediateExpr;
extern const ExprKind kCounterExpr;
extern const ExprKind kNatExpr;
extern const ExprKind kMasqExpr;
extern const ExprKind kRedirExpr;
extern const ExprKind kRejectExpr;
extern const ExprKind kBitwiseExpr;
extern const ExprKind kRangeExpr;

const ExprKind* FindExprKind(std::string_view name);

// NFTA_LIST_ELEM { NFTA_EXPR_NAME, NFTA_EXPR_DATA }. A spec with `attrs`
// ({ [NFTA_*]: number | string | Buffer }) is written as given: the escape
// hatch for expressions lib/nft does not model.
void EncodeExpr(MessageWriter& w, const Spec& s);

// The typed fields of a known expression plus, always, `attrs` (every
// attribute as sent: 4-byte ones as numbers in host order, others as
// Buffers). `partial: true` marks an unknown kind or attribute.
void DecodeExpr(Out o, const AttrView& elem);

// Helpers for the expression files.
void PutBe32(MessageWriter& w, uint16_t type, const Spec& s, const char* key);
uint32_t NeedU32(const Spec& s, const char* key);

}  // namespace netplumb::nft
