#include "common/js_spec.h"

#include "common/errors.h"

namespace netplumb {

SpecSource::Value JsSpec::Classify(Napi::Value v) const {
  Value out;
  out.node = static_cast<napi_value>(v);
  switch (v.Type()) {
    case napi_undefined:
    case napi_null:
      out.type = Type::kAbsent;
      break;
    case napi_number:
      out.type = Type::kNumber;
      break;
    case napi_bigint:
      out.type = Type::kBigInt;
      break;
    case napi_boolean:
      out.type = Type::kBool;
      break;
    case napi_string:
      out.type = Type::kString;
      break;
    case napi_object:
      if (v.IsArray()) {
        out.type = Type::kArray;
      } else if (v.IsTypedArray() && v.As<Napi::TypedArray>().TypedArrayType() == napi_uint8_array) {
        out.type = Type::kBytes;
      } else {
        out.type = Type::kObject;
      }
      break;
    default:
      out.type = Type::kOther;
  }
  return out;
}

Spec JsSpec::Of(Napi::Value v, const std::string& path) const {
  if (!v.IsObject()) ThrowTypeError(env_, path + " must be an object");
  return Spec(*this, static_cast<napi_value>(v), path);
}

SpecSource::Value JsSpec::Get(Node obj, const char* key) const { return Classify(Js(obj).As<Napi::Object>().Get(key)); }

SpecSource::Value JsSpec::At(Node array, uint32_t i) const { return Classify(Js(array).As<Napi::Array>().Get(i)); }

uint32_t JsSpec::Length(Node array) const { return Js(array).As<Napi::Array>().Length(); }

std::vector<std::string> JsSpec::Keys(Node obj) const {
  Napi::Array keys = Js(obj).As<Napi::Object>().GetPropertyNames();
  std::vector<std::string> out;
  out.reserve(keys.Length());
  for (uint32_t i = 0; i < keys.Length(); i++) out.push_back(keys.Get(i).ToString().Utf8Value());
  return out;
}

double JsSpec::Number(Node v) const { return Js(v).As<Napi::Number>().DoubleValue(); }

int64_t JsSpec::BigInt(Node v) const {
  bool lossless = false;
  return Js(v).As<Napi::BigInt>().Int64Value(&lossless);
}

bool JsSpec::Boolean(Node v) const { return Js(v).As<Napi::Boolean>().Value(); }

std::string JsSpec::String(Node v) const { return Js(v).As<Napi::String>().Utf8Value(); }

std::vector<uint8_t> JsSpec::Bytes(Node v) const {
  auto u8 = Js(v).As<Napi::Uint8Array>();
  return std::vector<uint8_t>(u8.Data(), u8.Data() + u8.ElementLength());
}

void JsSpec::Fail(const std::string& message) const { ThrowTypeError(env_, message); }

}  // namespace netplumb
