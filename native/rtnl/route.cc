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

Napi::Object DecodeRoute(Napi::Env env, const MessageView& m) {
  Napi::Object o = Napi::Object::New(env);
  rtmsg r{};
  if (!m.Fixed(&r)) return o;
  o.Set("family", r.rtm_family == AF_INET6 ? 6 : 4);
  o.Set("dstLen", r.rtm_dst_len);
  if (r.rtm_src_len != 0) o.Set("srcLen", r.rtm_src_len);
  if (r.rtm_tos != 0) o.Set("tos", r.rtm_tos);
  uint32_t table = r.rtm_table;
  o.Set("protocol", r.rtm_protocol);
  o.Set("scope", r.rtm_scope);
  o.Set("type", r.rtm_type);
  o.Set("flags", r.rtm_flags);
  std::string dst;
  AttrIterator it = m.Attrs(sizeof(r));
  AttrView a;
  while (it.Next(&a)) {
    switch (a.type) {
      case RTA_DST:
        dst = IpText(a.data, a.len);
        break;
      case RTA_SRC:
        SetIp(o, "src", a);
        break;
      case RTA_GATEWAY:
        SetIp(o, "gateway", a);
        break;
      case RTA_PREFSRC:
        SetIp(o, "prefsrc", a);
        break;
      case RTA_OIF:
        o.Set("oif", a.U32());
        break;
      case RTA_PRIORITY:
        o.Set("priority", a.U32());
        break;
      case RTA_TABLE:
        table = a.U32();
        break;
      case RTA_PREF:
        o.Set("pref", a.U8());
        break;
      case RTA_METRICS: {
        Napi::Object mx = Napi::Object::New(env);
        AttrIterator mit(a);
        AttrView x;
        while (mit.Next(&x)) {
          if (x.type == RTAX_MTU) mx.Set("mtu", x.U32());
          if (x.type == RTAX_ADVMSS) mx.Set("advmss", x.U32());
          if (x.type == RTAX_HOPLIMIT) mx.Set("hoplimit", x.U32());
        }
        o.Set("metrics", mx);
        break;
      }
      case RTA_CACHEINFO:
        break;  // kernel bookkeeping, not route identity
      default:
        AddUnknown(env, o, a);
    }
  }
  o.Set("table", table);
  if (dst.empty()) {
    o.Set("dst", r.rtm_dst_len == 0 ? "default" : "");
  } else {
    o.Set("dst", dst + "/" + std::to_string(r.rtm_dst_len));
  }
  return o;
}

}  // namespace netplumb::rtnl
