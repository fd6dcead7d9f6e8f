// counter: packet and byte counts (`counter`, `counter packets P bytes B`).
#include <linux/netfilter/nf_tables.h>

#include "nft/expr/expr.h"
#include "nft/nft.h"

namespace netplumb::nft {
namespace {

// [ counter pkts P bytes B ]: BYTES, PACKETS (both only when preset).
void Encode(MessageWriter& w, const Spec& s) {
  if (s.Has("bytes")) w.AttrBe64(NFTA_COUNTER_BYTES, NeedU64(s, "bytes"));
  if (s.Has("packets")) w.AttrBe64(NFTA_COUNTER_PACKETS, NeedU64(s, "packets"));
}

bool Decode(Out o, const AttrView& a) {
  switch (a.type) {
    case NFTA_COUNTER_BYTES:
      o.Set("bytes", static_cast<double>(a.Be64()));
      return true;
    case NFTA_COUNTER_PACKETS:
      o.Set("packets", static_cast<double>(a.Be64()));
      return true;
    case NFTA_COUNTER_PAD:
      return true;
    default:
      return false;
  }
}

}  // namespace

const ExprKind kCounterExpr{"counter", Encode, Decode};

}  // namespace netplumb::nft
