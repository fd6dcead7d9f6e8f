#include "netlink/to_js.h"

#include "common/errors.h"
#include "common/js_out.h"
#include "common/keys.h"
#include "netlink/decode.h"

namespace netplumb {

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
  JsOut js(keys);
  for (size_t i = 0; i < t.received.size(); i++) {
    const Received& r = t.received[i];
    MessageIterator it(t.data.data() + r.offset, r.len);
    MessageView m;
    if (!it.Next(&m)) continue;
    Napi::Object msg = Napi::Object::New(env);
    keys.Set(msg, "index", static_cast<uint32_t>(r.index));
    keys.Set(msg, "type", static_cast<uint32_t>(m.header.nlmsg_type));
    keys.Set(msg, "flags", static_cast<uint32_t>(m.header.nlmsg_flags));
    js.Clear();
    keys.Set(msg, "object", js.Get(DecodeMessage(js, protocol, m)));
    napi_set_element(env, messages, static_cast<uint32_t>(i), msg);
  }
  out.Set("messages", messages);
  out.Set("interrupted", t.interrupted);
  out.Set("overrun", t.overrun);
  return out;
}

Napi::Value DecodeBuffer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber()) ThrowTypeError(env, "protocol must be a number");
  if (!info[1].IsBuffer()) ThrowTypeError(env, "data must be a Buffer");
  int protocol = info[0].As<Napi::Number>().Int32Value();
  auto buf = info[1].As<Napi::Buffer<uint8_t>>();
  Napi::Array out = Napi::Array::New(env);
  Keys keys(env);
  JsOut js(keys);
  MessageIterator it(buf.Data(), buf.Length());
  MessageView m;
  uint32_t n = 0;
  while (it.Next(&m)) {
    Napi::Object msg = Napi::Object::New(env);
    keys.Set(msg, "type", static_cast<uint32_t>(m.header.nlmsg_type));
    keys.Set(msg, "flags", static_cast<uint32_t>(m.header.nlmsg_flags));
    js.Clear();
    keys.Set(msg, "object", js.Get(DecodeMessage(js, protocol, m)));
    napi_set_element(env, out, n++, msg);
  }
  return out;
}

}  // namespace netplumb
