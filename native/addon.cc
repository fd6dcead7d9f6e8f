// Module entry: registers the addon's exports, nothing else.
#include "addon.h"

#include <napi.h>

#include "constants.h"
#include "fslock.h"
#include "fsops.h"
#include "netlink/encode.h"
#include "netlink/handle.h"
#include "netlink/to_js.h"
#include "netns.h"
#include "rtnl/rtnl.h"

namespace netplumb {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  auto* data = new AddonData();
  env.SetInstanceData(data);
  Napi::Function ns_fd = NsFd::Init(env);
  data->ns_fd = Napi::Persistent(ns_fd);
  Napi::Function handle = Handle::Init(env);
  data->handle = Napi::Persistent(handle);
  exports.Set("NsFd", ns_fd);
  exports.Set("Handle", handle);
  exports.Set("encode", Napi::Function::New(env, Encode, "encode"));
  exports.Set("decode", Napi::Function::New(env, DecodeBuffer, "decode"));
  exports.Set("constants", MakeConstants(env));
  Napi::Array route_fields = Napi::Array::New(env, rtnl::kRouteFieldCount);
  for (uint32_t i = 0; i < rtnl::kRouteFieldCount; i++) route_fields.Set(i, rtnl::kRouteFields[i]);
  exports.Set("routeFields", route_fields);
  const std::vector<std::string> metrics = rtnl::RouteMetricNames();
  Napi::Array route_metrics = Napi::Array::New(env, metrics.size());
  for (uint32_t i = 0; i < metrics.size(); i++) route_metrics.Set(i, metrics[i]);
  exports.Set("routeMetrics", route_metrics);
  InitNetns(env, exports);
  InitFsLock(env, exports);
  InitFsOps(env, exports);
  return exports;
}

}  // namespace netplumb

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return netplumb::Init(env, exports); }

NODE_API_MODULE(netplumb, InitModule)
