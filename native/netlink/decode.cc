#include "netlink/decode.h"

#include <linux/netfilter/nfnetlink.h>
#include <linux/rtnetlink.h>

#include "conntrack/ct.h"
#include "nft/nft.h"
#include "rtnl/rtnl.h"

namespace netplumb {

void AddUnknown(Out o, const AttrView& a, Key key) {
  Out u = o.List(key).Push();
  u.Set("type", a.type);
  u.SetBytes("data", a.data, a.len);
}

namespace {

bool IsRtnlObject(uint16_t type) {
  switch (type) {
    case RTM_NEWLINK:
    case RTM_DELLINK:
    case RTM_NEWADDR:
    case RTM_DELADDR:
    case RTM_NEWNEIGH:
    case RTM_DELNEIGH:
      return true;
    default:
      return false;
  }
}

void DecodeRtnl(Out o, const MessageView& m) {
  switch (m.header.nlmsg_type) {
    case RTM_NEWLINK:
    case RTM_DELLINK:
      rtnl::DecodeLink(o, m);
      break;
    case RTM_NEWADDR:
    case RTM_DELADDR:
      rtnl::DecodeAddr(o, m);
      break;
    default:
      rtnl::DecodeNeigh(o, m);
  }
}

}  // namespace

Out DecodeMessage(OutBuilder& b, int protocol, const MessageView& m) {
  uint16_t type = m.header.nlmsg_type;
  if (protocol == NETLINK_ROUTE && (type == RTM_NEWROUTE || type == RTM_DELROUTE)) return rtnl::DecodeRoute(b, m);
  Out o = Out::NewObject(b);
  bool known = false;
  if (protocol == NETLINK_ROUTE && IsRtnlObject(type)) {
    DecodeRtnl(o, m);
    known = true;
  } else if (protocol == NETLINK_NETFILTER) {
    known = nft::DecodeMessage(o, m) || ct::DecodeMessage(o, m);
  }
  if (!known) o.SetBytes("data", m.payload, m.payload_len);
  return o;
}

}  // namespace netplumb
