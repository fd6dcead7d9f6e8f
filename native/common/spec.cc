#include "common/spec.h"

#include <cmath>
#include <cstdlib>

namespace netplumb {

using Type = SpecSource::Type;

std::optional<uint32_t> AsU32(double d) {
  if (!(d >= 0 && d <= 4294967295.0) || std::floor(d) != d) return std::nullopt;
  return static_cast<uint32_t>(d);
}

std::optional<int64_t> AsI64(double d) {
  // 2^63 itself does not fit; every double below it that is an integer does.
  if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0) || std::floor(d) != d) return std::nullopt;
  return static_cast<int64_t>(d);
}

void Spec::Fail(const char* key, const char* expected) const {
  src_->Fail(path_ + "." + key + " must be " + expected);
  std::abort();  // a source's Fail throws; not reached
}

bool Spec::Has(const char* key) const { return Get(key).type != Type::kAbsent; }

SpecSource::Type Spec::TypeOf(const char* key) const { return Get(key).type; }

std::vector<std::string> Spec::Keys() const { return src_->Keys(node_); }

std::optional<uint32_t> Spec::U32(const char* key) const {
  SpecSource::Value v = Get(key);
  if (v.type == Type::kAbsent) return std::nullopt;
  if (v.type != Type::kNumber) Fail(key, "a number");
  auto n = AsU32(src_->Number(v.node));
  if (!n) Fail(key, "an integer from 0 to 2^32-1");
  return n;
}

std::optional<int64_t> Spec::I64(const char* key) const {
  SpecSource::Value v = Get(key);
  if (v.type == Type::kAbsent) return std::nullopt;
  if (v.type == Type::kBigInt) return src_->BigInt(v.node);
  if (v.type != Type::kNumber) Fail(key, "a number");
  auto n = AsI64(src_->Number(v.node));
  if (!n) Fail(key, "an integer");
  return n;
}

std::optional<bool> Spec::Bool(const char* key) const {
  SpecSource::Value v = Get(key);
  if (v.type == Type::kAbsent) return std::nullopt;
  if (v.type != Type::kBool) Fail(key, "a boolean");
  return src_->Boolean(v.node);
}

std::optional<std::string> Spec::Str(const char* key) const {
  SpecSource::Value v = Get(key);
  if (v.type == Type::kAbsent) return std::nullopt;
  if (v.type != Type::kString) Fail(key, "a string");
  return src_->String(v.node);
}

std::optional<std::vector<uint8_t>> Spec::Bytes(const char* key) const {
  SpecSource::Value v = Get(key);
  if (v.type == Type::kAbsent) return std::nullopt;
  if (v.type != Type::kBytes) Fail(key, "a Buffer");
  return src_->Bytes(v.node);
}

std::optional<Spec> Spec::Obj(const char* key) const {
  SpecSource::Value v = Get(key);
  if (v.type == Type::kAbsent) return std::nullopt;
  if (v.type != Type::kObject && v.type != Type::kArray && v.type != Type::kBytes) Fail(key, "an object");
  return Spec(*src_, v.node, path_ + "." + key);
}

std::optional<SpecList> Spec::List(const char* key) const {
  SpecSource::Value v = Get(key);
  if (v.type == Type::kAbsent) return std::nullopt;
  if (v.type != Type::kArray) Fail(key, "an array");
  return SpecList(*src_, v.node, path_ + "." + key);
}

Spec SpecList::Obj(uint32_t i) const {
  SpecSource::Value v = src_->At(node_, i);
  std::string at = path_ + "[" + std::to_string(i) + "]";
  if (v.type != Type::kObject && v.type != Type::kArray && v.type != Type::kBytes)
    src_->Fail(at + " must be an object");
  return Spec(*src_, v.node, at);
}

uint32_t SpecList::U32(uint32_t i) const {
  SpecSource::Value v = src_->At(node_, i);
  std::optional<uint32_t> n;
  if (v.type == Type::kNumber) n = AsU32(src_->Number(v.node));
  if (!n) src_->Fail(path_ + "[" + std::to_string(i) + "] must be an integer from 0 to 2^32-1");
  return *n;
}

}  // namespace netplumb
