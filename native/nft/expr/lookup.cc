// lookup: set membership and map lookups (`ip daddr @s`, `vmap @m`, `map @m`).
#include <linux/netfilter/nf_tables.h>

#include "nft/expr/expr.h"
#include "nft/nft.h"

namespace netplumb::nft {
namespace {

// [ lookup reg SREG set NAME [dreg DREG] [FLAGS] ]: SREG, DREG, SET, SET_ID, FLAGS.
void Encode(MessageWriter& w, const Spec& s) {
  w.AttrBe32(NFTA_LOOKUP_SREG, NeedU32(s, "sreg"));
  PutBe32(w, NFTA_LOOKUP_DREG, s, "dreg");
  w.AttrString(NFTA_LOOKUP_SET, NeedStr(s, "set"));
  PutBe32(w, NFTA_LOOKUP_SET_ID, s, "setId");
  PutBe32(w, NFTA_LOOKUP_FLAGS, s, "flags");
}

bool Decode(Out o, const AttrView& a) {
  switch (a.type) {
    case NFTA_LOOKUP_SREG:
      o.Set("sreg", a.Be32());
      return true;
    case NFTA_LOOKUP_DREG:
      o.Set("dreg", a.Be32());
      return true;
    case NFTA_LOOKUP_SET:
      o.Set("set", std::string(a.String()));
      return true;
    case NFTA_LOOKUP_SET_ID:
      o.Set("setId", a.Be32());
      return true;
    case NFTA_LOOKUP_FLAGS:
      o.Set("flags", a.Be32());
      return true;
    default:
      return false;
  }
}

}  // namespace

const ExprKind kLookupExpr{"lookup", Encode, Decode};

}  // namespace netplumb::nft
