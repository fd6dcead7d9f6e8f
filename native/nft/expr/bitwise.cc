// bitwise: masks for prefixes and flag tests (`ip saddr 10.0.0.0/22`,
// `ct state established,related`).
#include <linux/netfilter/nf_tables.h>

#include "nft/expr/expr.h"
#include "nft/nft.h"

namespace netplumb::nft {
namespace {

// [ bitwise reg DREG = ( reg SREG & MASK ) ^ XOR ]: SREG, DREG, LEN, MASK, XOR
// (OP and DATA only for shifts).
void Encode(MessageWriter& w, const Spec& s) {
  w.AttrBe32(NFTA_BITWISE_SREG, NeedU32(s, "sreg"));
  w.AttrBe32(NFTA_BITWISE_DREG, NeedU32(s, "dreg"));
  w.AttrBe32(NFTA_BITWISE_LEN, NeedU32(s, "len"));
  if (auto v = s.Bytes("mask")) PutValue(w, NFTA_BITWISE_MASK, *v);
  if (auto v = s.Bytes("xor")) PutValue(w, NFTA_BITWISE_XOR, *v);
  PutBe32(w, NFTA_BITWISE_OP, s, "op");
  if (auto v = s.Bytes("data")) PutValue(w, NFTA_BITWISE_DATA, *v);
}

bool Decode(Out o, const AttrView& a) {
  switch (a.type) {
    case NFTA_BITWISE_SREG:
      o.Set("sreg", a.Be32());
      return true;
    case NFTA_BITWISE_DREG:
      o.Set("dreg", a.Be32());
      return true;
    case NFTA_BITWISE_LEN:
      o.Set("len", a.Be32());
      return true;
    case NFTA_BITWISE_MASK:
      GetData(o, a, "mask", "maskVerdict");
      return true;
    case NFTA_BITWISE_XOR:
      GetData(o, a, "xor", "xorVerdict");
      return true;
    case NFTA_BITWISE_OP:
      o.Set("op", a.Be32());
      return true;
    case NFTA_BITWISE_DATA:
      GetData(o, a, "data", "dataVerdict");
      return true;
    default:
      return false;
  }
}

}  // namespace

const ExprKind kBitwiseExpr{"bitwise", Encode, Decode};

}  // namespace netplumb::nft
