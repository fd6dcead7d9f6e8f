// Turning received netlink messages into plain JS objects (main thread only).
#pragma once

#include <napi.h>

#include <cstddef>
#include <cstdint>

#include "common/keys.h"
#include "netlink/message.h"
#include "netlink/socket.h"

namespace netplumb {

// One message, dispatched on protocol and type to the object decoders
// (link, addr, route, neigh, nf_tables objects); anything else comes back as
// { msg: 'raw', type, flags, data }.
Napi::Object DecodeMessage(Napi::Env env, int protocol, const MessageView& m);
Napi::Object DecodeMessage(Keys& keys, int protocol, const MessageView& m);

// { completions: [{ error, extack?, offset?, missing? }], messages: [{ index,
//   type, flags, object }], interrupted }
Napi::Object DecodeTransaction(Napi::Env env, int protocol, const Transaction& t);

// Unknown attributes are kept, not dropped: [{ type, data: Buffer }].
void AddUnknown(Napi::Env env, Napi::Object obj, const AttrView& a);
// The same, onto a list made on first use (for objects built with Keys::Builder).
void AppendUnknown(Napi::Env env, Napi::Array* list, const AttrView& a);

// JS decode(protocol, buffer): every message of a captured reply buffer.
Napi::Value DecodeBuffer(const Napi::CallbackInfo& info);

}  // namespace netplumb
