// Property keys made once per decoded batch. Napi::Object::Set("name", ...)
// makes V8 internalize the C string on every call (a string-table lookup),
// and decoding a 100,000-route dump spent most of its time there; a key
// made once and reused is found by pointer. Valid within one HandleScope.
#pragma once

#include <napi.h>

#include <string>
#include <utility>
#include <vector>

namespace netplumb {

class Keys {
 public:
  explicit Keys(Napi::Env env) : env_(env) {}

  Napi::Env Env() const { return env_; }

  // The key for a string literal (looked up by its address).
  napi_value Get(const char* name) {
    for (const auto& [p, v] : cache_) {
      if (p == name) return v;
    }
    napi_value v = Napi::String::New(env_, name);
    cache_.emplace_back(name, v);
    return v;
  }

  void Set(Napi::Object o, const char* name, Napi::Value v) { napi_set_property(env_, o, Get(name), v); }
  void Set(Napi::Object o, const char* name, int32_t v) { Set(o, name, Napi::Number::New(env_, v)); }
  void Set(Napi::Object o, const char* name, uint32_t v) { Set(o, name, Napi::Number::New(env_, v)); }
  void Set(Napi::Object o, const char* name, bool v) { Set(o, name, Napi::Boolean::New(env_, v)); }
  void Set(Napi::Object o, const char* name, const std::string& v) { Set(o, name, Napi::String::New(env_, v)); }
  void Set(Napi::Object o, const char* name, const char* v) { Set(o, name, Napi::String::New(env_, v)); }

  // Collects properties, then defines them on a new object in one call.
  class Builder {
   public:
    explicit Builder(Keys& k) : k_(k) {}
    void Set(const char* name, Napi::Value v) {
      if (n_ == kMax) return;
      props_[n_++] = napi_property_descriptor{
          nullptr, k_.Get(name), nullptr, nullptr, nullptr, v, napi_default_jsproperty, nullptr};
    }
    void Set(const char* name, int32_t v) { Set(name, Napi::Number::New(k_.env_, v)); }
    void Set(const char* name, uint32_t v) { Set(name, Napi::Number::New(k_.env_, v)); }
    void Set(const char* name, const std::string& v) { Set(name, Napi::String::New(k_.env_, v)); }
    void Set(const char* name, const char* v) { Set(name, Napi::String::New(k_.env_, v)); }
    Napi::Object Build() {
      Napi::Object o = Napi::Object::New(k_.env_);
      napi_define_properties(k_.env_, o, n_, props_);
      return o;
    }

   private:
    static constexpr size_t kMax = 24;
    Keys& k_;
    napi_property_descriptor props_[kMax];
    size_t n_ = 0;
  };

 private:
  Napi::Env env_;
  std::vector<std::pair<const char*, napi_value>> cache_;
};

}  // namespace netplumb
