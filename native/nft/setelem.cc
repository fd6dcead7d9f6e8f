// Set elements: `nft add|delete element`, `nft flush set`, `nft list set`.
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#include <cstring>

#include "common/addr.h"
#include "netlink/decode.h"
#include "nft/nft.h"

namespace netplumb::nft {
namespace {

// NFTA_SET_ELEM_LIST_ELEMENTS is a nested attribute whose length is 16 bits:
// past this many bytes of elements the list continues in another message of
// the same batch (the kernel applies them all or none).
constexpr size_t kElemMessageBudget = 60 * 1024;

// One element: FLAGS, TIMEOUT, KEY, KEY_END, DATA, USERDATA (nft's order).
void EncodeElem(MessageWriter& w, uint16_t type, const Spec& e) {
  size_t n = w.BeginNested(type, true);
  if (auto v = e.U32("flags")) w.AttrBe32(NFTA_SET_ELEM_FLAGS, *v);
  if (e.Has("timeout")) w.AttrBe64(NFTA_SET_ELEM_TIMEOUT, NeedU64(e, "timeout"));
  if (auto v = e.Bytes("key")) PutValue(w, NFTA_SET_ELEM_KEY, *v);
  if (auto v = e.Bytes("keyEnd")) PutValue(w, NFTA_SET_ELEM_KEY_END, *v);
  if (auto v = e.Bytes("data")) PutValue(w, NFTA_SET_ELEM_DATA, *v);
  if (auto v = e.Obj("verdict")) PutVerdict(w, NFTA_SET_ELEM_DATA, *v);
  PutBytes(w, NFTA_SET_ELEM_USERDATA, e, "userdata");
  w.EndNested(n);
}

void BeginElemMessage(MessageWriter& w, uint16_t msg, const Spec& s) {
  BeginMessage(w, msg, s);
  w.AttrString(NFTA_SET_ELEM_LIST_TABLE, NeedStr(s, "table"));
  w.AttrString(NFTA_SET_ELEM_LIST_SET, NeedStr(s, "set"));
  if (auto v = s.U32("setId")) w.AttrBe32(NFTA_SET_ELEM_LIST_SET_ID, *v);
}

}  // namespace

// nft add|delete element FAMILY TABLE SET { E, ... }: LIST_TABLE, LIST_SET,
// LIST_SET_ID, LIST_ELEMENTS. Without elements: nft flush set (which nft
// sends set name first).
void EncodeSetElems(MessageWriter& w, uint16_t msg, const Spec& s) {
  auto elems = s.List("elements");
  if (!elems) {
    BeginMessage(w, msg, s);
    w.AttrString(NFTA_SET_ELEM_LIST_SET, NeedStr(s, "set"));
    w.AttrString(NFTA_SET_ELEM_LIST_TABLE, NeedStr(s, "table"));
    w.End();
    return;
  }
  MessageWriter scratch;
  BeginElemMessage(w, msg, s);
  size_t list = w.BeginNested(NFTA_SET_ELEM_LIST_ELEMENTS, true);
  size_t list_bytes = 0;
  uint16_t in_message = 0;
  for (uint32_t i = 0; i < elems->Size(); i++) {
    scratch.Bytes().clear();
    // nft numbers the elements of a list 1, 2, ...; the kernel ignores the type.
    EncodeElem(scratch, 0, elems->Obj(i));
    std::vector<uint8_t>& bytes = scratch.Bytes();
    if (in_message > 0 && list_bytes + bytes.size() > kElemMessageBudget) {
      w.EndNested(list);
      w.End();
      BeginElemMessage(w, msg, s);
      list = w.BeginNested(NFTA_SET_ELEM_LIST_ELEMENTS, true);
      list_bytes = 0;
      in_message = 0;
    }
    in_message++;
    uint16_t type = static_cast<uint16_t>(in_message | NLA_F_NESTED);
    std::memcpy(bytes.data() + 2, &type, sizeof(type));
    w.Splice(scratch);
    list_bytes += bytes.size();
  }
  w.EndNested(list);
  w.End();
}

namespace {

void DecodeElem(Out e, const AttrView& elem) {
  AttrIterator it(elem);
  AttrView a;
  while (it.Next(&a)) {
    switch (a.type) {
      case NFTA_SET_ELEM_KEY:
        GetData(e, a, "key", "keyVerdict");
        break;
      case NFTA_SET_ELEM_KEY_END:
        GetData(e, a, "keyEnd", "keyEndVerdict");
        break;
      case NFTA_SET_ELEM_DATA:
        GetData(e, a, "data", "verdict");
        break;
      case NFTA_SET_ELEM_FLAGS:
        e.Set("flags", a.Be32());
        break;
      case NFTA_SET_ELEM_TIMEOUT:
        e.Set("timeout", static_cast<double>(a.Be64()));
        break;
      case NFTA_SET_ELEM_EXPIRATION:
        e.Set("expiration", static_cast<double>(a.Be64()));
        break;
      case NFTA_SET_ELEM_USERDATA:
        e.SetBytes("userdata", a.data, a.len);
        break;
      default:
        AddUnknown(e, a);
    }
  }
}

}  // namespace

void DecodeSetElems(Out o, const MessageView& m) {
  StartObject(o, m, "setelem");
  Out elems = o.List("elements");
  AttrIterator it = m.Attrs(sizeof(nfgenmsg));
  AttrView a;
  while (it.Next(&a)) {
    switch (a.type) {
      case NFTA_SET_ELEM_LIST_TABLE:
        o.Set("table", std::string(a.String()));
        break;
      case NFTA_SET_ELEM_LIST_SET:
        o.Set("set", std::string(a.String()));
        break;
      case NFTA_SET_ELEM_LIST_ELEMENTS: {
        AttrIterator eit(a);
        AttrView e;
        while (eit.Next(&e)) DecodeElem(elems.Push(), e);
        break;
      }
      default:
        AddUnknown(o, a);
    }
  }
}

}  // namespace netplumb::nft
