#include "conntrack/ct.h"

#include <linux/in6.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>

#include "rtnl/rtnl.h"

namespace netplumb::ct {
namespace {

void Begin(MessageWriter& w, uint16_t type, const Spec& s) {
  w.Begin(static_cast<uint16_t>((NFNL_SUBSYS_CTNETLINK << 8) | type),
          static_cast<uint16_t>(s.U32Or("flags", NLM_F_REQUEST | NLM_F_ACK)));
  nfgenmsg g{};
  g.nfgen_family = static_cast<uint8_t>(s.U32Or("family", NFPROTO_IPV4));
  g.version = NFNETLINK_V0;
  g.res_id = 0;
  w.Header(g);
}

void EncodeTuple(MessageWriter& w, uint16_t type, const Spec& t) {
  size_t tuple = w.BeginNested(type, true);
  size_t ip = w.BeginNested(CTA_TUPLE_IP, true);
  auto src = t.Bytes("src");
  auto dst = t.Bytes("dst");
  bool v6 = (src && src->size() == 16) || (dst && dst->size() == 16);
  if (src) w.Attr(v6 ? CTA_IP_V6_SRC : CTA_IP_V4_SRC, src->data(), src->size());
  if (dst) w.Attr(v6 ? CTA_IP_V6_DST : CTA_IP_V4_DST, dst->data(), dst->size());
  w.EndNested(ip);
  size_t proto = w.BeginNested(CTA_TUPLE_PROTO, true);
  uint32_t protocol = t.U32Or("protocol", 0);
  w.AttrU8(CTA_PROTO_NUM, static_cast<uint8_t>(protocol));
  if (auto v = t.U32("sport")) w.AttrBe16(CTA_PROTO_SRC_PORT, static_cast<uint16_t>(*v));
  if (auto v = t.U32("dport")) w.AttrBe16(CTA_PROTO_DST_PORT, static_cast<uint16_t>(*v));
  // An ICMP tuple is its id, type and code; the kernel wants all three
  // (icmp_nlattr_to_tuple: EINVAL without them).
  bool v6_icmp = protocol == IPPROTO_ICMPV6;
  if (auto v = t.U32("icmpId"))
    w.AttrBe16(v6_icmp ? CTA_PROTO_ICMPV6_ID : CTA_PROTO_ICMP_ID, static_cast<uint16_t>(*v));
  if (auto v = t.U32("icmpType"))
    w.AttrU8(v6_icmp ? CTA_PROTO_ICMPV6_TYPE : CTA_PROTO_ICMP_TYPE, static_cast<uint8_t>(*v));
  if (auto v = t.U32("icmpCode"))
    w.AttrU8(v6_icmp ? CTA_PROTO_ICMPV6_CODE : CTA_PROTO_ICMP_CODE, static_cast<uint8_t>(*v));
  w.EndNested(proto);
  w.EndNested(tuple);
}

void DecodeTuple(Out o, const AttrView& tuple, uint8_t* proto_out) {
  AttrIterator it(tuple);
  AttrView a;
  while (it.Next(&a)) {
    if (a.type == CTA_TUPLE_IP) {
      AttrIterator ip(a);
      AttrView x;
      while (ip.Next(&x)) {
        if (x.type == CTA_IP_V4_SRC || x.type == CTA_IP_V6_SRC) rtnl::SetIp(o, "src", x);
        if (x.type == CTA_IP_V4_DST || x.type == CTA_IP_V6_DST) rtnl::SetIp(o, "dst", x);
      }
    } else if (a.type == CTA_TUPLE_PROTO) {
      AttrIterator p(a);
      AttrView x;
      while (p.Next(&x)) {
        if (x.type == CTA_PROTO_NUM) *proto_out = x.U8();
        if (x.type == CTA_PROTO_SRC_PORT) o.Set("sport", x.Be16());
        if (x.type == CTA_PROTO_DST_PORT) o.Set("dport", x.Be16());
        if (x.type == CTA_PROTO_ICMP_ID || x.type == CTA_PROTO_ICMPV6_ID) o.Set("icmpId", x.Be16());
        if (x.type == CTA_PROTO_ICMP_TYPE || x.type == CTA_PROTO_ICMPV6_TYPE) o.Set("icmpType", x.U8());
        if (x.type == CTA_PROTO_ICMP_CODE || x.type == CTA_PROTO_ICMPV6_CODE) o.Set("icmpCode", x.U8());
      }
    }
  }
}

}  // namespace

void EncodeGet(MessageWriter& w, uint16_t type, const Spec& s) {
  Begin(w, type, s);
  w.End();
}

void EncodeDelete(MessageWriter& w, uint16_t type, const Spec& s) {
  Begin(w, type, s);
  if (auto orig = s.Obj("orig")) EncodeTuple(w, CTA_TUPLE_ORIG, *orig);
  if (auto reply = s.Obj("reply")) EncodeTuple(w, CTA_TUPLE_REPLY, *reply);
  if (auto zone = s.U32("zone")) w.AttrBe16(CTA_ZONE, static_cast<uint16_t>(*zone));
  w.End();
}

bool DecodeMessage(Out o, const MessageView& m) {
  if ((m.header.nlmsg_type >> 8) != NFNL_SUBSYS_CTNETLINK) return false;
  nfgenmsg g{};
  if (!m.Fixed(&g)) return false;
  o.Set("family", g.nfgen_family == NFPROTO_IPV6 ? 6 : 4);
  uint8_t proto = 0;
  AttrIterator it = m.Attrs(sizeof(g));
  AttrView a;
  while (it.Next(&a)) {
    switch (a.type) {
      case CTA_TUPLE_ORIG:
        DecodeTuple(o.Object("orig"), a, &proto);
        break;
      case CTA_TUPLE_REPLY:
        DecodeTuple(o.Object("reply"), a, &proto);
        break;
      case CTA_ID:
        o.Set("id", a.Be32());
        break;
      case CTA_MARK:
        o.Set("mark", a.Be32());
        break;
      case CTA_STATUS:
        o.Set("status", a.Be32());
        break;
      case CTA_TIMEOUT:
        o.Set("timeout", a.Be32());
        break;
      case CTA_ZONE:
        o.Set("zone", a.Be16());
        break;
      default:
        break;
    }
  }
  o.Set("protocol", proto);
  return true;
}

}  // namespace netplumb::ct
