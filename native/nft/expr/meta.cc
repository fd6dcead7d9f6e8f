// meta: packet metadata (`iifname`, `meta l4proto`, `meta mark [set]`).
#include <linux/netfilter/nf_tables.h>

#include "nft/expr/expr.h"

namespace netplumb::nft {
namespace {

// [ meta load KEY => reg DREG ] / [ meta set KEY with reg SREG ]: KEY, DREG|SREG.
void Encode(MessageWriter& w, const Spec& s) {
  w.AttrBe32(NFTA_META_KEY, NeedU32(s, "key"));
  PutBe32(w, NFTA_META_DREG, s, "dreg");
  PutBe32(w, NFTA_META_SREG, s, "sreg");
}

bool Decode(Out o, const AttrView& a) {
  switch (a.type) {
    case NFTA_META_KEY:
      o.Set("key", a.Be32());
      return true;
    case NFTA_META_DREG:
      o.Set("dreg", a.Be32());
      return true;
    case NFTA_META_SREG:
      o.Set("sreg", a.Be32());
      return true;
    default:
      return false;
  }
}

}  // namespace

const ExprKind kMetaExpr{"meta", Encode, Decode};

}  // namespace netplumb::nft
