#include "netlink/decode.h"

#include <linux/netfilter/nfnetlink.h>
#include <linux/rtnetlink.h>

#include "common/addr.h"
#include "common/errors.h"
#include "conntrack/ct.h"
#include "nft/nft.h"
#include "rtnl/rtnl.h"

namespace netplumb {

void AppendUnknown(Napi::Env env, Napi::Array* list, const AttrView& a) {
  if (list->IsEmpty()) *list = Napi::Array::New(env);
  Napi::Object u = Napi::Object::New(env);
  u.Set("type", a.type);
  u.Set("data", CopyBuffer(env, a.data, a.len));
  list->Set(list->Length(), u);
}

void AddUnknown(Napi::Env env, Napi::Object obj, const AttrView& a) {
  Napi::Value v = obj.Get("unknown");
  Napi::Array arr;
  if (v.IsArray()) {
    arr = v.As<Napi::Array>();
  } else {
    arr = Napi::Array::New(env);
    obj.Set("unknown", arr);
  }
  Napi::Object u = Napi::Object::New(env);
  u.Set("type", a.type);
  u.Set("data", CopyBuffer(env, a.data, a.len));
  arr.Set(arr.Length(), u);
}

namespace {

Napi::Object DecodeRtnl(Keys& keys, const MessageView& m) {
  Napi::Env env = keys.Env();
  switch (m.header.nlmsg_type) {
    case RTM_NEWLINK:
    case RTM_DELLINK:
      return rtnl::DecodeLink(env, m);
    case RTM_NEWADDR:
    case RTM_DELADDR:
      return rtnl::DecodeAddr(env, m);
    case RTM_NEWROUTE:
    case RTM_DELROUTE:
      return rtnl::DecodeRoute(keys, m);
    case RTM_NEWNEIGH:
    case RTM_DELNEIGH:
      return rtnl::DecodeNeigh(env, m);
    default:
      return Napi::Object();
  }
}

}  // namespace

Napi::Object DecodeMessage(Napi::Env env, int protocol, const MessageView& m) {
  Keys keys(env);
  return DecodeMessage(keys, protocol, m);
}

Napi::Object DecodeMessage(Keys& keys, int protocol, const MessageView& m) {
  Napi::Env env = keys.Env();
  Napi::Object obj;
  if (protocol == NETLINK_ROUTE) {
    obj = DecodeRtnl(keys, m);
  } else if (protocol == NETLINK_NETFILTER) {
    obj = nft::DecodeMessage(env, m);
    if (obj.IsEmpty()) obj = ct::DecodeMessage(env, m);
  }
  if (obj.IsEmpty()) {
    obj = Napi::Object::New(env);
    obj.Set("data", CopyBuffer(env, m.payload, m.payload_len));
  }
  return obj;
}

Napi::Object DecodeTransaction(Napi::Env env, int protocol, const Transaction& t) {
  Napi::Object out = Napi::Object::New(env);
  Napi::Array completions = Napi::Array::New(env, t.completions.size());
  for (size_t i = 0; i < t.completions.size(); i++) {
    const Completion& c = t.completions[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("done", c.done);
    o.Set("error", c.error);
    if (c.error != 0) o.Set("code", ErrnoName(c.error));
    if (!c.extack.empty()) o.Set("extack", c.extack);
    if (c.extack_offset != 0) o.Set("offset", c.extack_offset);
    if (c.missing_type != 0) o.Set("missing", c.missing_type);
    completions.Set(static_cast<uint32_t>(i), o);
  }
  out.Set("completions", completions);
  Napi::Array messages = Napi::Array::New(env, t.received.size());
  Keys keys(env);
  for (size_t i = 0; i < t.received.size(); i++) {
    const Received& r = t.received[i];
    MessageIterator it(t.data.data() + r.offset, r.len);
    MessageView m;
    if (!it.Next(&m)) continue;
    Napi::Object msg = Napi::Object::New(env);
    keys.Set(msg, "index", static_cast<uint32_t>(r.index));
    keys.Set(msg, "type", static_cast<uint32_t>(m.header.nlmsg_type));
    keys.Set(msg, "flags", static_cast<uint32_t>(m.header.nlmsg_flags));
    keys.Set(msg, "object", DecodeMessage(keys, protocol, m));
    napi_set_element(env, messages, static_cast<uint32_t>(i), msg);
  }
  out.Set("messages", messages);
  out.Set("interrupted", t.interrupted);
  return out;
}

Napi::Value DecodeBuffer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber()) ThrowTypeError(env, "protocol must be a number");
  if (!info[1].IsBuffer()) ThrowTypeError(env, "data must be a Buffer");
  int protocol = info[0].As<Napi::Number>().Int32Value();
  auto buf = info[1].As<Napi::Buffer<uint8_t>>();
  Napi::Array out = Napi::Array::New(env);
  MessageIterator it(buf.Data(), buf.Length());
  MessageView m;
  while (it.Next(&m)) {
    Napi::Object msg = Napi::Object::New(env);
    msg.Set("type", m.header.nlmsg_type);
    msg.Set("flags", m.header.nlmsg_flags);
    msg.Set("object", DecodeMessage(env, protocol, m));
    out.Set(out.Length(), msg);
  }
  return out;
}

}  // namespace netplumb
