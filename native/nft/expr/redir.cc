// redir: `redirect [to :PORT]`.
#include <linux/netfilter/nf_tables.h>

#include "nft/expr/expr.h"

namespace netplumb::nft {
namespace {

// [ redir proto_min reg P flags F ]: REG_PROTO_MIN, REG_PROTO_MAX, FLAGS.
void Encode(MessageWriter& w, const Spec& s) {
  PutBe32(w, NFTA_REDIR_REG_PROTO_MIN, s, "regProtoMin");
  PutBe32(w, NFTA_REDIR_REG_PROTO_MAX, s, "regProtoMax");
  PutBe32(w, NFTA_REDIR_FLAGS, s, "flags");
}

bool Decode(Out o, const AttrView& a) {
  switch (a.type) {
    case NFTA_REDIR_REG_PROTO_MIN:
      o.Set("regProtoMin", a.Be32());
      return true;
    case NFTA_REDIR_REG_PROTO_MAX:
      o.Set("regProtoMax", a.Be32());
      return true;
    case NFTA_REDIR_FLAGS:
      o.Set("flags", a.Be32());
      return true;
    default:
      return false;
  }
}

}  // namespace

const ExprKind kRedirExpr{"redir", Encode, Decode};

}  // namespace netplumb::nft
