// Tables: `nft add|create|delete|flush table FAMILY NAME`, `nft list tables`.
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#include "common/addr.h"
#include "netlink/decode.h"
#include "nft/nft.h"

namespace netplumb::nft {

// nft add table FAMILY NAME [{ flags F; comment C; }]: NAME, FLAGS, USERDATA
// (nft always sends the flags, 0 included). Delete may name a handle instead.
void EncodeTable(MessageWriter& w, uint16_t msg, const Spec& s) {
  BeginMessage(w, msg, s);
  if (auto v = s.Str("name")) w.AttrString(NFTA_TABLE_NAME, *v);
  if (auto v = s.U32("tableFlags")) w.AttrBe32(NFTA_TABLE_FLAGS, *v);
  PutBytes(w, NFTA_TABLE_USERDATA, s, "userdata");
  if (s.Has("handle")) w.AttrBe64(NFTA_TABLE_HANDLE, NeedU64(s, "handle"));
  w.End();
}

void DecodeTable(Out o, const MessageView& m) {
  StartObject(o, m, "table");
  AttrIterator it = m.Attrs(sizeof(nfgenmsg));
  AttrView a;
  while (it.Next(&a)) {
    switch (a.type) {
      case NFTA_TABLE_NAME:
        o.Set("name", std::string(a.String()));
        break;
      case NFTA_TABLE_FLAGS:
        o.Set("tableFlags", a.Be32());
        break;
      case NFTA_TABLE_USE:
        o.Set("use", a.Be32());
        break;
      case NFTA_TABLE_HANDLE:
        o.Set("handle", static_cast<double>(a.Be64()));
        break;
      case NFTA_TABLE_USERDATA:
        o.SetBytes("userdata", a.data, a.len);
        break;
      case NFTA_TABLE_OWNER:
        o.Set("owner", a.Be32());
        break;
      default:
        AddUnknown(o, a);
    }
  }
}

}  // namespace netplumb::nft
