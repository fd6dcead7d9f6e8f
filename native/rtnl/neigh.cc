// Neighbours and bridge FDB entries: `ip neigh add|del|show`,
// `bridge fdb append|del|show` (AF_BRIDGE, NTF_SELF, dst).
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include "common/addr.h"
#include "netlink/decode.h"
#include "rtnl/rtnl.h"

namespace netplumb::rtnl {

// ip neigh add DST lladdr MAC dev D nud permanent
// bridge fdb append MAC dev D dst IP [vni N] self permanent
void EncodeNeigh(MessageWriter& w, uint16_t type, const Spec& s) {
  w.Begin(type, static_cast<uint16_t>(s.U32Or("flags", NLM_F_REQUEST | NLM_F_ACK)));
  ndmsg nd{};
  nd.ndm_family = static_cast<uint8_t>(s.U32Or("family", AF_UNSPEC));
  nd.ndm_ifindex = static_cast<int>(s.U32Or("index", 0));
  nd.ndm_state = static_cast<uint16_t>(s.U32Or("state", 0));
  nd.ndm_flags = static_cast<uint8_t>(s.U32Or("ntfFlags", 0));
  nd.ndm_type = static_cast<uint8_t>(s.U32Or("type", 0));
  w.Header(nd);
  auto dst = s.Bytes("dst");
  auto lladdr = s.Bytes("lladdr");
  // `bridge fdb` puts the MAC first; `ip neigh` the IP.
  if (nd.ndm_family == AF_BRIDGE) {
    if (lladdr) w.Attr(NDA_LLADDR, lladdr->data(), lladdr->size());
    if (dst) w.Attr(NDA_DST, dst->data(), dst->size());
  } else {
    if (dst) w.Attr(NDA_DST, dst->data(), dst->size());
    if (lladdr) w.Attr(NDA_LLADDR, lladdr->data(), lladdr->size());
  }
  if (auto v = s.U32("vni")) w.AttrU32(NDA_VNI, *v);
  if (auto v = s.U32("port")) w.AttrBe16(NDA_PORT, static_cast<uint16_t>(*v));
  if (auto v = s.U32("ifindex")) w.AttrU32(NDA_IFINDEX, *v);
  if (auto v = s.U32("master")) w.AttrU32(NDA_MASTER, *v);
  w.End();
}

void DecodeNeigh(Out o, const MessageView& m) {
  ndmsg nd{};
  if (!m.Fixed(&nd)) return;
  if (nd.ndm_family == AF_BRIDGE) {
    o.Set("family", "bridge");
  } else {
    o.Set("family", nd.ndm_family == AF_INET6 ? 6 : 4);
  }
  o.Set("index", nd.ndm_ifindex);
  o.Set("state", nd.ndm_state);
  o.Set("flags", nd.ndm_flags);
  o.Set("type", nd.ndm_type);
  AttrIterator it = m.Attrs(sizeof(nd));
  AttrView a;
  while (it.Next(&a)) {
    switch (a.type) {
      case NDA_DST:
        SetIp(o, "dst", a);
        break;
      case NDA_LLADDR:
        o.Set("lladdr", MacText(a.data, a.len));
        break;
      case NDA_VNI:
        o.Set("vni", a.U32());
        break;
      case NDA_PORT:
        o.Set("port", a.Be16());
        break;
      case NDA_IFINDEX:
        o.Set("ifindex", a.U32());
        break;
      case NDA_MASTER:
        o.Set("master", a.U32());
        break;
      case NDA_PROBES:
        o.Set("probes", a.U32());
        break;
      case NDA_CACHEINFO:
        break;
      default:
        AddUnknown(o, a);
    }
  }
}

}  // namespace netplumb::rtnl
