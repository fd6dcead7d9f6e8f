#include "netlink/encode.h"

#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/rtnetlink.h>

#include <string>

#include "common/errors.h"
#include "common/js_spec.h"
#include "conntrack/ct.h"
#include "netlink/message.h"
#include "nft/nft.h"
#include "rtnl/rtnl.h"

namespace netplumb {
namespace {

using Encoder = void (*)(MessageWriter&, uint16_t, const Spec&);

struct Op {
  const char* name;
  uint16_t type;  // RTM_* for rtnetlink, NFT_MSG_* for nf_tables
  Encoder encode;
};

constexpr Op kRtnlOps[] = {
    {"newlink", RTM_NEWLINK, rtnl::EncodeLink},    {"dellink", RTM_DELLINK, rtnl::EncodeLink},
    {"getlink", RTM_GETLINK, rtnl::EncodeLink},    {"newaddr", RTM_NEWADDR, rtnl::EncodeAddr},
    {"deladdr", RTM_DELADDR, rtnl::EncodeAddr},    {"getaddr", RTM_GETADDR, rtnl::EncodeAddr},
    {"newroute", RTM_NEWROUTE, rtnl::EncodeRoute}, {"delroute", RTM_DELROUTE, rtnl::EncodeRoute},
    {"getroute", RTM_GETROUTE, rtnl::EncodeRoute}, {"newneigh", RTM_NEWNEIGH, rtnl::EncodeNeigh},
    {"delneigh", RTM_DELNEIGH, rtnl::EncodeNeigh}, {"getneigh", RTM_GETNEIGH, rtnl::EncodeNeigh},
};

// ctnetlink: list and delete connection-tracking entries.
constexpr Op kCtOps[] = {
    {"ctget", IPCTNL_MSG_CT_GET, ct::EncodeGet},
    {"ctdelete", IPCTNL_MSG_CT_DELETE, ct::EncodeDelete},
};

// nf_tables: one message per op (newsetelem may write several); a batch is
// batchbegin + messages + batchend, concatenated by lib/nft.
constexpr Op kNftOps[] = {
    {"batchbegin", NFNL_MSG_BATCH_BEGIN, nft::EncodeBatchBegin},
    {"batchend", NFNL_MSG_BATCH_END, nft::EncodeBatchEnd},
    {"getgen", NFT_MSG_GETGEN, nft::EncodeGetGen},
    {"newtable", NFT_MSG_NEWTABLE, nft::EncodeTable},
    {"deltable", NFT_MSG_DELTABLE, nft::EncodeTable},
    {"gettable", NFT_MSG_GETTABLE, nft::EncodeTable},
    {"newchain", NFT_MSG_NEWCHAIN, nft::EncodeChain},
    {"delchain", NFT_MSG_DELCHAIN, nft::EncodeChain},
    {"getchain", NFT_MSG_GETCHAIN, nft::EncodeChain},
    {"newrule", NFT_MSG_NEWRULE, nft::EncodeRule},
    {"delrule", NFT_MSG_DELRULE, nft::EncodeRule},
    {"getrule", NFT_MSG_GETRULE, nft::EncodeRule},
    {"newset", NFT_MSG_NEWSET, nft::EncodeSet},
    {"delset", NFT_MSG_DELSET, nft::EncodeSet},
    {"getset", NFT_MSG_GETSET, nft::EncodeSet},
    {"newsetelem", NFT_MSG_NEWSETELEM, nft::EncodeSetElems},
    {"delsetelem", NFT_MSG_DELSETELEM, nft::EncodeSetElems},
    {"getsetelem", NFT_MSG_GETSETELEM, nft::EncodeSetElems},
};

const Op* FindOp(const std::string& name) {
  for (const Op& r : kRtnlOps) {
    if (name == r.name) return &r;
  }
  for (const Op& r : kNftOps) {
    if (name == r.name) return &r;
  }
  for (const Op& r : kCtOps) {
    if (name == r.name) return &r;
  }
  return nullptr;
}

}  // namespace

Napi::Value Encode(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) ThrowTypeError(env, "op must be a string");
  std::string op = info[0].As<Napi::String>().Utf8Value();
  JsSpec js(env);
  Spec spec = js.Of(info[1], op);
  const Op* found = FindOp(op);
  if (found == nullptr) ThrowTypeError(env, "unknown operation " + op);
  MessageWriter w;
  found->encode(w, found->type, spec);
  if (w.TooLong()) ThrowTypeError(env, op + ": an attribute is longer than netlink's 65,535 bytes");
  return Napi::Buffer<uint8_t>::Copy(env, w.Bytes().data(), w.Bytes().size());
}

}  // namespace netplumb
