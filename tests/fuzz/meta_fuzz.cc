// Fuzz target over the metadata message codec (net/wire/meta_messages.h): every input goes
// through every Decode*; a decoder may only answer kMalformedMessage or a message that
// re-encodes to bytes decoding to the same message. Built and run like envelope_fuzz (see
// CMakeLists.txt); seeds in meta_corpus/ (one valid encoding per message).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "net/wire/meta_messages.h"

namespace {

using namespace cvfs::net::wire;

template <typename Decode, typename Encode>
void Check(std::string_view bytes, Decode decode, Encode encode) {
  auto m = decode(bytes);
  if (!m.ok()) {
    if (m.status().code() != cvfs::ErrorCode::kMalformedMessage) __builtin_trap();
    return;
  }
  const std::string again = encode(*m);
  auto m2 = decode(again);
  if (!m2.ok() || !(*m2 == *m)) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  Check(bytes, DecodeLookupRequest, EncodeLookupRequest);
  Check(bytes, DecodeGetAttrRequest, EncodeGetAttrRequest);
  Check(bytes, DecodeSetAttrRequest, EncodeSetAttrRequest);
  Check(bytes, DecodeCreateRequest, EncodeCreateRequest);
  Check(bytes, DecodeMkdirRequest, EncodeMkdirRequest);
  Check(bytes, DecodeUnlinkRequest, EncodeUnlinkRequest);
  Check(bytes, DecodeRmdirRequest, EncodeRmdirRequest);
  Check(bytes, DecodeRenameRequest, EncodeRenameRequest);
  Check(bytes, DecodeLinkRequest, EncodeLinkRequest);
  Check(bytes, DecodeReaddirRequest, EncodeReaddirRequest);
  Check(bytes, DecodeReadlinkRequest, EncodeReadlinkRequest);
  Check(bytes, DecodeStatFsRequest, EncodeStatFsRequest);
  Check(bytes, DecodeOpenRequest, EncodeOpenRequest);
  Check(bytes, DecodeReleaseRequest, EncodeReleaseRequest);
  Check(bytes, DecodeCommitSizeRequest, EncodeCommitSizeRequest);
  Check(bytes, DecodeApplyRequest, EncodeApplyRequest);
  Check(bytes, DecodePartRequest, EncodePartRequest);
  Check(bytes, DecodeAttrReply, EncodeAttrReply);
  Check(bytes, DecodeEntryReply, EncodeEntryReply);
  Check(bytes, DecodeReaddirReply, EncodeReaddirReply);
  Check(bytes, DecodeReadlinkReply, EncodeReadlinkReply);
  Check(bytes, DecodeStatFsReply, EncodeStatFsReply);
  Check(bytes, DecodeOpenReply, EncodeOpenReply);
  Check(bytes, DecodePartReply, EncodePartReply);
  cvfs::Status st = DecodeMetaEmptyReply(bytes);
  if (!st.ok() && st.code() != cvfs::ErrorCode::kMalformedMessage) __builtin_trap();
  return 0;
}
