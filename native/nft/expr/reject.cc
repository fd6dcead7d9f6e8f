// reject: `reject [with tcp reset | with icmpx CODE]`.
#include <linux/netfilter/nf_tables.h>

#include "nft/expr/expr.h"

namespace netplumb::nft {
namespace {

// [ reject type T code C ]: TYPE (be32), ICMP_CODE (u8).
void Encode(MessageWriter& w, const Spec& s) {
  w.AttrBe32(NFTA_REJECT_TYPE, NeedU32(s, "type"));
  w.AttrU8(NFTA_REJECT_ICMP_CODE, static_cast<uint8_t>(NeedU32(s, "code")));
}

bool Decode(Out o, const AttrView& a) {
  switch (a.type) {
    case NFTA_REJECT_TYPE:
      o.Set("type", a.Be32());
      return true;
    case NFTA_REJECT_ICMP_CODE:
      o.Set("code", a.U8());
      return true;
    default:
      return false;
  }
}

}  // namespace

const ExprKind kRejectExpr{"reject", Encode, Decode};

}  // namespace netplumb::nft
