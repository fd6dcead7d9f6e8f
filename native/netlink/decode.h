// Received netlink messages as plain objects, written through an
// OutBuilder (see common/out.h): no N-API here, so the fuzz targets run
// these decoders without Node. netlink/to_js.h turns them into JS values.
#pragma once

#include "common/out.h"
#include "netlink/message.h"

namespace netplumb {

// One message, dispatched on protocol and type to the object decoders
// (link, addr, route, neigh, nf_tables objects, conntrack entries); anything
// else comes back as { data: <payload bytes> }. Returns the new top-level
// value: an object, or for a route a row (see rtnl::DecodeRoute).
Out DecodeMessage(OutBuilder& b, int protocol, const MessageView& m);

// Unknown attributes are kept, not dropped: o[key] = [{ type, data }].
void AddUnknown(Out o, const AttrView& a, Key key = "unknown");

}  // namespace netplumb
