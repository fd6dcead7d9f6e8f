// immediate: load constant data or set the verdict (`accept`, `jump c`).
#include <linux/netfilter/nf_tables.h>

#include "nft/expr/expr.h"
#include "nft/nft.h"

namespace netplumb::nft {
namespace {

// [ immediate reg DREG DATA|VERDICT ]: DREG, DATA.
void Encode(MessageWriter& w, const Spec& s) {
  w.AttrBe32(NFTA_IMMEDIATE_DREG, NeedU32(s, "dreg"));
  if (auto v = s.Bytes("data")) {
    PutValue(w, NFTA_IMMEDIATE_DATA, *v);
  } else if (auto verdict = s.Obj("verdict")) {
    PutVerdict(w, NFTA_IMMEDIATE_DATA, *verdict);
  } else {
    s.Fail("data", "a Buffer (or give verdict)");
  }
}

bool Decode(Out o, const AttrView& a) {
  switch (a.type) {
    case NFTA_IMMEDIATE_DREG:
      o.Set("dreg", a.Be32());
      return true;
    case NFTA_IMMEDIATE_DATA:
      GetData(o, a, "data", "verdict");
      return true;
    default:
      return false;
  }
}

}  // namespace

const ExprKind kImmediateExpr{"immediate", Encode, Decode};

}  // namespace netplumb::nft
