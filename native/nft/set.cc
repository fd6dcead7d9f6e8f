// Sets and maps: `nft add|delete set|map`, `nft list sets`.
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#include "common/addr.h"
#include "netlink/decode.h"
#include "nft/nft.h"

namespace netplumb::nft {

// nft add set|map FAMILY TABLE NAME { type K [: V]; flags F; timeout T;
// comment C; }: TABLE, NAME, FLAGS, KEY_TYPE, KEY_LEN, DATA_TYPE, DATA_LEN,
// ID, DESC, TIMEOUT, USERDATA.
void EncodeSet(MessageWriter& w, uint16_t msg, const Spec& s) {
  BeginMessage(w, msg, s);
  if (auto v = s.Str("table")) w.AttrString(NFTA_SET_TABLE, *v);
  if (auto v = s.Str("name")) w.AttrString(NFTA_SET_NAME, *v);
  if (s.Has("handle")) w.AttrBe64(NFTA_SET_HANDLE, NeedU64(s, "handle"));
  if (auto v = s.U32("setFlags")) w.AttrBe32(NFTA_SET_FLAGS, *v);
  if (auto v = s.U32("keyType")) w.AttrBe32(NFTA_SET_KEY_TYPE, *v);
  if (auto v = s.U32("keyLen")) w.AttrBe32(NFTA_SET_KEY_LEN, *v);
  if (auto v = s.U32("dataType")) w.AttrBe32(NFTA_SET_DATA_TYPE, *v);
  if (auto v = s.U32("dataLen")) w.AttrBe32(NFTA_SET_DATA_LEN, *v);
  if (auto v = s.U32("id")) w.AttrBe32(NFTA_SET_ID, *v);
  auto size = s.U32("size");
  auto concat = s.List("concat");
  if (size || concat) {
    size_t d = w.BeginNested(NFTA_SET_DESC, true);
    if (size) w.AttrBe32(NFTA_SET_DESC_SIZE, *size);
    if (concat) {
      size_t c = w.BeginNested(NFTA_SET_DESC_CONCAT, true);
      for (uint32_t i = 0; i < concat->Size(); i++) {
        uint32_t len = concat->U32(i);
        size_t f = w.BeginNested(NFTA_LIST_ELEM, true);
        w.AttrBe32(NFTA_SET_FIELD_LEN, len);
        w.EndNested(f);
      }
      w.EndNested(c);
    }
    w.EndNested(d);
  }
  if (s.Has("timeout")) w.AttrBe64(NFTA_SET_TIMEOUT, NeedU64(s, "timeout"));
  PutBytes(w, NFTA_SET_USERDATA, s, "userdata");
  w.End();
}

namespace {

void DecodeDesc(Out o, const AttrView& a) {
  AttrIterator it(a);
  AttrView x;
  while (it.Next(&x)) {
    if (x.type == NFTA_SET_DESC_SIZE) o.Set("size", x.Be32());
    if (x.type == NFTA_SET_DESC_CONCAT) {
      Out lens = o.List("concat");
      AttrIterator cit(x);
      AttrView f;
      while (cit.Next(&f)) {
        AttrIterator fit(f);
        AttrView l;
        while (fit.Next(&l)) {
          if (l.type == NFTA_SET_FIELD_LEN) lens.Push(l.Be32());
        }
      }
    }
  }
}

}  // namespace

void DecodeSet(Out o, const MessageView& m) {
  StartObject(o, m, "set");
  AttrIterator it = m.Attrs(sizeof(nfgenmsg));
  AttrView a;
  while (it.Next(&a)) {
    switch (a.type) {
      case NFTA_SET_TABLE:
        o.Set("table", std::string(a.String()));
        break;
      case NFTA_SET_NAME:
        o.Set("name", std::string(a.String()));
        break;
      case NFTA_SET_HANDLE:
        o.Set("handle", static_cast<double>(a.Be64()));
        break;
      case NFTA_SET_FLAGS:
        o.Set("setFlags", a.Be32());
        break;
      case NFTA_SET_KEY_TYPE:
        o.Set("keyType", a.Be32());
        break;
      case NFTA_SET_KEY_LEN:
        o.Set("keyLen", a.Be32());
        break;
      case NFTA_SET_DATA_TYPE:
        o.Set("dataType", a.Be32());
        break;
      case NFTA_SET_DATA_LEN:
        o.Set("dataLen", a.Be32());
        break;
      case NFTA_SET_POLICY:
        o.Set("policy", a.Be32());
        break;
      case NFTA_SET_DESC:
        DecodeDesc(o, a);
        break;
      case NFTA_SET_ID:
        o.Set("id", a.Be32());
        break;
      case NFTA_SET_TIMEOUT:
        o.Set("timeout", static_cast<double>(a.Be64()));
        break;
      case NFTA_SET_GC_INTERVAL:
        o.Set("gcInterval", a.Be32());
        break;
      case NFTA_SET_USERDATA:
        o.SetBytes("userdata", a.data, a.len);
        break;
      case NFTA_SET_OBJ_TYPE:
        o.Set("objType", a.Be32());
        break;
      default:
        AddUnknown(o, a);
    }
  }
}

}  // namespace netplumb::nft
