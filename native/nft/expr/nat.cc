// nat: `snat|dnat ip to ADDR[:PORT]`, `dnat ip to KEY map @m`.
#include <linux/netfilter/nf_tables.h>

#include "nft/expr/expr.h"

namespace netplumb::nft {
namespace {

// [ nat TYPE FAMILY addr_min reg A proto_min reg P flags F ]:
// TYPE, FAMILY, REG_ADDR_MIN, REG_ADDR_MAX, REG_PROTO_MIN, REG_PROTO_MAX, FLAGS.
void Encode(MessageWriter& w, const Spec& s) {
  w.AttrBe32(NFTA_NAT_TYPE, NeedU32(s, "type"));
  w.AttrBe32(NFTA_NAT_FAMILY, NeedU32(s, "family"));
  PutBe32(w, NFTA_NAT_REG_ADDR_MIN, s, "regAddrMin");
  PutBe32(w, NFTA_NAT_REG_ADDR_MAX, s, "regAddrMax");
  PutBe32(w, NFTA_NAT_REG_PROTO_MIN, s, "regProtoMin");
  PutBe32(w, NFTA_NAT_REG_PROTO_MAX, s, "regProtoMax");
  PutBe32(w, NFTA_NAT_FLAGS, s, "flags");
}

bool Decode(Out o, const AttrView& a) {
  switch (a.type) {
    case NFTA_NAT_TYPE:
      o.Set("type", a.Be32());
      return true;
    case NFTA_NAT_FAMILY:
      o.Set("family", a.Be32());
      return true;
    case NFTA_NAT_REG_ADDR_MIN:
      o.Set("regAddrMin", a.Be32());
      return true;
    case NFTA_NAT_REG_ADDR_MAX:
      o.Set("regAddrMax", a.Be32());
      return true;
    case NFTA_NAT_REG_PROTO_MIN:
      o.Set("regProtoMin", a.Be32());
      return true;
    case NFTA_NAT_REG_PROTO_MAX:
      o.Set("regProtoMax", a.Be32());
      return true;
    case NFTA_NAT_FLAGS:
      o.Set("flags", a.Be32());
      return true;
    default:
      return false;
  }
}

}  // namespace

const ExprKind kNatExpr{"nat", Encode, Decode};

}  // namespace netplumb::nft
