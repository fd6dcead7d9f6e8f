// payload: `ip saddr`, `tcp dport`, ... (load packet bytes into a register).
#include <linux/netfilter/nf_tables.h>

#include "nft/expr/expr.h"

namespace netplumb::nft {
namespace {

// [ payload load LENb @ BASE header + OFFSET => reg DREG ]: DREG, BASE, OFFSET, LEN.
void Encode(MessageWriter& w, const Spec& s) {
  PutBe32(w, NFTA_PAYLOAD_DREG, s, "dreg");
  w.AttrBe32(NFTA_PAYLOAD_BASE, NeedU32(s, "base"));
  w.AttrBe32(NFTA_PAYLOAD_OFFSET, NeedU32(s, "offset"));
  w.AttrBe32(NFTA_PAYLOAD_LEN, NeedU32(s, "len"));
  PutBe32(w, NFTA_PAYLOAD_SREG, s, "sreg");
  PutBe32(w, NFTA_PAYLOAD_CSUM_TYPE, s, "csumType");
  PutBe32(w, NFTA_PAYLOAD_CSUM_OFFSET, s, "csumOffset");
  PutBe32(w, NFTA_PAYLOAD_CSUM_FLAGS, s, "csumFlags");
}

bool Decode(Out o, const AttrView& a) {
  switch (a.type) {
    case NFTA_PAYLOAD_DREG:
      o.Set("dreg", a.Be32());
      return true;
    case NFTA_PAYLOAD_BASE:
      o.Set("base", a.Be32());
      return true;
    case NFTA_PAYLOAD_OFFSET:
      o.Set("offset", a.Be32());
      return true;
    case NFTA_PAYLOAD_LEN:
      o.Set("len", a.Be32());
      return true;
    case NFTA_PAYLOAD_SREG:
      o.Set("sreg", a.Be32());
      return true;
    case NFTA_PAYLOAD_CSUM_TYPE:
      o.Set("csumType", a.Be32());
      return true;
    case NFTA_PAYLOAD_CSUM_OFFSET:
      o.Set("csumOffset", a.Be32());
      return true;
    case NFTA_PAYLOAD_CSUM_FLAGS:
      o.Set("csumFlags", a.Be32());
      return true;
    default:
      return false;
  }
}

}  // namespace

const ExprKind kPayloadExpr{"payload", Encode, Decode};

}  // namespace netplumb::nft
