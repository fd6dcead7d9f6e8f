// Chains: `nft add|delete|flush chain`, `nft list chains`.
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#include "common/addr.h"
#include "netlink/decode.h"
#include "nft/nft.h"

namespace netplumb::nft {

// nft add chain FAMILY TABLE NAME [{ type T hook H [device D] priority P;
// policy X; comment C; }]: TABLE, NAME, TYPE, POLICY, HOOK, USERDATA.
void EncodeChain(MessageWriter& w, uint16_t msg, const Spec& s) {
  BeginMessage(w, msg, s);
  if (auto v = s.Str("table")) w.AttrString(NFTA_CHAIN_TABLE, *v);
  if (s.Has("handle")) w.AttrBe64(NFTA_CHAIN_HANDLE, NeedU64(s, "handle"));
  if (auto v = s.Str("name")) w.AttrString(NFTA_CHAIN_NAME, *v);
  if (auto v = s.Str("type")) w.AttrString(NFTA_CHAIN_TYPE, *v);
  if (auto v = s.U32("policy")) w.AttrBe32(NFTA_CHAIN_POLICY, *v);
  if (auto hook = s.Obj("hook")) {
    size_t n = w.BeginNested(NFTA_CHAIN_HOOK, true);
    auto num = hook->U32("num");
    if (!num) hook->Fail("num", "a hook number");
    w.AttrBe32(NFTA_HOOK_HOOKNUM, *num);
    auto prio = hook->I64("priority");
    if (!prio) hook->Fail("priority", "an integer");
    w.AttrBe32(NFTA_HOOK_PRIORITY, static_cast<uint32_t>(static_cast<int32_t>(*prio)));
    if (auto dev = hook->Str("dev")) w.AttrString(NFTA_HOOK_DEV, *dev);
    w.EndNested(n);
  }
  PutBytes(w, NFTA_CHAIN_USERDATA, s, "userdata");
  w.End();
}

namespace {

void DecodeHook(Out h, const AttrView& a) {
  AttrIterator it(a);
  AttrView x;
  while (it.Next(&x)) {
    switch (x.type) {
      case NFTA_HOOK_HOOKNUM:
        h.Set("num", x.Be32());
        break;
      case NFTA_HOOK_PRIORITY:
        h.Set("priority", static_cast<int32_t>(x.Be32()));
        break;
      case NFTA_HOOK_DEV:
        h.Set("dev", std::string(x.String()));
        break;
      default:
        AddUnknown(h, x);
    }
  }
}

}  // namespace

void DecodeChain(Out o, const MessageView& m) {
  StartObject(o, m, "chain");
  AttrIterator it = m.Attrs(sizeof(nfgenmsg));
  AttrView a;
  while (it.Next(&a)) {
    switch (a.type) {
      case NFTA_CHAIN_TABLE:
        o.Set("table", std::string(a.String()));
        break;
      case NFTA_CHAIN_NAME:
        o.Set("name", std::string(a.String()));
        break;
      case NFTA_CHAIN_HANDLE:
        o.Set("handle", static_cast<double>(a.Be64()));
        break;
      case NFTA_CHAIN_HOOK:
        DecodeHook(o.Object("hook"), a);
        break;
      case NFTA_CHAIN_POLICY:
        o.Set("policy", a.Be32());
        break;
      case NFTA_CHAIN_TYPE:
        o.Set("type", std::string(a.String()));
        break;
      case NFTA_CHAIN_USE:
        o.Set("use", a.Be32());
        break;
      case NFTA_CHAIN_FLAGS:
        o.Set("chainFlags", a.Be32());
        break;
      case NFTA_CHAIN_USERDATA:
        o.SetBytes("userdata", a.data, a.len);
        break;
      case NFTA_CHAIN_COUNTERS:
        break;  // base chain counters: per-chain statistics, not identity
      default:
        AddUnknown(o, a);
    }
  }
}

}  // namespace netplumb::nft
