#include "common/spec.h"

#include <cmath>

#include "common/errors.h"

namespace netplumb {

Spec Spec::From(Napi::Value v, const std::string& path) {
  if (!v.IsObject()) ThrowTypeError(v.Env(), path + " must be an object");
  return Spec(v.As<Napi::Object>(), path);
}

void Spec::Fail(const char* key, const char* expected) const {
  ThrowTypeError(obj_.Env(), path_ + "." + key + " must be " + expected);
}

Napi::Value Spec::Get(const char* key) const { return obj_.Get(key); }

bool Spec::Has(const char* key) const {
  Napi::Value v = Get(key);
  return !v.IsUndefined() && !v.IsNull();
}

std::optional<uint32_t> Spec::U32(const char* key) const {
  Napi::Value v = Get(key);
  if (v.IsUndefined() || v.IsNull()) return std::nullopt;
  if (!v.IsNumber()) Fail(key, "a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= 0 && d <= 4294967295.0) || std::floor(d) != d) Fail(key, "an integer from 0 to 2^32-1");
  return static_cast<uint32_t>(d);
}

std::optional<int64_t> Spec::I64(const char* key) const {
  Napi::Value v = Get(key);
  if (v.IsUndefined() || v.IsNull()) return std::nullopt;
  if (v.IsBigInt()) {
    bool lossless = false;
    return v.As<Napi::BigInt>().Int64Value(&lossless);
  }
  if (!v.IsNumber()) Fail(key, "a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (std::floor(d) != d) Fail(key, "an integer");
  return static_cast<int64_t>(d);
}

std::optional<bool> Spec::Bool(const char* key) const {
  Napi::Value v = Get(key);
  if (v.IsUndefined() || v.IsNull()) return std::nullopt;
  if (!v.IsBoolean()) Fail(key, "a boolean");
  return v.As<Napi::Boolean>().Value();
}

std::optional<std::string> Spec::Str(const char* key) const {
  Napi::Value v = Get(key);
  if (v.IsUndefined() || v.IsNull()) return std::nullopt;
  if (!v.IsString()) Fail(key, "a string");
  return v.As<Napi::String>().Utf8Value();
}

std::optional<std::vector<uint8_t>> Spec::Bytes(const char* key) const {
  Napi::Value v = Get(key);
  if (v.IsUndefined() || v.IsNull()) return std::nullopt;
  if (!v.IsTypedArray()) Fail(key, "a Buffer");
  auto ta = v.As<Napi::TypedArray>();
  if (ta.TypedArrayType() != napi_uint8_array) Fail(key, "a Buffer");
  auto u8 = v.As<Napi::Uint8Array>();
  return std::vector<uint8_t>(u8.Data(), u8.Data() + u8.ElementLength());
}

std::optional<Spec> Spec::Obj(const char* key) const {
  Napi::Value v = Get(key);
  if (v.IsUndefined() || v.IsNull()) return std::nullopt;
  if (!v.IsObject()) Fail(key, "an object");
  return Spec(v.As<Napi::Object>(), path_ + "." + key);
}

std::optional<Napi::Array> Spec::Arr(const char* key) const {
  Napi::Value v = Get(key);
  if (v.IsUndefined() || v.IsNull()) return std::nullopt;
  if (!v.IsArray()) Fail(key, "an array");
  return v.As<Napi::Array>();
}

}  // namespace netplumb
