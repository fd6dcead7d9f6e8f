// Kernel constants exported to TypeScript with their uapi names, so values
// come from the headers this addon was built with, never from copies.
#pragma once

#include <napi.h>

namespace netplumb {

Napi::Object MakeConstants(Napi::Env env);

}  // namespace netplumb
