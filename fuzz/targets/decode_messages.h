// Shared body of the decoder targets: every message of the input, as one
// receive buffer, through the addon's decoders for `protocol`.
#pragma once

#include <cstddef>
#include <cstdint>

#include "netlink/decode.h"
#include "netlink/message.h"
#include "tree_out.h"

namespace netplumb::fuzz {

inline void DecodeMessages(int protocol, const uint8_t* data, size_t size) {
  TreeOut tree;
  MessageIterator it(data, size);
  MessageView m;
  while (it.Next(&m)) {
    tree.Clear();
    DecodeMessage(tree, protocol, m);
  }
}

}  // namespace netplumb::fuzz
