// masq: `masquerade [fully-random,persistent,random]`.
#include <linux/netfilter/nf_tables.h>

#include "nft/expr/expr.h"

namespace netplumb::nft {
namespace {

// [ masq flags F ]: FLAGS, REG_PROTO_MIN, REG_PROTO_MAX.
void Encode(MessageWriter& w, const Spec& s) {
  PutBe32(w, NFTA_MASQ_FLAGS, s, "flags");
  PutBe32(w, NFTA_MASQ_REG_PROTO_MIN, s, "regProtoMin");
  PutBe32(w, NFTA_MASQ_REG_PROTO_MAX, s, "regProtoMax");
}

bool Decode(Out o, const AttrView& a) {
  switch (a.type) {
    case NFTA_MASQ_FLAGS:
      o.Set("flags", a.Be32());
      return true;
    case NFTA_MASQ_REG_PROTO_MIN:
      o.Set("regProtoMin", a.Be32());
      return true;
    case NFTA_MASQ_REG_PROTO_MAX:
      o.Set("regProtoMax", a.Be32());
      return true;
    default:
      return false;
  }
}

}  // namespace

const ExprKind kMasqExpr{"masq", Encode, Decode};

}  // namespace netplumb::nft
