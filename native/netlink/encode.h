// The encode entry point: JS gives an operation name and a validated spec,
// and gets the request bytes back. Handles send these bytes; unit tests
// compare them with what iproute2 and nft send.
#pragma once

#include <napi.h>

namespace netplumb {

// encode(op: string, spec: object): Buffer — one request message.
Napi::Value Encode(const Napi::CallbackInfo& info);

}  // namespace netplumb
