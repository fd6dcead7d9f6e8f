// nf_tables objects over nfnetlink: each kind encodes requests from a plain
// JS spec (already validated by lib/nft) and decodes replies into plain
// objects. Attribute order follows what nft(8) 1.0.6 sends, so requests can
// be compared byte for byte with captures of nft (test/fixtures/nft).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/out.h"
#include "common/spec.h"
#include "netlink/message.h"

namespace netplumb::nft {

// nlmsghdr type of nf_tables message `msg` (NFT_MSG_*).
uint16_t MsgType(uint16_t msg);

// Starts an nf_tables message: nlmsghdr (flags from spec.flags) and nfgenmsg
// (family from spec.family).
void BeginMessage(MessageWriter& w, uint16_t msg, const Spec& s);

// NFNL_MSG_BATCH_BEGIN (optionally carrying NFNL_BATCH_GENID) and _END.
void EncodeBatchBegin(MessageWriter& w, uint16_t msg, const Spec& s);
void EncodeBatchEnd(MessageWriter& w, uint16_t msg, const Spec& s);
// NFT_MSG_GETGEN
void EncodeGetGen(MessageWriter& w, uint16_t msg, const Spec& s);

// One encoder per object kind; `msg` is the NFT_MSG_* it builds.
void EncodeTable(MessageWriter& w, uint16_t msg, const Spec& s);
void EncodeChain(MessageWriter& w, uint16_t msg, const Spec& s);
void EncodeRule(MessageWriter& w, uint16_t msg, const Spec& s);
void EncodeSet(MessageWriter& w, uint16_t msg, const Spec& s);
// May write several messages: the element list is a nested attribute with a
// 16-bit length, so long lists are split (see kElemMessageBudget).
void EncodeSetElems(MessageWriter& w, uint16_t msg, const Spec& s);

// Decoders: m is an nf_tables message of the matching kind.
void DecodeTable(Out o, const MessageView& m);
void DecodeChain(Out o, const MessageView& m);
void DecodeRule(Out o, const MessageView& m);
void DecodeSet(Out o, const MessageView& m);
void DecodeSetElems(Out o, const MessageView& m);
void DecodeGen(Out o, const MessageView& m);

// Dispatches an NETLINK_NETFILTER message to the decoders above; false
// (nothing written) when it is not an nf_tables object message.
bool DecodeMessage(Out o, const MessageView& m);

// ---- shared pieces ---------------------------------------------------------

// Writes `type` as a nested nft_data holding NFTA_DATA_VALUE = bytes.
void PutValue(MessageWriter& w, uint16_t type, const std::vector<uint8_t>& bytes);
// Writes `type` as a nested nft_data holding NFTA_DATA_VERDICT from
// { code, chain? } (code is signed: NFT_JUMP is negative).
void PutVerdict(MessageWriter& w, uint16_t type, const Spec& verdict);
// Reads a nested nft_data: sets o[value_key] = Buffer for a value, or
// o[verdict_key] = { code, chain? } for a verdict.
void GetData(Out o, const AttrView& a, const char* value_key, const char* verdict_key);
// A decoded object: { kind, family } from the message's nfgenmsg.
void StartObject(Out o, const MessageView& m, const char* kind);
// Required string field of a spec.
std::string NeedStr(const Spec& s, const char* key);
// Optional Buffer field written as a plain attribute.
void PutBytes(MessageWriter& w, uint16_t type, const Spec& s, const char* key);
// A 64-bit handle or count from JS (a number below 2^53).
uint64_t NeedU64(const Spec& s, const char* key);

}  // namespace netplumb::nft
