// ct: conntrack state (`ct state`, `ct status`, `ct mark [set]`).
#include <linux/netfilter/nf_tables.h>

#include "nft/expr/expr.h"

namespace netplumb::nft {
namespace {

// [ ct load KEY => reg DREG ] / [ ct set KEY with reg SREG ]: KEY, DREG, DIRECTION, SREG.
void Encode(MessageWriter& w, const Spec& s) {
  w.AttrBe32(NFTA_CT_KEY, NeedU32(s, "key"));
  PutBe32(w, NFTA_CT_DREG, s, "dreg");
  if (auto v = s.U32("dir")) w.AttrU8(NFTA_CT_DIRECTION, static_cast<uint8_t>(*v));
  PutBe32(w, NFTA_CT_SREG, s, "sreg");
}

bool Decode(Out o, const AttrView& a) {
  switch (a.type) {
    case NFTA_CT_KEY:
      o.Set("key", a.Be32());
      return true;
    case NFTA_CT_DREG:
      o.Set("dreg", a.Be32());
      return true;
    case NFTA_CT_DIRECTION:
      o.Set("dir", a.U8());
      return true;
    case NFTA_CT_SREG:
      o.Set("sreg", a.Be32());
      return true;
    default:
      return false;
  }
}

}  // namespace

const ExprKind kCtExpr{"ct", Encode, Decode};

}  // namespace netplumb::nft
