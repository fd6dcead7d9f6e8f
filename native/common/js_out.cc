#include "common/js_out.h"

namespace netplumb {

Napi::Buffer<uint8_t> CopyBuffer(Napi::Env env, const uint8_t* data, size_t len) {
  return Napi::Buffer<uint8_t>::Copy(env, data, len);
}

OutBuilder::Node JsOut::Add(Napi::Object o) {
  nodes_.push_back(o);
  lengths_.push_back(0);
  return static_cast<Node>(nodes_.size() - 1);
}

void JsOut::Clear() {
  nodes_.clear();
  lengths_.clear();
  lists_.clear();
}

OutBuilder::Node JsOut::NewObject() { return Add(Napi::Object::New(env_)); }

OutBuilder::Node JsOut::NewArray(uint32_t length) { return Add(Napi::Array::New(env_, length)); }

void JsOut::Put(Node obj, Key key, napi_value v) {
  if (key.name != nullptr) {
    napi_set_property(env_, nodes_[obj], keys_.Get(key.name), v);
  } else {
    napi_set_element(env_, nodes_[obj], key.index, v);
  }
}

void JsOut::SetNumber(Node obj, Key key, double v) { Put(obj, key, Napi::Number::New(env_, v)); }

void JsOut::SetBool(Node obj, Key key, bool v) { Put(obj, key, Napi::Boolean::New(env_, v)); }

void JsOut::SetString(Node obj, Key key, std::string_view v) {
  Put(obj, key, Napi::String::New(env_, v.data(), v.size()));
}

void JsOut::SetBytes(Node obj, Key key, const uint8_t* data, size_t len) { Put(obj, key, CopyBuffer(env_, data, len)); }

OutBuilder::Node JsOut::SetObject(Node obj, Key key) {
  Napi::Object o = Napi::Object::New(env_);
  Put(obj, key, o);
  return Add(o);
}

OutBuilder::Node JsOut::List(Node obj, Key key) {
  std::string name = key.name != nullptr ? std::string(key.name) : std::to_string(key.index);
  for (const ListEntry& e : lists_) {
    if (e.obj == obj && e.key == name) return e.list;
  }
  Napi::Array a = Napi::Array::New(env_);
  Put(obj, key, a);
  Node n = Add(a);
  lists_.push_back(ListEntry{obj, std::move(name), n});
  return n;
}

OutBuilder::Node JsOut::PushObject(Node array) {
  Napi::Object o = Napi::Object::New(env_);
  napi_set_element(env_, nodes_[array], lengths_[array]++, o);
  return Add(o);
}

void JsOut::PushNumber(Node array, double v) {
  napi_set_element(env_, nodes_[array], lengths_[array]++, Napi::Number::New(env_, v));
}

}  // namespace netplumb
