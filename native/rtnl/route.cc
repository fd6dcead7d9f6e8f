// Routes: `ip route add|replace|del|show`.
#include <linux/rtnetlink.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstddef>
#include <cstring>
#include <string>
#include <vector>

#include "common/addr.h"
#include "netlink/decode.h"
#include "rtnl/rtnl.h"

namespace netplumb::rtnl {

namespace {

// The RTAX_* metrics that are plain u32s, by the names `ip route` uses
// (RTAX_CC_ALGO, a string, is "congctl").
struct MetricName {
  uint16_t type;
  const char* name;
};
const MetricName kMetrics[] = {
    {RTAX_LOCK, "lock"},
    {RTAX_MTU, "mtu"},
    {RTAX_WINDOW, "window"},
    {RTAX_RTT, "rtt"},
    {RTAX_RTTVAR, "rttvar"},
    {RTAX_SSTHRESH, "ssthresh"},
    {RTAX_CWND, "cwnd"},
    {RTAX_ADVMSS, "advmss"},
    {RTAX_REORDERING, "reordering"},
    {RTAX_HOPLIMIT, "hoplimit"},
    {RTAX_INITCWND, "initcwnd"},
    {RTAX_FEATURES, "features"},
    {RTAX_RTO_MIN, "rtoMin"},
    {RTAX_INITRWND, "initrwnd"},
    {RTAX_QUICKACK, "quickack"},
    {RTAX_FASTOPEN_NO_COOKIE, "fastopenNoCookie"},
};

// Raw attributes ({ type, data }) a decoder kept as unknown, written back.
void EncodeRaw(MessageWriter& w, const Spec& s, const char* key) {
  auto list = s.List(key);
  if (!list) return;
  for (uint32_t i = 0; i < list->Size(); i++) {
    Spec a = list->Obj(i);
    auto data = a.Bytes("data");
    w.Attr(static_cast<uint16_t>(a.U32Or("type", 0)), data ? data->data() : nullptr, data ? data->size() : 0);
  }
}

// A next hop's gateway: RTA_GATEWAY in the route's family, RTA_VIA (struct
// rtvia) in the other (an IPv4 route via an IPv6 router).
void EncodeGateway(MessageWriter& w, uint8_t family, const std::vector<uint8_t>& gw) {
  uint8_t gw_family = gw.size() == 16 ? AF_INET6 : AF_INET;
  if (gw_family == family) {
    w.Attr(RTA_GATEWAY, gw.data(), gw.size());
    return;
  }
  std::vector<uint8_t> via(sizeof(__kernel_sa_family_t) + gw.size());
  __kernel_sa_family_t f = gw_family;
  std::memcpy(via.data(), &f, sizeof(f));
  std::memcpy(via.data() + sizeof(f), gw.data(), gw.size());
  w.Attr(RTA_VIA, via.data(), via.size());
}

// RTA_MULTIPATH: struct rtnexthop, its attributes, the next one...
void EncodeMultipath(MessageWriter& w, uint8_t family, const SpecList& hops) {
  size_t n = w.BeginNested(RTA_MULTIPATH);
  for (uint32_t i = 0; i < hops.Size(); i++) {
    Spec h = hops.Obj(i);
    size_t start = w.Bytes().size();
    rtnexthop nh{};
    nh.rtnh_flags = static_cast<uint8_t>(h.U32Or("flags", 0));
    nh.rtnh_hops = static_cast<uint8_t>(h.U32Or("hops", 0));
    nh.rtnh_ifindex = static_cast<int>(h.U32Or("oif", 0));
    w.Header(nh);
    if (auto gw = h.Bytes("gateway")) EncodeGateway(w, family, *gw);
    auto len = static_cast<uint16_t>(w.Bytes().size() - start);
    std::memcpy(w.Bytes().data() + start + offsetof(rtnexthop, rtnh_len), &len, sizeof(len));
  }
  w.EndNested(n);
}

}  // namespace

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
  if (auto v = s.Bytes("gateway")) EncodeGateway(w, r.rtm_family, *v);
  if (auto v = s.U32("priority")) w.AttrU32(RTA_PRIORITY, *v);
  if (auto v = s.Bytes("prefsrc")) w.Attr(RTA_PREFSRC, v->data(), v->size());
  if (table >= 256) w.AttrU32(RTA_TABLE, table);
  if (auto m = s.Obj("metrics")) {
    size_t n = w.BeginNested(RTA_METRICS);
    for (const MetricName& x : kMetrics) {
      if (auto v = m->U32(x.name)) w.AttrU32(x.type, *v);
    }
    // As iproute2 sends it: the name without a NUL.
    if (auto v = m->Str("congctl")) w.Attr(RTAX_CC_ALGO, v->data(), v->size());
    EncodeRaw(w, *m, "unknown");
    w.EndNested(n);
  }
  if (auto v = s.U32("pref")) w.AttrU8(RTA_PREF, static_cast<uint8_t>(*v));
  if (auto v = s.U32("oif")) w.AttrU32(RTA_OIF, *v);
  if (auto hops = s.List("nexthops")) EncodeMultipath(w, r.rtm_family, *hops);
  EncodeRaw(w, s, "unknown");
  w.End();
}

// The fields of a decoded route, in row order (see DecodeRoute).
const char* const kRouteFields[] = {"family",   "dstLen", "srcLen",  "tos",     "protocol", "scope",         "type",
                                    "flags",    "table",  "dst",     "src",     "gateway",  "prefsrc",       "oif",
                                    "priority", "pref",   "metrics", "unknown", "nexthops", "gatewayFamily", "expires"};
const size_t kRouteFieldCount = sizeof(kRouteFields) / sizeof(kRouteFields[0]);

std::vector<std::string> RouteMetricNames() {
  std::vector<std::string> out;
  for (const MetricName& x : kMetrics) out.emplace_back(x.name);
  return out;
}

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
  kMetricsField,
  kUnknown,
  kNexthops,
  kGatewayFamily,
  kExpires,
};

Key At(RouteField f) { return Key::Index(f); }

// USER_HZ, the unit of rta_cacheinfo times (ip divides by it too).
int32_t ClockTicks() {
  static const int32_t hz = [] {
    long v = sysconf(_SC_CLK_TCK);
    return v > 0 ? static_cast<int32_t>(v) : 100;
  }();
  return hz;
}

void SetAddr(Out row, RouteField f, const AttrView& a) {
  if (a.len == 4 || a.len == 16) row.Set(At(f), IpText(a.data, a.len));
}

// RTA_VIA: struct rtvia, an address of the family it names.
bool ViaText(const AttrView& a, std::string* text, int* family) {
  __kernel_sa_family_t f = 0;
  if (a.len < sizeof(f)) return false;
  std::memcpy(&f, a.data, sizeof(f));
  size_t len = a.len - sizeof(f);
  if (!((f == AF_INET && len == 4) || (f == AF_INET6 && len == 16))) return false;
  *text = IpText(a.data + sizeof(f), len);
  *family = f == AF_INET6 ? 6 : 4;
  return true;
}

// RTA_MULTIPATH: rtnexthop structs, each followed by its attributes
// (`ip route` shows them as nexthop via GW dev D weight W).
void DecodeMultipath(Out row, const AttrView& a) {
  Out list = row.List(At(kNexthops));
  size_t off = 0;
  while (off + sizeof(rtnexthop) <= a.len) {
    rtnexthop nh{};
    std::memcpy(&nh, a.data + off, sizeof(nh));
    if (nh.rtnh_len < sizeof(rtnexthop) || off + nh.rtnh_len > a.len) break;
    Out h = list.Push();
    h.Set("oif", nh.rtnh_ifindex);
    h.Set("weight", nh.rtnh_hops + 1);
    h.Set("flags", nh.rtnh_flags);
    AttrIterator it(a.data + off + RTNH_ALIGN(sizeof(rtnexthop)), nh.rtnh_len - RTNH_ALIGN(sizeof(rtnexthop)));
    AttrView x;
    while (it.Next(&x)) {
      if (x.type == RTA_GATEWAY && (x.len == 4 || x.len == 16)) {
        h.Set("gateway", IpText(x.data, x.len));
      } else if (x.type == RTA_VIA) {
        std::string text;
        int family = 0;
        if (ViaText(x, &text, &family)) {
          h.Set("gateway", text);
          h.Set("gatewayFamily", family);
        }
      } else {
        AddUnknown(h, x, "unknown");
      }
    }
    off += RTNH_ALIGN(nh.rtnh_len);
  }
}

void DecodeMetrics(Out mx, const AttrView& a) {
  AttrIterator it(a);
  AttrView x;
  while (it.Next(&x)) {
    const MetricName* known = nullptr;
    for (const MetricName& m : kMetrics) {
      if (m.type == x.type) known = &m;
    }
    if (known != nullptr && x.len >= 4) {
      mx.Set(known->name, x.U32());
    } else if (x.type == RTAX_CC_ALGO) {
      mx.Set("congctl", x.String());
    } else {
      AddUnknown(mx, x, "unknown");
    }
  }
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
      case RTA_METRICS:
        DecodeMetrics(row.Object(At(kMetricsField)), a);
        break;
      case RTA_VIA: {
        std::string text;
        int family = 0;
        if (ViaText(a, &text, &family)) {
          row.Set(At(kGateway), text);
          row.Set(At(kGatewayFamily), family);
        } else {
          AddUnknown(row, a, At(kUnknown));
        }
        break;
      }
      case RTA_MULTIPATH:
        DecodeMultipath(row, a);
        break;
      case RTA_CACHEINFO: {
        // Kernel bookkeeping but for the expiry of an IPv6 route (from a
        // router advertisement, or `expires`), in clock ticks as ip reads it.
        rta_cacheinfo ci{};
        if (a.len >= sizeof(ci)) {
          std::memcpy(&ci, a.data, sizeof(ci));
          if (ci.rta_expires != 0) row.Set(At(kExpires), ci.rta_expires / ClockTicks());
        }
        break;
      }
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
