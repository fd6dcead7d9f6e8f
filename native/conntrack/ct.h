// Connection tracking over ctnetlink (NFNL_SUBSYS_CTNETLINK): list entries
// and delete them by tuple, as `conntrack -L` / `conntrack -D` do. The engine
// uses it to forget the flows of a UDP port it stops publishing, so a later
// mapping of the same port is not black-holed by stale entries.
#pragma once

#include <cstdint>

#include "common/out.h"
#include "common/spec.h"
#include "netlink/message.h"

namespace netplumb::ct {

// conntrack -L [-f ipv4|ipv6]  (IPCTNL_MSG_CT_GET, NLM_F_DUMP)
void EncodeGet(MessageWriter& w, uint16_t type, const Spec& s);
// conntrack -D -s S -d D -p P --sport X --dport Y [--icmp-id I --icmp-type T --icmp-code C]
// [-w ZONE]  (IPCTNL_MSG_CT_DELETE by original tuple, in its zone)
void EncodeDelete(MessageWriter& w, uint16_t type, const Spec& s);

// { family, protocol, orig: { src, dst, sport?, dport?, icmpId?, icmpType?, icmpCode? },
//   reply: {...}, id?, mark?, status?, timeout?, zone? };
// false (nothing written) when m is not a ctnetlink entry.
bool DecodeMessage(Out o, const MessageView& m);

}  // namespace netplumb::ct
