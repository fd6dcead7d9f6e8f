// The expression registry, the generic (raw) encoder and the decode loop.
#include "nft/expr/expr.h"

#include <linux/netfilter/nf_tables.h>

#include <cstdlib>
#include <string>

#include "common/addr.h"
#include "nft/nft.h"

namespace netplumb::nft {
namespace {

const ExprKind* const kKinds[] = {
    &kPayloadExpr, &kCmpExpr, &kMetaExpr, &kCtExpr,    &kFibExpr,    &kLookupExpr,  &kImmediateExpr,
    &kCounterExpr, &kNatExpr, &kMasqExpr, &kRedirExpr, &kRejectExpr, &kBitwiseExpr, &kRangeExpr,
};

// { "3": 12, "1": "name", "4": <Buffer> }: numbers are 32-bit values, which
// nf_tables expressions carry in network order.
void EncodeRawAttrs(MessageWriter& w, const Spec& s) {
  Spec attrs = *s.Obj("attrs");
  for (const std::string& key : attrs.Keys()) {
    char* end = nullptr;
    unsigned long type = std::strtoul(key.c_str(), &end, 10);
    if (end == key.c_str() || *end != '\0' || type == 0 || type > 0xffff) s.Fail("attrs", "keyed by attribute numbers");
    auto t = static_cast<uint16_t>(type);
    switch (attrs.TypeOf(key.c_str())) {
      case SpecSource::Type::kNumber:
        w.AttrBe32(t, *attrs.U32(key.c_str()));
        break;
      case SpecSource::Type::kString:
        w.AttrString(t, *attrs.Str(key.c_str()));
        break;
      case SpecSource::Type::kBytes: {
        std::vector<uint8_t> b = *attrs.Bytes(key.c_str());
        w.Attr(t, b.data(), b.size());
        break;
      }
      default:
        s.Fail("attrs", "numbers, strings or Buffers");
    }
  }
}

}  // namespace

const ExprKind* FindExprKind(std::string_view name) {
  for (const ExprKind* k : kKinds) {
    if (name == k->name) return k;
  }
  return nullptr;
}

void PutBe32(MessageWriter& w, uint16_t type, const Spec& s, const char* key) {
  if (auto v = s.U32(key)) w.AttrBe32(type, *v);
}

uint32_t NeedU32(const Spec& s, const char* key) {
  auto v = s.U32(key);
  if (!v) s.Fail(key, "a number");
  return *v;
}

void EncodeExpr(MessageWriter& w, const Spec& s) {
  std::string name = NeedStr(s, "name");
  const ExprKind* kind = s.Has("attrs") ? nullptr : FindExprKind(name);
  if (kind == nullptr && !s.Has("attrs")) s.Fail("name", "a known expression (or give attrs)");
  size_t elem = w.BeginNested(NFTA_LIST_ELEM, true);
  w.AttrString(NFTA_EXPR_NAME, name);
  size_t data = w.BeginNested(NFTA_EXPR_DATA, true);
  if (kind != nullptr) {
    kind->encode(w, s);
  } else {
    EncodeRawAttrs(w, s);
  }
  w.EndNested(data);
  w.EndNested(elem);
}

void DecodeExpr(Out o, const AttrView& elem) {
  std::string name;
  AttrView data{};
  bool has_data = false;
  AttrIterator it(elem);
  AttrView a;
  while (it.Next(&a)) {
    if (a.type == NFTA_EXPR_NAME) name.assign(a.String());
    if (a.type == NFTA_EXPR_DATA) {
      data = a;
      has_data = true;
    }
  }
  o.Set("name", name);
  const ExprKind* kind = FindExprKind(name);
  bool partial = kind == nullptr;
  Out attrs = o.Object("attrs");
  if (has_data) {
    AttrIterator dit(data);
    while (dit.Next(&a)) {
      if (a.len == 4) {
        attrs.Set(Key::Index(a.type), a.Be32());
      } else {
        attrs.SetBytes(Key::Index(a.type), a.data, a.len);
      }
      if (kind != nullptr && !kind->decode(o, a)) partial = true;
    }
  }
  if (partial) o.Set("partial", true);
}

}  // namespace netplumb::nft
