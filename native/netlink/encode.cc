#include "netlink/encode.h"

#include <linux/rtnetlink.h>

#include <string>

#include "common/errors.h"
#include "common/spec.h"
#include "netlink/message.h"
#include "rtnl/rtnl.h"

namespace netplumb {
namespace {

using RtnlEncoder = void (*)(MessageWriter&, uint16_t, const Spec&);

struct RtnlOp {
  const char* name;
  uint16_t type;
  RtnlEncoder encode;
};

constexpr RtnlOp kRtnlOps[] = {
    {"newlink", RTM_NEWLINK, rtnl::EncodeLink},    {"dellink", RTM_DELLINK, rtnl::EncodeLink},
    {"getlink", RTM_GETLINK, rtnl::EncodeLink},    {"newaddr", RTM_NEWADDR, rtnl::EncodeAddr},
    {"deladdr", RTM_DELADDR, rtnl::EncodeAddr},    {"getaddr", RTM_GETADDR, rtnl::EncodeAddr},
    {"newroute", RTM_NEWROUTE, rtnl::EncodeRoute}, {"delroute", RTM_DELROUTE, rtnl::EncodeRoute},
    {"getroute", RTM_GETROUTE, rtnl::EncodeRoute}, {"newneigh", RTM_NEWNEIGH, rtnl::EncodeNeigh},
    {"delneigh", RTM_DELNEIGH, rtnl::EncodeNeigh}, {"getneigh", RTM_GETNEIGH, rtnl::EncodeNeigh},
};

}  // namespace

Napi::Value Encode(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) ThrowTypeError(env, "op must be a string");
  std::string op = info[0].As<Napi::String>().Utf8Value();
  Spec spec = Spec::From(info[1], op);
  MessageWriter w;
  bool found = false;
  for (const RtnlOp& r : kRtnlOps) {
    if (op == r.name) {
      r.encode(w, r.type, spec);
      found = true;
      break;
    }
  }
  if (!found) ThrowTypeError(env, "unknown operation " + op);
  return Napi::Buffer<uint8_t>::Copy(env, w.Bytes().data(), w.Bytes().size());
}

}  // namespace netplumb
