// fib: routing lookups (`fib daddr type local`).
#include <linux/netfilter/nf_tables.h>

#include "nft/expr/expr.h"

namespace netplumb::nft {
namespace {

// [ fib FLAGS RESULT => reg DREG ]: FLAGS, RESULT, DREG.
void Encode(MessageWriter& w, const Spec& s) {
  w.AttrBe32(NFTA_FIB_FLAGS, NeedU32(s, "flags"));
  w.AttrBe32(NFTA_FIB_RESULT, NeedU32(s, "result"));
  w.AttrBe32(NFTA_FIB_DREG, NeedU32(s, "dreg"));
}

bool Decode(Out o, const AttrView& a) {
  switch (a.type) {
    case NFTA_FIB_FLAGS:
      o.Set("flags", a.Be32());
      return true;
    case NFTA_FIB_RESULT:
      o.Set("result", a.Be32());
      return true;
    case NFTA_FIB_DREG:
      o.Set("dreg", a.Be32());
      return true;
    default:
      return false;
  }
}

}  // namespace

const ExprKind kFibExpr{"fib", Encode, Decode};

}  // namespace netplumb::nft
