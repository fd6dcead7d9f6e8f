// Reads the plain objects TypeScript hands to the encoders. TypeScript has
// validated them already; a wrong type here is a bug, reported as a TypeError
// naming the field. A Spec reads through a SpecSource: the addon's reads JS
// objects (common/js_spec.h), so encoders hold no N-API types.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace netplumb {

// Where a Spec's values come from; nodes are the source's own handles.
class SpecSource {
 public:
  using Node = const void*;
  enum class Type { kAbsent, kNumber, kBigInt, kBool, kString, kBytes, kArray, kObject, kOther };
  struct Value {
    Type type = Type::kAbsent;  // undefined and null are both absent
    Node node = nullptr;
  };

  virtual ~SpecSource() = default;
  virtual Value Get(Node obj, const char* key) const = 0;
  virtual Value At(Node array, uint32_t i) const = 0;
  virtual uint32_t Length(Node array) const = 0;
  virtual std::vector<std::string> Keys(Node obj) const = 0;
  virtual double Number(Node v) const = 0;
  virtual int64_t BigInt(Node v) const = 0;
  virtual bool Boolean(Node v) const = 0;
  virtual std::string String(Node v) const = 0;
  virtual std::vector<uint8_t> Bytes(Node v) const = 0;
  // Throws (a TypeError, for JS callers); never returns.
  [[noreturn]] virtual void Fail(const std::string& message) const = 0;
};

class SpecList;

class Spec {
 public:
  Spec(const SpecSource& src, SpecSource::Node node, std::string path)
      : src_(&src), node_(node), path_(std::move(path)) {}

  bool Has(const char* key) const;
  std::optional<uint32_t> U32(const char* key) const;
  std::optional<int64_t> I64(const char* key) const;
  std::optional<bool> Bool(const char* key) const;
  std::optional<std::string> Str(const char* key) const;
  // Buffer or Uint8Array.
  std::optional<std::vector<uint8_t>> Bytes(const char* key) const;
  std::optional<Spec> Obj(const char* key) const;
  std::optional<SpecList> List(const char* key) const;
  // What `key` holds (for values of more than one type: raw attributes).
  SpecSource::Type TypeOf(const char* key) const;
  // The property names, in order.
  std::vector<std::string> Keys() const;

  uint32_t U32Or(const char* key, uint32_t fallback) const { return U32(key).value_or(fallback); }
  [[noreturn]] void Fail(const char* key, const char* expected) const;

 private:
  SpecSource::Value Get(const char* key) const { return src_->Get(node_, key); }

  const SpecSource* src_;
  SpecSource::Node node_;
  std::string path_;
};

// An array inside a Spec.
class SpecList {
 public:
  SpecList(const SpecSource& src, SpecSource::Node node, std::string path)
      : src_(&src), node_(node), path_(std::move(path)) {}

  uint32_t Size() const { return src_->Length(node_); }
  // Element i, which must be an object.
  Spec Obj(uint32_t i) const;
  // Element i, which must be an integer from 0 to 2^32-1.
  uint32_t U32(uint32_t i) const;

 private:
  const SpecSource* src_;
  SpecSource::Node node_;
  std::string path_;
};

// A number as a uint32 (nullopt unless an integer from 0 to 2^32-1).
std::optional<uint32_t> AsU32(double d);
// A number as an int64 (nullopt unless an integer within int64's range).
std::optional<int64_t> AsI64(double d);

}  // namespace netplumb
