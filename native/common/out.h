// Where decoders write what they read: a tree of objects, arrays and plain
// values. Decoders see only this interface, so they hold no N-API types:
// the addon's builder makes JS objects from it (common/js_out.h), the fuzz
// targets build a plain tree without Node (fuzz/targets).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>

namespace netplumb {

// A property: a name (a string literal: builders may cache keys by
// address), or a number (raw attributes { 1: ..., 3: ... }, row elements).
struct Key {
  Key(const char* n) : name(n) {}  // NOLINT: implicit on purpose, o.Set("mtu", ...)
  static Key Index(uint32_t i) {
    Key k(nullptr);
    k.index = i;
    return k;
  }
  const char* name;  // nullptr: use index
  uint32_t index = 0;
};

// Builds the tree. Nodes are numbers the builder hands out.
class OutBuilder {
 public:
  using Node = uint32_t;
  virtual ~OutBuilder() = default;

  // Top-level values: an object, or an array of `length` holes (a row, whose
  // elements are set by index).
  virtual Node NewObject() = 0;
  virtual Node NewArray(uint32_t length) = 0;

  virtual void SetNumber(Node obj, Key key, double v) = 0;
  virtual void SetBool(Node obj, Key key, bool v) = 0;
  virtual void SetString(Node obj, Key key, std::string_view v) = 0;
  virtual void SetBytes(Node obj, Key key, const uint8_t* data, size_t len) = 0;
  // A new empty object at `key` (replacing what was there).
  virtual Node SetObject(Node obj, Key key) = 0;
  // The array at `key`, made empty when there is none.
  virtual Node List(Node obj, Key key) = 0;
  // Appends to an array.
  virtual Node PushObject(Node array) = 0;
  virtual void PushNumber(Node array, double v) = 0;
};

// A handle on one object (or array) of the tree; cheap to copy.
class Out {
 public:
  Out(OutBuilder& b, OutBuilder::Node n) : b_(&b), n_(n) {}
  static Out NewObject(OutBuilder& b) { return Out(b, b.NewObject()); }
  static Out NewArray(OutBuilder& b, uint32_t length) { return Out(b, b.NewArray(length)); }

  template <typename T>
  requires(std::is_arithmetic_v<T> && !std::is_same_v<T, bool>) void Set(Key k, T v) {
    b_->SetNumber(n_, k, static_cast<double>(v));
  }
  void Set(Key k, bool v) { b_->SetBool(n_, k, v); }
  void Set(Key k, std::string_view v) { b_->SetString(n_, k, v); }
  void Set(Key k, const char* v) { b_->SetString(n_, k, std::string_view(v)); }
  void Set(Key k, const std::string& v) { b_->SetString(n_, k, v); }
  void SetBytes(Key k, const uint8_t* data, size_t len) { b_->SetBytes(n_, k, data, len); }
  Out Object(Key k) { return Out(*b_, b_->SetObject(n_, k)); }
  Out List(Key k) { return Out(*b_, b_->List(n_, k)); }
  // On an array: a new object at its end.
  Out Push() { return Out(*b_, b_->PushObject(n_)); }
  template <typename T>
  requires(std::is_arithmetic_v<T> && !std::is_same_v<T, bool>) void Push(T v) {
    b_->PushNumber(n_, static_cast<double>(v));
  }

  OutBuilder::Node Node() const { return n_; }

 private:
  OutBuilder* b_;
  OutBuilder::Node n_;
};

}  // namespace netplumb
