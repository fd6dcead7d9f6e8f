// range: `tcp dport != 8000-8010` (nft writes `==` ranges as two cmps).
#include <linux/netfilter/nf_tables.h>

#include "nft/expr/expr.h"
#include "nft/nft.h"

namespace netplumb::nft {
namespace {

// [ range OP reg SREG FROM TO ]: SREG, OP, FROM_DATA, TO_DATA.
void Encode(MessageWriter& w, const Spec& s) {
  w.AttrBe32(NFTA_RANGE_SREG, NeedU32(s, "sreg"));
  w.AttrBe32(NFTA_RANGE_OP, NeedU32(s, "op"));
  auto from = s.Bytes("from");
  auto to = s.Bytes("to");
  if (!from) s.Fail("from", "a Buffer");
  if (!to) s.Fail("to", "a Buffer");
  PutValue(w, NFTA_RANGE_FROM_DATA, *from);
  PutValue(w, NFTA_RANGE_TO_DATA, *to);
}

bool Decode(Out o, const AttrView& a) {
  switch (a.type) {
    case NFTA_RANGE_SREG:
      o.Set("sreg", a.Be32());
      return true;
    case NFTA_RANGE_OP:
      o.Set("op", a.Be32());
      return true;
    case NFTA_RANGE_FROM_DATA:
      GetData(o, a, "from", "fromVerdict");
      return true;
    case NFTA_RANGE_TO_DATA:
      GetData(o, a, "to", "toVerdict");
      return true;
    default:
      return false;
  }
}

}  // namespace

const ExprKind kRangeExpr{"range", Encode, Decode};

}  // namespace netplumb::nft
