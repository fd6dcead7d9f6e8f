{
  "targets": [
    {
      "target_name": "netplumb",
      "sources": [
        "native/addon.cc",
        "native/constants.cc",
        "native/common/addr.cc",
        "native/common/errors.cc",
        "native/common/fd.cc",
        "native/common/nofollow.cc",
        "native/common/spec.cc",
        "native/common/js_spec.cc",
        "native/common/js_out.cc",
        "native/netlink/message.cc",
        "native/netlink/socket.cc",
        "native/netlink/replies.cc",
        "native/netlink/handle.cc",
        "native/netlink/thread_pool.cc",
        "native/netlink/encode.cc",
        "native/netlink/decode.cc",
        "native/netlink/to_js.cc",
        "native/netns.cc",
        "native/fslock.cc",
        "native/fsops.cc",
        "native/conntrack/ct.cc",
        "native/rtnl/link.cc",
        "native/rtnl/addr.cc",
        "native/rtnl/route.cc",
        "native/rtnl/neigh.cc",
        "native/nft/message.cc",
        "native/nft/constants.cc",
        "native/nft/table.cc",
        "native/nft/chain.cc",
        "native/nft/rule.cc",
        "native/nft/set.cc",
        "native/nft/setelem.cc",
        "native/nft/expr/expr.cc",
        "native/nft/expr/payload.cc",
        "native/nft/expr/cmp.cc",
        "native/nft/expr/meta.cc",
        "native/nft/expr/ct.cc",
        "native/nft/expr/fib.cc",
        "native/nft/expr/lookup.cc",
        "native/nft/expr/immediate.cc",
        "native/nft/expr/counter.cc",
        "native/nft/expr/nat.cc",
        "native/nft/expr/masq.cc",
        "native/nft/expr/redir.cc",
        "native/nft/expr/reject.cc",
        "native/nft/expr/bitwise.cc",
        "native/nft/expr/range.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "native"
      ],
      # Node-API 8: the code needs 6 (instance data, BigInt); 8 is in every
      # Node >= 12.22, so one prebuild loads unchanged on every Node that
      # package.json's engines admits. Keep binary.napi_versions in step.
      "defines": [
        "NAPI_VERSION=8",
        "NAPI_CPP_EXCEPTIONS",
        "NODE_ADDON_API_DISABLE_DEPRECATED",
        "NODE_API_NO_EXTERNAL_BUFFERS_ALLOWED"
      ],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
      "cflags_cc": ["-std=c++20", "-Wall", "-Wextra", "-Werror", "-fexceptions"],
      "cflags": ["-Wall", "-Wextra", "-Werror"]
    }
  ]
}
