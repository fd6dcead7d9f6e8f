// rtnetlink objects: each kind encodes requests from a plain JS spec and
// decodes replies into the plain objects the TypeScript API returns.
// The `ip` command each request mirrors is noted at its encoder.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/out.h"
#include "common/spec.h"
#include "netlink/message.h"

namespace netplumb::rtnl {

// RTM_NEWLINK / RTM_DELLINK / RTM_GETLINK (ifinfomsg + IFLA_*).
void EncodeLink(MessageWriter& w, uint16_t type, const Spec& s);
void DecodeLink(Out o, const MessageView& m);

// RTM_NEWADDR / RTM_DELADDR / RTM_GETADDR (ifaddrmsg + IFA_*).
void EncodeAddr(MessageWriter& w, uint16_t type, const Spec& s);
void DecodeAddr(Out o, const MessageView& m);

// RTM_NEWROUTE / RTM_DELROUTE / RTM_GETROUTE (rtmsg + RTA_*).
void EncodeRoute(MessageWriter& w, uint16_t type, const Spec& s);
// Routes come in dumps of 100,000s: decoded as rows (arrays in the order of
// kRouteFields), which lib/rtnl/routes.ts turns into objects. Returns the row.
Out DecodeRoute(OutBuilder& b, const MessageView& m);
extern const char* const kRouteFields[];
extern const size_t kRouteFieldCount;
// The names of the u32 route metrics the codec knows, in RTAX_* order
// (lib/rtnl/routes.ts checks its own list against them at load).
std::vector<std::string> RouteMetricNames();

// RTM_NEWNEIGH / RTM_DELNEIGH / RTM_GETNEIGH (ndmsg + NDA_*), FDB included.
void EncodeNeigh(MessageWriter& w, uint16_t type, const Spec& s);
void DecodeNeigh(Out o, const MessageView& m);

// Sets o[key] = address text when the attribute holds 4 or 16 bytes.
void SetIp(Out o, const char* key, const AttrView& a);

}  // namespace netplumb::rtnl
