// Reads the plain objects TypeScript hands to the encoders. TypeScript has
// validated them already; a wrong type here is a bug, reported as a TypeError
// naming the field.
#pragma once

#include <napi.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace netplumb {

class Spec {
 public:
  Spec(Napi::Object obj, std::string path) : obj_(obj), path_(std::move(path)) {}
  static Spec From(Napi::Value v, const std::string& path);

  bool Has(const char* key) const;
  std::optional<uint32_t> U32(const char* key) const;
  std::optional<int64_t> I64(const char* key) const;
  std::optional<bool> Bool(const char* key) const;
  std::optional<std::string> Str(const char* key) const;
  // Buffer or Uint8Array.
  std::optional<std::vector<uint8_t>> Bytes(const char* key) const;
  std::optional<Spec> Obj(const char* key) const;
  std::optional<Napi::Array> Arr(const char* key) const;

  uint32_t U32Or(const char* key, uint32_t fallback) const { return U32(key).value_or(fallback); }
  Napi::Object Raw() const { return obj_; }
  Napi::Env Env() const { return obj_.Env(); }
  [[noreturn]] void Fail(const char* key, const char* expected) const;

 private:
  Napi::Value Get(const char* key) const;
  Napi::Object obj_;
  std::string path_;
};

}  // namespace netplumb
