// cmp: compare a register with data (`tcp dport 80`, `ip saddr != 10.0.0.1`).
#include <linux/netfilter/nf_tables.h>

#include "nft/expr/expr.h"
#include "nft/nft.h"

namespace netplumb::nft {
namespace {

// [ cmp OP reg SREG DATA ]: SREG, OP, DATA.
void Encode(MessageWriter& w, const Spec& s) {
  w.AttrBe32(NFTA_CMP_SREG, NeedU32(s, "sreg"));
  w.AttrBe32(NFTA_CMP_OP, NeedU32(s, "op"));
  auto data = s.Bytes("data");
  if (!data) s.Fail("data", "a Buffer");
  PutValue(w, NFTA_CMP_DATA, *data);
}

bool Decode(Out o, const AttrView& a) {
  switch (a.type) {
    case NFTA_CMP_SREG:
      o.Set("sreg", a.Be32());
      return true;
    case NFTA_CMP_OP:
      o.Set("op", a.Be32());
      return true;
    case NFTA_CMP_DATA:
      GetData(o, a, "data", "verdict");
      return true;
    default:
      return false;
  }
}

}  // namespace

const ExprKind kCmpExpr{"cmp", Encode, Decode};

}  // namespace netplumb::nft
