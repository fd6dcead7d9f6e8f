// Addresses: `ip addr add|del|show`.
#include "common/addr.h"

#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <cstring>
#include <string>

#include "netlink/decode.h"
#include "rtnl/rtnl.h"

namespace netplumb::rtnl {

// ip addr add LOCAL/PLEN [brd B] [label L] [valid_lft V preferred_lft P] dev D
void EncodeAddr(MessageWriter& w, uint16_t type, const Spec& s) {
  w.Begin(type, static_cast<uint16_t>(s.U32Or("flags", NLM_F_REQUEST | NLM_F_ACK)));
  ifaddrmsg ifa{};
  ifa.ifa_family = static_cast<uint8_t>(s.U32Or("family", AF_UNSPEC));
  ifa.ifa_prefixlen = static_cast<uint8_t>(s.U32Or("prefixlen", 0));
  uint32_t flags = s.U32Or("ifaFlags", 0);
  ifa.ifa_flags = static_cast<uint8_t>(flags & 0xff);
  ifa.ifa_scope = static_cast<uint8_t>(s.U32Or("scope", 0));
  ifa.ifa_index = s.U32Or("index", 0);
  w.Header(ifa);
  if (auto v = s.Bytes("local")) w.Attr(IFA_LOCAL, v->data(), v->size());
  if (auto v = s.Bytes("address")) w.Attr(IFA_ADDRESS, v->data(), v->size());
  if (auto v = s.Bytes("broadcast")) w.Attr(IFA_BROADCAST, v->data(), v->size());
  if (auto v = s.Str("label")) w.AttrString(IFA_LABEL, *v);
  if (flags > 0xff) w.AttrU32(IFA_FLAGS, flags);
  if (s.Has("validLft") || s.Has("preferredLft")) {
    ifa_cacheinfo ci{};
    ci.ifa_valid = s.U32Or("validLft", 0xffffffffu);
    ci.ifa_prefered = s.U32Or("preferredLft", ci.ifa_valid);
    w.Attr(IFA_CACHEINFO, &ci, sizeof(ci));
  }
  w.End();
}

void DecodeAddr(Out o, const MessageView& m) {
  ifaddrmsg ifa{};
  if (!m.Fixed(&ifa)) return;
  o.Set("family", ifa.ifa_family == AF_INET6 ? 6 : 4);
  o.Set("prefixlen", ifa.ifa_prefixlen);
  o.Set("scope", ifa.ifa_scope);
  o.Set("index", ifa.ifa_index);
  uint32_t flags = ifa.ifa_flags;
  std::string local, address;
  AttrIterator it = m.Attrs(sizeof(ifa));
  AttrView a;
  while (it.Next(&a)) {
    switch (a.type) {
      case IFA_LOCAL:
        local = IpText(a.data, a.len);
        break;
      case IFA_ADDRESS:
        address = IpText(a.data, a.len);
        break;
      case IFA_BROADCAST:
        SetIp(o, "broadcast", a);
        break;
      case IFA_LABEL:
        o.Set("label", std::string(a.String()));
        break;
      case IFA_FLAGS:
        flags = a.U32();
        break;
      case IFA_CACHEINFO: {
        ifa_cacheinfo ci{};
        if (a.len >= sizeof(ci)) std::memcpy(&ci, a.data, sizeof(ci));
        o.Set("validLft", ci.ifa_valid);
        o.Set("preferredLft", ci.ifa_prefered);
        break;
      }
      default:
        AddUnknown(o, a);
    }
  }
  // IPv4: IFA_LOCAL is the interface's address, IFA_ADDRESS the peer (the
  // same unless point-to-point). IPv6 sends IFA_ADDRESS alone.
  std::string mine = local.empty() ? address : local;
  o.Set("address", mine);
  if (!local.empty() && !address.empty() && address != local) o.Set("peer", address);
  o.Set("cidr", mine + "/" + std::to_string(ifa.ifa_prefixlen));
  o.Set("flags", flags);
}

}  // namespace netplumb::rtnl
