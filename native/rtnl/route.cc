// Routes: `ip route add|replace|del|show`.
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <string>

#include "common/addr.h"
#include "netlink/decode.h"
#include "rtnl/rtnl.h"

namespace netplumb::rtnl {

// ip route add DST/LEN [via GW] [metric M] [src S] [table T] [proto P]
//              [scope S] [onlink] [mtu N] dev D
void EncodeRoute(MessageWriter& w, uint16_t type, const Spec& s) {
  w.Begin(type, static_cast<uint16_t>(s.U32Or("flags", NLM_F_REQUEST | NLM_F_ACK)));
  rtmsg r{};
  r.rtm_family = static_cast<uint8_t>(s.U32Or("family", AF_UNSPEC));
  r.rtm_dst_len = static_cast<uint8_t>(s.U32Or("dstLen", 0));
  r.rtm_src_len = static_cast<uint8_t>(s.U32Or("srcLen", 0));
  r.rtm_tos = static_cast<uint8_t>(s.U32Or("tos", 0));
  uint32_t table = s.U32Or("table", RT_TABLE_UNSPEC);
  // Tables past 255 do not fit rtm_table; they travel in RTA_TABLE.
  r.rtm_table = static_cast<uint8_t>(table < 256 ? table : RT_TABLE_UNSPEC);
  r.rtm_protocol = static_cast<uint8_t>(s.U32Or("protocol", 0));
  r.rtm_scope = static_cast<uint8_t>(s.U32Or("scope", 0));
  r.rtm_type = static_cast<uint8_t>(s.U32Or("type", 0));
  r.rtm_flags = s.U32Or("rtmFlags", 0);
  w.Header(r);
  if (auto v = s.Bytes("dst")) w.Attr(RTA_DST, v->data(), v->size());
  if (auto v = s.Bytes("src")) w.Attr(RTA_SRC, v->data(), v->size());
  if (auto v = s.Bytes("gateway")) w.Attr(RTA_GATEWAY, v->data(), v->size());
  if (auto v = s.U32("priority")) w.AttrU32(RTA_PRIORITY, *v);
  if (auto v = s.Bytes("prefsrc")) w.Attr(RTA_PREFSRC, v->data(), v->size());
  if (table >= 256) w.AttrU32(RTA_TABLE, table);
  if (auto m = s.Obj("metrics")) {
    size_t n = w.BeginNested(RTA_METRICS);
    if (auto v = m->U32("mtu")) w.AttrU32(RTAX_MTU, *v);
    if (auto v = m->U32("advmss")) w.AttrU32(RTAX_ADVMSS, *v);
    if (auto v = m->U32("hoplimit")) w.AttrU32(RTAX_HOPLIMIT, *v);
    w.EndNested(n);
  }
  if (auto v = s.U32("pref")) w.AttrU8(RTA_PREF, static_cast<uint8_t>(*v));
  if (auto v = s.U32("oif")) w.AttrU32(RTA_OIF, *v);
  w.End();
}

// The fields of a decoded route, in row order (see DecodeRoute).
const char* const kRouteFields[] = {"family",  "dstLen", "srcLen",   "tos",  "protocol", "scope",
                                    "type",    "flags",  "table",    "dst",  "src",      "gateway",
                                    "prefsrc", "oif",    "priority", "pref", "metrics",  "unknown"};
const size_t kRouteFieldCount = sizeof(kRouteFields) / sizeof(kRouteFields[0]);

namespace {

enum RouteField : uint32_t {
  kFamily,
  kDstLen,
  kSrcLen,
  kTos,
  kProtocol,
  kScope,
  kType,
  kFlags,
  kTable,
  kDst,
  kSrc,
  kGateway,
  kPrefsrc,
  kOif,
  kPriority,
  kPref,
  kMetrics,
  kUnknown,
};

Key At(RouteField f) { return Key::Index(f); }

void SetAddr(Out row, RouteField f, const AttrView& a) {
  if (a.len == 4 || a.len == 16) row.Set(At(f), IpText(a.data, a.len));
}

}  // namespace

// A route as a row: an array indexed by RouteField, with holes for the
// attributes the kernel left out. lib/rtnl/routes.ts turns it into an object
// with a literal; that is 3x faster than building the object here property
// by property, which matters for dumps of 100,000 routes.
Out DecodeRoute(OutBuilder& b, const MessageView& m) {
  Out row = Out::NewArray(b, static_cast<uint32_t>(kRouteFieldCount));
  rtmsg r{};
  if (!m.Fixed(&r)) return row;
  row.Set(At(kFamily), r.rtm_family == AF_INET6 ? 6 : 4);
  row.Set(At(kDstLen), r.rtm_dst_len);
  if (r.rtm_src_len != 0) row.Set(At(kSrcLen), r.rtm_src_len);
  if (r.rtm_tos != 0) row.Set(At(kTos), r.rtm_tos);
  uint32_t table = r.rtm_table;
  row.Set(At(kProtocol), r.rtm_protocol);
  row.Set(At(kScope), r.rtm_scope);
  row.Set(At(kType), r.rtm_type);
  row.Set(At(kFlags), r.rtm_flags);
  std::string dst;
  AttrIterator it = m.Attrs(sizeof(r));
  AttrView a;
  while (it.Next(&a)) {
    switch (a.type) {
      case RTA_DST:
        dst = IpText(a.data, a.len);
        break;
      case RTA_SRC:
        SetAddr(row, kSrc, a);
        break;
      case RTA_GATEWAY:
        SetAddr(row, kGateway, a);
        break;
      case RTA_PREFSRC:
        SetAddr(row, kPrefsrc, a);
        break;
      case RTA_OIF:
        row.Set(At(kOif), a.U32());
        break;
      case RTA_PRIORITY:
        row.Set(At(kPriority), a.U32());
        break;
      case RTA_TABLE:
        table = a.U32();
        break;
      case RTA_PREF:
        row.Set(At(kPref), a.U8());
        break;
      case RTA_METRICS: {
        Out mx = row.Object(At(kMetrics));
        AttrIterator mit(a);
        AttrView x;
        while (mit.Next(&x)) {
          if (x.type == RTAX_MTU) mx.Set("mtu", x.U32());
          if (x.type == RTAX_ADVMSS) mx.Set("advmss", x.U32());
          if (x.type == RTAX_HOPLIMIT) mx.Set("hoplimit", x.U32());
        }
        break;
      }
      case RTA_CACHEINFO:
        break;  // kernel bookkeeping, not route identity
      default:
        AddUnknown(row, a, At(kUnknown));
    }
  }
  row.Set(At(kTable), table);
  if (dst.empty()) {
    row.Set(At(kDst), r.rtm_dst_len == 0 ? "default" : "");
  } else {
    row.Set(At(kDst), dst + "/" + std::to_string(r.rtm_dst_len));
  }
  return row;
}

}  // namespace netplumb::rtnl
