// The addon's side of common/out.h: decoders' output as JS values, with
// property keys made once per batch (common/keys.h), and copies of bytes as
// Buffers. Main thread only (it makes JS values); valid within one
// HandleScope.
#pragma once

#include <napi.h>

#include <string>
#include <vector>

#include "common/keys.h"
#include "common/out.h"

namespace netplumb {

class JsOut final : public OutBuilder {
 public:
  explicit JsOut(Keys& keys) : keys_(keys), env_(keys.Env()) {}

  // The JS value behind a handle this builder gave out.
  Napi::Object Get(const Out& o) const { return nodes_[o.Node()]; }
  // Forgets every node (the JS values live on where they were put); the
  // key cache stays.
  void Clear();

  Node NewObject() override;
  Node NewArray(uint32_t length) override;
  void SetNumber(Node obj, Key key, double v) override;
  void SetBool(Node obj, Key key, bool v) override;
  void SetString(Node obj, Key key, std::string_view v) override;
  void SetBytes(Node obj, Key key, const uint8_t* data, size_t len) override;
  Node SetObject(Node obj, Key key) override;
  Node List(Node obj, Key key) override;
  Node PushObject(Node array) override;
  void PushNumber(Node array, double v) override;

 private:
  Node Add(Napi::Object o);
  void Put(Node obj, Key key, napi_value v);

  struct ListEntry {
    Node obj;
    std::string key;
    Node list;
  };

  Keys& keys_;
  Napi::Env env_;
  std::vector<Napi::Object> nodes_;
  std::vector<uint32_t> lengths_;  // arrays: the next index to push at
  std::vector<ListEntry> lists_;
};

Napi::Buffer<uint8_t> CopyBuffer(Napi::Env env, const uint8_t* data, size_t len);

}  // namespace netplumb
