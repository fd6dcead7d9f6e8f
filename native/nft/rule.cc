// Rules: `nft add|insert|replace|delete rule`, `nft flush chain|table`,
// `nft list chain`. Expressions are encoded by native/nft/expr/*.
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#include "common/addr.h"
#include "netlink/decode.h"
#include "nft/expr/expr.h"
#include "nft/nft.h"

namespace netplumb::nft {

// nft add rule FAMILY TABLE CHAIN [position H] EXPR... [comment C]:
// TABLE, CHAIN, HANDLE (replace/delete), EXPRESSIONS, POSITION, USERDATA.
// Without table or chain this is a flush (NFT_MSG_DELRULE).
void EncodeRule(MessageWriter& w, uint16_t msg, const Spec& s) {
  BeginMessage(w, msg, s);
  if (auto v = s.Str("table")) w.AttrString(NFTA_RULE_TABLE, *v);
  if (auto v = s.Str("chain")) w.AttrString(NFTA_RULE_CHAIN, *v);
  if (s.Has("handle")) w.AttrBe64(NFTA_RULE_HANDLE, NeedU64(s, "handle"));
  if (auto exprs = s.List("exprs")) {
    size_t n = w.BeginNested(NFTA_RULE_EXPRESSIONS, true);
    for (uint32_t i = 0; i < exprs->Size(); i++) EncodeExpr(w, exprs->Obj(i));
    w.EndNested(n);
  }
  if (s.Has("position")) w.AttrBe64(NFTA_RULE_POSITION, NeedU64(s, "position"));
  PutBytes(w, NFTA_RULE_USERDATA, s, "userdata");
  if (auto v = s.U32("id")) w.AttrBe32(NFTA_RULE_ID, *v);
  w.End();
}

void DecodeRule(Out o, const MessageView& m) {
  StartObject(o, m, "rule");
  AttrIterator it = m.Attrs(sizeof(nfgenmsg));
  AttrView a;
  while (it.Next(&a)) {
    switch (a.type) {
      case NFTA_RULE_TABLE:
        o.Set("table", std::string(a.String()));
        break;
      case NFTA_RULE_CHAIN:
        o.Set("chain", std::string(a.String()));
        break;
      case NFTA_RULE_HANDLE:
        o.Set("handle", static_cast<double>(a.Be64()));
        break;
      case NFTA_RULE_POSITION:
        o.Set("position", static_cast<double>(a.Be64()));
        break;
      case NFTA_RULE_EXPRESSIONS: {
        Out exprs = o.List("exprs");
        AttrIterator eit(a);
        AttrView e;
        while (eit.Next(&e)) {
          if (e.type == NFTA_LIST_ELEM) DecodeExpr(exprs.Push(), e);
        }
        break;
      }
      case NFTA_RULE_USERDATA:
        o.SetBytes("userdata", a.data, a.len);
        break;
      case NFTA_RULE_ID:
        o.Set("id", a.Be32());
        break;
      default:
        AddUnknown(o, a);
    }
  }
}

}  // namespace netplumb::nft
