#!/usr/bin/env node
// Seeds fuzz/corpus/<target>/ from the golden bytes under test/fixtures:
// the replies the kernel gave iproute2 and nft (and the requests they sent,
// which are netlink messages too). Run once, then minimize:
//   node fuzz/seed-corpus.mjs && bash fuzz/run.sh --merge
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const fixtures = path.join(root, 'test', 'fixtures');

// Each message of a buffer on its own (small inputs fuzz faster), and the
// first few messages together (the iteration from one to the next).
function split(buf) {
  const out = [];
  for (let o = 0; o + 16 <= buf.length;) {
    const len = buf.readUInt32LE(o);
    if (len < 16 || o + len > buf.length) break;
    out.push(buf.subarray(o, o + len));
    o += (len + 3) & ~3;
  }
  if (out.length > 1) out.push(Buffer.concat(out.slice(0, 3)));
  return out;
}

function buffers(dir) {
  const out = { replies: [], requests: [] };
  for (const f of readdirSync(path.join(fixtures, dir)).filter((n) => n.endsWith('.json'))) {
    const j = JSON.parse(readFileSync(path.join(fixtures, dir, f), 'utf8'));
    for (const h of j.replies ?? []) out.replies.push(...split(Buffer.from(h, 'hex')));
    for (const h of j.requests ?? []) out.requests.push(...split(Buffer.from(h, 'hex')));
  }
  return out;
}

function write(target, bufs) {
  const dir = path.join(root, 'fuzz', 'corpus', target);
  mkdirSync(dir, { recursive: true });
  for (const b of bufs) {
    if (b.length === 0) continue;
    writeFileSync(path.join(dir, createHash('sha1').update(b).digest('hex')), b);
  }
  console.log(`${target}: ${bufs.length} seeds`);
}

const rtnl = buffers('rtnl');
const nft = buffers('nft');
write('rtnl_decode', [...rtnl.replies, ...rtnl.requests]);
write('nft_decode', [...nft.replies, ...nft.requests]);
// Acknowledgements as the kernel writes them (the fixtures hold only data):
// an ACK, an error with extended-ACK TLVs (message, offset, missing
// attribute) with the request echoed or capped, and NLMSG_DONE with a code.
function nlmsg(type, flags, seq, payload) {
  const h = Buffer.alloc(16);
  h.writeUInt32LE(16 + payload.length, 0);
  h.writeUInt16LE(type, 4);
  h.writeUInt16LE(flags, 6);
  h.writeUInt32LE(seq, 8);
  h.writeUInt32LE(4242, 12);
  const pad = Buffer.alloc((4 - (payload.length % 4)) % 4);
  return Buffer.concat([h, payload, pad]);
}
function attr(type, data) {
  const h = Buffer.alloc(4);
  h.writeUInt16LE(4 + data.length, 0);
  h.writeUInt16LE(type, 2);
  return Buffer.concat([h, data, Buffer.alloc((4 - (data.length % 4)) % 4)]);
}
const u32 = (n) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
};
const i32 = (n) => {
  const b = Buffer.alloc(4);
  b.writeInt32LE(n);
  return b;
};
const NLMSG_ERROR = 2;
const NLMSG_DONE = 3;
const NLM_F_MULTI = 2;
const NLM_F_CAPPED = 0x100;
const NLM_F_ACK_TLVS = 0x200;
const request = nlmsg(16, 5, 100, Buffer.from('0000000001000000', 'hex'));
const tlvs = Buffer.concat([
  attr(1, Buffer.from('Invalid attribute\0')),
  attr(2, u32(24)),
  attr(5, u32(3)),
]);
const acks = [
  nlmsg(NLMSG_ERROR, 0, 100, Buffer.concat([i32(0), request.subarray(0, 16)])),
  nlmsg(
    NLMSG_ERROR,
    NLM_F_CAPPED | NLM_F_ACK_TLVS,
    100,
    Buffer.concat([i32(-22), request.subarray(0, 16), tlvs]),
  ),
  nlmsg(NLMSG_ERROR, NLM_F_ACK_TLVS, 100, Buffer.concat([i32(-17), request, tlvs])),
  Buffer.concat([
    nlmsg(16, NLM_F_MULTI, 100, Buffer.alloc(16)),
    nlmsg(NLMSG_DONE, NLM_F_MULTI | NLM_F_ACK_TLVS, 100, Buffer.concat([i32(-4), tlvs])),
  ]),
  // Regressions (found in review, shown by UBSan under this target): codes
  // no kernel sends (negating INT_MIN was undefined behaviour), an echoed
  // request shorter than its header.
  Buffer.concat([
    nlmsg(NLMSG_ERROR, 0, 100, Buffer.concat([i32(-(2 ** 31)), request.subarray(0, 16)])),
    nlmsg(NLMSG_DONE, NLM_F_MULTI, 101, i32(-(2 ** 31))),
  ]),
  nlmsg(
    NLMSG_ERROR,
    NLM_F_ACK_TLVS,
    100,
    Buffer.concat([i32(5), u32(3), request.subarray(4, 16), tlvs]),
  ),
];

// replies: a parameter byte (see fuzz/targets/replies.cc) before each buffer:
// eight requests for rtnetlink (0x07), the same for netfilter (0x27).
write('replies', [
  ...rtnl.replies.map((b) => Buffer.concat([Buffer.from([0x07]), b])),
  ...nft.replies.map((b) => Buffer.concat([Buffer.from([0x27]), b])),
  ...acks.map((b) => Buffer.concat([Buffer.from([0x00]), b])),
]);
