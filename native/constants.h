// Kernel constants exported to TypeScript with their uapi names, so values
// come from the headers this addon was built with, never from copies.
#pragma once

#include <napi.h>

namespace netplumb {

Napi::Object MakeConstants(Napi::Env env);

namespace nft {
// Adds the nf_tables constants lib/nft uses to `obj` (see lib/binding.ts).
void AddConstants(Napi::Env env, Napi::Object obj);
}  // namespace nft

}  // namespace netplumb
