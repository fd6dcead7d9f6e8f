// The addon's side of common/spec.h: Specs that read JS objects. Main
// thread only; a JsSpec must outlive the Specs it makes.
#pragma once

#include <napi.h>

#include <string>
#include <vector>

#include "common/spec.h"

namespace netplumb {

class JsSpec final : public SpecSource {
 public:
  explicit JsSpec(Napi::Env env) : env_(env) {}

  // A Spec of `v`, which must be an object (a TypeError naming `path` if not).
  Spec Of(Napi::Value v, const std::string& path) const;

  Value Get(Node obj, const char* key) const override;
  Value At(Node array, uint32_t i) const override;
  uint32_t Length(Node array) const override;
  std::vector<std::string> Keys(Node obj) const override;
  double Number(Node v) const override;
  int64_t BigInt(Node v) const override;
  bool Boolean(Node v) const override;
  std::string String(Node v) const override;
  std::vector<uint8_t> Bytes(Node v) const override;
  [[noreturn]] void Fail(const std::string& message) const override;

 private:
  Value Classify(Napi::Value v) const;
  Napi::Value Js(Node n) const { return Napi::Value(env_, static_cast<napi_value>(const_cast<void*>(n))); }

  Napi::Env env_;
};

}  // namespace netplumb
