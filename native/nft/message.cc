// What every nf_tables message shares: the nfgenmsg header, batch
// delimiters, the generation request, nft_data values and verdicts, and the
// decode dispatch.
#include <arpa/inet.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#include <cmath>
#include <string>

#include "common/addr.h"
#include "netlink/decode.h"
#include "nft/nft.h"

namespace netplumb::nft {

uint16_t MsgType(uint16_t msg) { return static_cast<uint16_t>((NFNL_SUBSYS_NFTABLES << 8) | msg); }

void BeginMessage(MessageWriter& w, uint16_t msg, const Spec& s) {
  w.Begin(MsgType(msg), static_cast<uint16_t>(s.U32Or("flags", NLM_F_REQUEST | NLM_F_ACK)));
  nfgenmsg g{};
  g.nfgen_family = static_cast<uint8_t>(s.U32Or("family", NFPROTO_UNSPEC));
  g.version = NFNETLINK_V0;
  g.res_id = 0;
  w.Header(g);
}

namespace {

// Batch delimiters name the subsystem in res_id (network order).
void BeginBatchMessage(MessageWriter& w, uint16_t type) {
  w.Begin(type, NLM_F_REQUEST);
  nfgenmsg g{};
  g.nfgen_family = AF_UNSPEC;
  g.version = NFNETLINK_V0;
  g.res_id = htons(NFNL_SUBSYS_NFTABLES);
  w.Header(g);
}

}  // namespace

void EncodeBatchBegin(MessageWriter& w, uint16_t, const Spec& s) {
  BeginBatchMessage(w, NFNL_MSG_BATCH_BEGIN);
  // With a generation id the kernel refuses the whole batch (ERESTART) when
  // the ruleset changed since that generation was read.
  if (auto gen = s.U32("genId")) w.AttrBe32(NFNL_BATCH_GENID, *gen);
  w.End();
}

void EncodeBatchEnd(MessageWriter& w, uint16_t, const Spec&) {
  BeginBatchMessage(w, NFNL_MSG_BATCH_END);
  w.End();
}

void EncodeGetGen(MessageWriter& w, uint16_t msg, const Spec& s) {
  BeginMessage(w, msg, s);
  w.End();
}

void PutValue(MessageWriter& w, uint16_t type, const std::vector<uint8_t>& bytes) {
  size_t n = w.BeginNested(type, true);
  w.Attr(NFTA_DATA_VALUE, bytes.data(), bytes.size());
  w.EndNested(n);
}

void PutVerdict(MessageWriter& w, uint16_t type, const Spec& verdict) {
  auto code = verdict.I64("code");
  if (!code) verdict.Fail("code", "a verdict code");
  size_t n = w.BeginNested(type, true);
  size_t v = w.BeginNested(NFTA_DATA_VERDICT, true);
  w.AttrBe32(NFTA_VERDICT_CODE, static_cast<uint32_t>(static_cast<int32_t>(*code)));
  if (auto chain = verdict.Str("chain")) w.AttrString(NFTA_VERDICT_CHAIN, *chain);
  w.EndNested(v);
  w.EndNested(n);
}

void GetData(Out o, const AttrView& a, const char* value_key, const char* verdict_key) {
  AttrIterator it(a);
  AttrView d;
  while (it.Next(&d)) {
    if (d.type == NFTA_DATA_VALUE) {
      o.SetBytes(value_key, d.data, d.len);
    } else if (d.type == NFTA_DATA_VERDICT) {
      Out v = o.Object(verdict_key);
      AttrIterator vit(d);
      AttrView x;
      while (vit.Next(&x)) {
        if (x.type == NFTA_VERDICT_CODE) v.Set("code", static_cast<int32_t>(x.Be32()));
        if (x.type == NFTA_VERDICT_CHAIN) v.Set("chain", std::string(x.String()));
      }
    }
  }
}

std::string NeedStr(const Spec& s, const char* key) {
  auto v = s.Str(key);
  if (!v) s.Fail(key, "a string");
  return *v;
}

void PutBytes(MessageWriter& w, uint16_t type, const Spec& s, const char* key) {
  if (auto v = s.Bytes(key)) w.Attr(type, v->data(), v->size());
}

uint64_t NeedU64(const Spec& s, const char* key) {
  auto v = s.I64(key);
  if (!v || *v < 0) s.Fail(key, "a non-negative integer");
  return static_cast<uint64_t>(*v);
}

void StartObject(Out o, const MessageView& m, const char* kind) {
  o.Set("kind", kind);
  nfgenmsg g{};
  if (m.Fixed(&g)) o.Set("family", g.nfgen_family);
}

void DecodeGen(Out o, const MessageView& m) {
  StartObject(o, m, "gen");
  AttrIterator it = m.Attrs(sizeof(nfgenmsg));
  AttrView a;
  while (it.Next(&a)) {
    switch (a.type) {
      case NFTA_GEN_ID:
        o.Set("id", a.Be32());
        break;
      case NFTA_GEN_PROC_PID:
        o.Set("procPid", a.Be32());
        break;
      case NFTA_GEN_PROC_NAME:
        o.Set("procName", std::string(a.String()));
        break;
      default:
        AddUnknown(o, a);
    }
  }
}

bool DecodeMessage(Out o, const MessageView& m) {
  if ((m.header.nlmsg_type >> 8) != NFNL_SUBSYS_NFTABLES) return false;
  switch (m.header.nlmsg_type & 0xff) {
    case NFT_MSG_NEWTABLE:
    case NFT_MSG_DELTABLE:
      DecodeTable(o, m);
      return true;
    case NFT_MSG_NEWCHAIN:
    case NFT_MSG_DELCHAIN:
      DecodeChain(o, m);
      return true;
    case NFT_MSG_NEWRULE:
    case NFT_MSG_DELRULE:
      DecodeRule(o, m);
      return true;
    case NFT_MSG_NEWSET:
    case NFT_MSG_DELSET:
      DecodeSet(o, m);
      return true;
    case NFT_MSG_NEWSETELEM:
    case NFT_MSG_DELSETELEM:
      DecodeSetElems(o, m);
      return true;
    case NFT_MSG_NEWGEN:
      DecodeGen(o, m);
      return true;
    default:
      return false;
  }
}

}  // namespace netplumb::nft
