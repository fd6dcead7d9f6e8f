// A stand-in for the addon's JS objects (common/out.h) for the decoders to
// write into. It reads every byte of every string and buffer it is given,
// so a decoder reading past its input shows up under ASan, and it checks
// the shape rules the JS side relies on: named values go to objects, pushes
// and indexed values (rows) to arrays, and every node a decoder uses is one
// it was given.
#pragma once

#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/out.h"

namespace netplumb::fuzz {

class TreeOut final : public OutBuilder {
 public:
  void Clear() {
    nodes_.clear();
    values_ = 0;
  }
  // How many values were set (and a sum of their bytes, so reading them is not optimized away).
  size_t Values() const { return values_; }
  size_t Sum() const { return sum_; }

  Node NewObject() override { return Add(false); }
  Node NewArray(uint32_t) override { return Add(true); }
  void SetNumber(Node obj, Key key, double v) override { Put(obj, key, v != v ? 0 : 1); }
  void SetBool(Node obj, Key key, bool v) override { Put(obj, key, v ? 1 : 0); }
  void SetString(Node obj, Key key, std::string_view v) override { Put(obj, key, Touch(v.data(), v.size())); }
  void SetBytes(Node obj, Key key, const uint8_t* data, size_t len) override {
    Put(obj, key, Touch(reinterpret_cast<const char*>(data), len));
  }
  Node SetObject(Node obj, Key key) override {
    Put(obj, key, 0);
    return Add(false);
  }
  Node List(Node obj, Key key) override {
    std::string name = Name(key);
    for (const auto& [n, list] : Holder(obj, key).lists) {
      if (n == name) return list;
    }
    Put(obj, key, 0);
    Node list = Add(true);  // may move nodes_: look obj up again below
    Holder(obj, key).lists.emplace_back(std::move(name), list);
    return list;
  }
  Node PushObject(Node array) override {
    Array(array).items++;
    return Add(false);
  }
  void PushNumber(Node array, double) override { Array(array).items++; }

 private:
  struct Entry {
    bool array;
    size_t items = 0;
    std::vector<std::pair<std::string, Node>> lists;
  };

  static std::string Name(Key key) { return key.name != nullptr ? std::string(key.name) : std::to_string(key.index); }
  static size_t Touch(const char* p, size_t n) {
    size_t s = 0;
    for (size_t i = 0; i < n; i++) s += static_cast<unsigned char>(p[i]);
    return s;
  }
  Node Add(bool array) {
    nodes_.push_back(Entry{array, 0, {}});
    return static_cast<Node>(nodes_.size() - 1);
  }
  Entry& At(Node n) {
    if (n >= nodes_.size()) std::abort();  // a handle this builder never gave out
    return nodes_[n];
  }
  Entry& Object(Node n) {
    Entry& e = At(n);
    if (e.array) std::abort();  // a named value set on an array
    return e;
  }
  Entry& Array(Node n) {
    Entry& e = At(n);
    if (!e.array) std::abort();  // a push onto an object
    return e;
  }
  // Named values go to objects; numbered ones (raw attributes, a row's
  // elements) to either.
  Entry& Holder(Node obj, Key key) {
    if (key.name == nullptr) return At(obj);
    if (key.name[0] == '\0') std::abort();  // an empty property name
    return Object(obj);
  }
  void Put(Node obj, Key key, size_t touched) {
    Holder(obj, key);
    values_++;
    sum_ += touched;
  }

  std::vector<Entry> nodes_;
  size_t values_ = 0;
  size_t sum_ = 0;
};

}  // namespace netplumb::fuzz
