// Received netlink messages as JS objects (main thread only): the decoders
// of netlink/decode.h writing through a JsOut.
#pragma once

#include <napi.h>

#include "netlink/message.h"
#include "netlink/socket.h"

namespace netplumb {

// { completions: [{ done, error, code?, extack?, offset?, missing? }],
//   messages: [{ index, type, flags, object }], interrupted }
Napi::Object DecodeTransaction(Napi::Env env, int protocol, const Transaction& t);

// JS decode(protocol, buffer): every message of a captured reply buffer.
Napi::Value DecodeBuffer(const Napi::CallbackInfo& info);

}  // namespace netplumb
