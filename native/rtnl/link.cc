// Links: `ip link add|set|del|show`, bridge-port options
// (`ip link set DEV type bridge_slave ...`), per-kind data for bridge, veth,
// vxlan, macvlan and tun.
#include <linux/if.h>
#include <linux/if_link.h>
#include <linux/if_tun.h>
#include <linux/ip.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "common/addr.h"
#include "netlink/decode.h"
#include "rtnl/rtnl.h"

namespace netplumb::rtnl {
namespace {

void PutU8(MessageWriter& w, const Spec& s, const char* key, uint16_t type) {
  if (auto v = s.U32(key)) w.AttrU8(type, static_cast<uint8_t>(*v));
}
void PutBoolU8(MessageWriter& w, const Spec& s, const char* key, uint16_t type) {
  if (auto v = s.Bool(key)) w.AttrU8(type, *v ? 1 : 0);
}
void PutU16(MessageWriter& w, const Spec& s, const char* key, uint16_t type) {
  if (auto v = s.U32(key)) w.AttrU16(type, static_cast<uint16_t>(*v));
}
void PutU32(MessageWriter& w, const Spec& s, const char* key, uint16_t type) {
  if (auto v = s.U32(key)) w.AttrU32(type, *v);
}
void PutBytes(MessageWriter& w, const Spec& s, const char* key, uint16_t type) {
  if (auto v = s.Bytes(key)) w.Attr(type, v->data(), v->size());
}

// ip link add ... type bridge stp_state S forward_delay D ...
void EncodeBridgeData(MessageWriter& w, const Spec& d) {
  PutU32(w, d, "stpState", IFLA_BR_STP_STATE);
  PutU32(w, d, "forwardDelay", IFLA_BR_FORWARD_DELAY);
  PutU32(w, d, "helloTime", IFLA_BR_HELLO_TIME);
  PutU32(w, d, "maxAge", IFLA_BR_MAX_AGE);
  PutU32(w, d, "ageingTime", IFLA_BR_AGEING_TIME);
  PutU16(w, d, "priority", IFLA_BR_PRIORITY);
  PutBoolU8(w, d, "vlanFiltering", IFLA_BR_VLAN_FILTERING);
  PutBoolU8(w, d, "mcastSnooping", IFLA_BR_MCAST_SNOOPING);
  PutBoolU8(w, d, "nfCallIptables", IFLA_BR_NF_CALL_IPTABLES);
  PutBoolU8(w, d, "nfCallIp6tables", IFLA_BR_NF_CALL_IP6TABLES);
}

// ip link add ... type vxlan id N [local A] [group|remote A] dev D dstport P [no]learning
void EncodeVxlanData(MessageWriter& w, const Spec& d) {
  PutU32(w, d, "link", IFLA_VXLAN_LINK);
  PutU32(w, d, "id", IFLA_VXLAN_ID);
  if (auto g = d.Bytes("group")) w.Attr(g->size() == 16 ? IFLA_VXLAN_GROUP6 : IFLA_VXLAN_GROUP, g->data(), g->size());
  if (auto l = d.Bytes("local")) w.Attr(l->size() == 16 ? IFLA_VXLAN_LOCAL6 : IFLA_VXLAN_LOCAL, l->data(), l->size());
  PutU8(w, d, "ttl", IFLA_VXLAN_TTL);
  PutBoolU8(w, d, "learning", IFLA_VXLAN_LEARNING);
  if (auto p = d.U32("port")) w.AttrBe16(IFLA_VXLAN_PORT, static_cast<uint16_t>(*p));
  PutBoolU8(w, d, "udpCsum", IFLA_VXLAN_UDP_CSUM);
}

// ip link add ... link L type macvlan mode M
void EncodeMacvlanData(MessageWriter& w, const Spec& d) { PutU32(w, d, "mode", IFLA_MACVLAN_MODE); }

// ip link set DEV type bridge_slave isolated on hairpin on learning off ...
void EncodeBridgePortData(MessageWriter& w, const Spec& d) {
  PutBoolU8(w, d, "isolated", IFLA_BRPORT_ISOLATED);
  PutBoolU8(w, d, "hairpin", IFLA_BRPORT_MODE);
  PutBoolU8(w, d, "learning", IFLA_BRPORT_LEARNING);
  PutBoolU8(w, d, "flood", IFLA_BRPORT_UNICAST_FLOOD);
  PutBoolU8(w, d, "neighSuppress", IFLA_BRPORT_NEIGH_SUPPRESS);
  PutU32(w, d, "cost", IFLA_BRPORT_COST);
  PutU16(w, d, "priority", IFLA_BRPORT_PRIORITY);
  PutU8(w, d, "state", IFLA_BRPORT_STATE);
}

void EncodeLinkBody(MessageWriter& w, const Spec& s, bool is_peer);

void EncodeLinkInfo(MessageWriter& w, const Spec& s) {
  auto kind = s.Str("kind");
  auto slave_kind = s.Str("slaveKind");
  if (!kind && !slave_kind) return;
  size_t info = w.BeginNested(IFLA_LINKINFO);
  // iproute2 sends kinds without a terminating NUL; the kernel copies them
  // with nla_strscpy, which takes either.
  if (kind) {
    w.Attr(IFLA_INFO_KIND, kind->data(), kind->size());
    auto data = s.Obj("data");
    auto peer = s.Obj("peer");
    if (*kind == "veth" && peer) {
      size_t d = w.BeginNested(IFLA_INFO_DATA);
      size_t p = w.BeginNested(VETH_INFO_PEER);
      EncodeLinkBody(w, *peer, true);
      w.EndNested(p);
      w.EndNested(d);
    } else if (data) {
      size_t d = w.BeginNested(IFLA_INFO_DATA);
      if (*kind == "bridge") {
        EncodeBridgeData(w, *data);
      } else if (*kind == "vxlan") {
        EncodeVxlanData(w, *data);
      } else if (*kind == "macvlan" || *kind == "macvtap") {
        EncodeMacvlanData(w, *data);
      }
      w.EndNested(d);
    }
  }
  if (slave_kind) {
    // Like iproute2, name the port kind in IFLA_INFO_KIND ("bridge_slave"):
    // for an existing link the kernel ignores a kind it does not know and
    // hands IFLA_INFO_SLAVE_DATA to the master's driver.
    w.Attr(IFLA_INFO_KIND, slave_kind->data(), slave_kind->size());
    if (auto sd = s.Obj("slaveData")) {
      size_t d = w.BeginNested(IFLA_INFO_SLAVE_DATA);
      if (*slave_kind == "bridge_slave" || *slave_kind == "bridge") EncodeBridgePortData(w, *sd);
      w.EndNested(d);
    }
  }
  w.EndNested(info);
}

// The ifinfomsg and attributes of a link; a veth peer is the same shape,
// nested in VETH_INFO_PEER. Attribute order follows iproute2's.
void EncodeLinkBody(MessageWriter& w, const Spec& s, bool is_peer) {
  ifinfomsg ifi{};
  ifi.ifi_family = static_cast<unsigned char>(s.U32Or("family", AF_UNSPEC));
  ifi.ifi_index = static_cast<int>(s.U32Or("index", 0));
  ifi.ifi_flags = s.U32Or("ifiFlags", 0);
  ifi.ifi_change = s.U32Or("ifiChange", 0);
  w.Header(ifi);
  PutU32(w, s, "link", IFLA_LINK);
  PutU32(w, s, "mtu", IFLA_MTU);
  PutBytes(w, s, "address", IFLA_ADDRESS);
  PutBytes(w, s, "broadcast", IFLA_BROADCAST);
  PutU32(w, s, "master", IFLA_MASTER);
  PutU32(w, s, "txqlen", IFLA_TXQLEN);
  PutU32(w, s, "group", IFLA_GROUP);
  PutU32(w, s, "netnsFd", IFLA_NET_NS_FD);
  PutU32(w, s, "netnsPid", IFLA_NET_NS_PID);
  PutU32(w, s, "newIndex", IFLA_NEW_IFINDEX);
  // iproute2 sends the alias without a terminating NUL.
  if (auto alias = s.Str("alias")) w.Attr(IFLA_IFALIAS, alias->data(), alias->size());
  // iproute2 adds these after the attributes it parses in place.
  PutU32(w, s, "numTxQueues", IFLA_NUM_TX_QUEUES);
  PutU32(w, s, "numRxQueues", IFLA_NUM_RX_QUEUES);
  if (auto name = s.Str("name")) w.AttrString(IFLA_IFNAME, *name);
  // Per-family settings. do_setlink applies them after the flags: one that
  // must hold when the link comes up (arp_notify) goes in a message before.
  //   sysctl net.ipv4.conf.DEV.arp_notify=N: IFLA_AF_SPEC { AF_INET { IFLA_INET_CONF { ARP_NOTIFY } } }
  //   ip link set DEV addrgenmode MODE:      IFLA_AF_SPEC { AF_INET6 { IFLA_INET6_ADDR_GEN_MODE } }
  auto arp_notify = s.U32("arpNotify");
  auto mode = s.U32("addrGenMode");
  if (arp_notify || mode) {
    size_t spec = w.BeginNested(IFLA_AF_SPEC);
    if (arp_notify) {
      size_t inet = w.BeginNested(AF_INET);
      size_t conf = w.BeginNested(IFLA_INET_CONF);
      w.AttrU32(IPV4_DEVCONF_ARP_NOTIFY, *arp_notify);
      w.EndNested(conf);
      w.EndNested(inet);
    }
    if (mode) {
      size_t inet6 = w.BeginNested(AF_INET6);
      w.AttrU8(IFLA_INET6_ADDR_GEN_MODE, static_cast<uint8_t>(*mode));
      w.EndNested(inet6);
    }
    w.EndNested(spec);
  }
  if (!is_peer) {
    PutU32(w, s, "extMask", IFLA_EXT_MASK);
    EncodeLinkInfo(w, s);
  }
}

const char* OperState(uint8_t s) {
  switch (s) {
    case IF_OPER_NOTPRESENT:
      return "notpresent";
    case IF_OPER_DOWN:
      return "down";
    case IF_OPER_LOWERLAYERDOWN:
      return "lowerlayerdown";
    case IF_OPER_TESTING:
      return "testing";
    case IF_OPER_DORMANT:
      return "dormant";
    case IF_OPER_UP:
      return "up";
    default:
      return "unknown";
  }
}

const char* MacvlanMode(uint32_t m) {
  switch (m) {
    case MACVLAN_MODE_PRIVATE:
      return "private";
    case MACVLAN_MODE_VEPA:
      return "vepa";
    case MACVLAN_MODE_BRIDGE:
      return "bridge";
    case MACVLAN_MODE_PASSTHRU:
      return "passthru";
    case MACVLAN_MODE_SOURCE:
      return "source";
    default:
      return "unknown";
  }
}

void DecodeBridgeData(Out o, const AttrView& data) {
  AttrIterator it(data);
  AttrView a;
  while (it.Next(&a)) {
    switch (a.type) {
      case IFLA_BR_STP_STATE:
        o.Set("stpState", a.U32());
        break;
      case IFLA_BR_FORWARD_DELAY:
        o.Set("forwardDelay", a.U32());
        break;
      case IFLA_BR_HELLO_TIME:
        o.Set("helloTime", a.U32());
        break;
      case IFLA_BR_MAX_AGE:
        o.Set("maxAge", a.U32());
        break;
      case IFLA_BR_AGEING_TIME:
        o.Set("ageingTime", a.U32());
        break;
      case IFLA_BR_PRIORITY:
        o.Set("priority", a.U16());
        break;
      case IFLA_BR_VLAN_FILTERING:
        o.Set("vlanFiltering", a.U8() != 0);
        break;
      case IFLA_BR_MCAST_SNOOPING:
        o.Set("mcastSnooping", a.U8() != 0);
        break;
      case IFLA_BR_NF_CALL_IPTABLES:
        o.Set("nfCallIptables", a.U8() != 0);
        break;
      case IFLA_BR_NF_CALL_IP6TABLES:
        o.Set("nfCallIp6tables", a.U8() != 0);
        break;
      default:
        break;
    }
  }
}

void DecodeVxlanData(Out o, const AttrView& data) {
  AttrIterator it(data);
  AttrView a;
  while (it.Next(&a)) {
    switch (a.type) {
      case IFLA_VXLAN_ID:
        o.Set("id", a.U32());
        break;
      case IFLA_VXLAN_GROUP:
      case IFLA_VXLAN_GROUP6:
        SetIp(o, "group", a);
        break;
      case IFLA_VXLAN_LOCAL:
      case IFLA_VXLAN_LOCAL6:
        SetIp(o, "local", a);
        break;
      case IFLA_VXLAN_LINK:
        o.Set("link", a.U32());
        break;
      case IFLA_VXLAN_PORT:
        o.Set("port", a.Be16());
        break;
      case IFLA_VXLAN_LEARNING:
        o.Set("learning", a.U8() != 0);
        break;
      case IFLA_VXLAN_TTL:
        o.Set("ttl", a.U8());
        break;
      default:
        break;
    }
  }
}

void DecodeTunData(Out o, const AttrView& data) {
  AttrIterator it(data);
  AttrView a;
  while (it.Next(&a)) {
    switch (a.type) {
      case IFLA_TUN_TYPE:
        o.Set("type", a.U8() == IFF_TAP ? "tap" : "tun");
        break;
      case IFLA_TUN_OWNER:
        o.Set("owner", a.U32());
        break;
      case IFLA_TUN_GROUP:
        o.Set("group", a.U32());
        break;
      case IFLA_TUN_PERSIST:
        o.Set("persist", a.U8() != 0);
        break;
      case IFLA_TUN_MULTI_QUEUE:
        o.Set("multiQueue", a.U8() != 0);
        break;
      default:
        break;
    }
  }
}

void DecodeBridgePort(Out o, const AttrView& data) {
  AttrIterator it(data);
  AttrView a;
  while (it.Next(&a)) {
    switch (a.type) {
      case IFLA_BRPORT_STATE:
        o.Set("state", a.U8());
        break;
      case IFLA_BRPORT_PRIORITY:
        o.Set("priority", a.U16());
        break;
      case IFLA_BRPORT_COST:
        o.Set("cost", a.U32());
        break;
      case IFLA_BRPORT_MODE:
        o.Set("hairpin", a.U8() != 0);
        break;
      case IFLA_BRPORT_LEARNING:
        o.Set("learning", a.U8() != 0);
        break;
      case IFLA_BRPORT_UNICAST_FLOOD:
        o.Set("flood", a.U8() != 0);
        break;
      case IFLA_BRPORT_ISOLATED:
        o.Set("isolated", a.U8() != 0);
        break;
      case IFLA_BRPORT_NEIGH_SUPPRESS:
        o.Set("neighSuppress", a.U8() != 0);
        break;
      default:
        break;
    }
  }
}

void DecodeLinkInfo(Out link, const AttrView& info) {
  std::string kind, slave_kind;
  AttrView data{}, slave_data{};
  bool has_data = false, has_slave = false;
  AttrIterator it(info);
  AttrView a;
  while (it.Next(&a)) {
    switch (a.type) {
      case IFLA_INFO_KIND:
        kind.assign(a.String());
        break;
      case IFLA_INFO_DATA:
        data = a;
        has_data = true;
        break;
      case IFLA_INFO_SLAVE_KIND:
        slave_kind.assign(a.String());
        break;
      case IFLA_INFO_SLAVE_DATA:
        slave_data = a;
        has_slave = true;
        break;
      default:
        break;
    }
  }
  if (!kind.empty()) link.Set("kind", kind);
  if (has_data) {
    if (kind == "bridge") {
      DecodeBridgeData(link.Object("bridge"), data);
    } else if (kind == "vxlan") {
      DecodeVxlanData(link.Object("vxlan"), data);
    } else if (kind == "macvlan" || kind == "macvtap") {
      Out o = link.Object("macvlan");
      AttrIterator dit(data);
      AttrView d;
      while (dit.Next(&d)) {
        if (d.type == IFLA_MACVLAN_MODE) o.Set("mode", MacvlanMode(d.U32()));
      }
    } else if (kind == "tun") {
      DecodeTunData(link.Object("tun"), data);
    } else {
      link.SetBytes("infoData", data.data, data.len);
    }
  }
  if (!slave_kind.empty()) link.Set("slaveKind", slave_kind);
  if (has_slave && slave_kind == "bridge") DecodeBridgePort(link.Object("port"), slave_data);
}

void DecodeStats(Out o, const AttrView& a) {
  rtnl_link_stats64 st{};
  std::memcpy(&st, a.data, std::min(a.len, sizeof(st)));
  o.Set("rxPackets", static_cast<double>(st.rx_packets));
  o.Set("txPackets", static_cast<double>(st.tx_packets));
  o.Set("rxBytes", static_cast<double>(st.rx_bytes));
  o.Set("txBytes", static_cast<double>(st.tx_bytes));
  o.Set("rxErrors", static_cast<double>(st.rx_errors));
  o.Set("txErrors", static_cast<double>(st.tx_errors));
  o.Set("rxDropped", static_cast<double>(st.rx_dropped));
  o.Set("txDropped", static_cast<double>(st.tx_dropped));
}

}  // namespace

void SetIp(Out o, const char* key, const AttrView& a) {
  if (a.len == 4 || a.len == 16) o.Set(key, IpText(a.data, a.len));
}

void EncodeLink(MessageWriter& w, uint16_t type, const Spec& s) {
  w.Begin(type, static_cast<uint16_t>(s.U32Or("flags", NLM_F_REQUEST | NLM_F_ACK)));
  EncodeLinkBody(w, s, false);
  w.End();
}

void DecodeLink(Out link, const MessageView& m) {
  ifinfomsg ifi{};
  if (!m.Fixed(&ifi)) return;
  link.Set("index", ifi.ifi_index);
  link.Set("type", ifi.ifi_type);
  link.Set("flags", ifi.ifi_flags);
  link.Set("up", (ifi.ifi_flags & IFF_UP) != 0);
  AttrIterator it = m.Attrs(sizeof(ifi));
  AttrView a;
  while (it.Next(&a)) {
    switch (a.type) {
      case IFLA_IFNAME:
        link.Set("name", std::string(a.String()));
        break;
      case IFLA_MTU:
        link.Set("mtu", a.U32());
        break;
      case IFLA_MIN_MTU:
        link.Set("minMtu", a.U32());
        break;
      case IFLA_MAX_MTU:
        link.Set("maxMtu", a.U32());
        break;
      case IFLA_ADDRESS:
        link.Set("mac", MacText(a.data, a.len));
        break;
      case IFLA_BROADCAST:
        link.Set("broadcast", MacText(a.data, a.len));
        break;
      case IFLA_MASTER:
        link.Set("master", a.U32());
        break;
      case IFLA_LINK:
        link.Set("link", a.U32());
        break;
      case IFLA_LINK_NETNSID:
        link.Set("linkNetnsId", static_cast<int32_t>(a.U32()));
        break;
      case IFLA_TXQLEN:
        link.Set("txqlen", a.U32());
        break;
      case IFLA_NUM_TX_QUEUES:
        link.Set("numTxQueues", a.U32());
        break;
      case IFLA_NUM_RX_QUEUES:
        link.Set("numRxQueues", a.U32());
        break;
      case IFLA_GROUP:
        link.Set("group", a.U32());
        break;
      case IFLA_OPERSTATE:
        link.Set("operstate", OperState(a.U8()));
        break;
      case IFLA_CARRIER:
        link.Set("carrier", a.U8() != 0);
        break;
      case IFLA_IFALIAS:
        link.Set("alias", std::string(a.String()));
        break;
      case IFLA_LINKINFO:
        DecodeLinkInfo(link, a);
        break;
      case IFLA_STATS64:
        DecodeStats(link.Object("stats"), a);
        break;
      default:
        AddUnknown(link, a);
    }
  }
}

}  // namespace netplumb::rtnl
