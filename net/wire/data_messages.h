// Data-path message codec: the only code that builds or reads net/wire/data.fbs payloads.
// Plain structs mirror the tables; Encode* serializes one, Decode* verifies a received
// payload with flatbuffers::Verifier before reading anything and returns kMalformedMessage
// (naming the message) for bytes that fail verification or lack a required field. Never a
// crash, never an unbounded allocation: the verifier bounds depth and table count, and
// decoded sizes are checked against the received length.
//
// Views: decoded `block_crcs` and `data` point INTO the payload passed to Decode*; they are
// valid only while that payload is (this keeps the hot path free of copies).
// Thread-safety: free functions, safe from any thread.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "net/rpc.h"

namespace cvfs::net::wire {

// The largest ReadCell answered inline (in the reply) rather than by RMA.
inline constexpr uint32_t kMaxInlineReadBytes = 16 * 1024;

enum class CellReportKind : uint8_t { kCorrupt = 0, kVersionDisagreement = 1 };

struct CellAddress {
  uint32_t fs_id = 0;
  uint64_t inode = 0;
  uint64_t stripe = 0;
  uint16_t cell_index = 0;
  uint16_t drive_index = 0;  // the member's drive (index into its NodeRecord::drives)
  // The sending coordinator's map epoch and the stripe's PG, for the member's fence against
  // a deposed primary (server/data/primary_fence.h); epoch 0: not fenced.
  uint64_t epoch = 0;
  uint32_t pg = 0;
};

struct WriteStripeRequest {
  uint32_t fs_id = 0;
  uint64_t inode = 0;
  uint64_t stripe = 0;
  uint64_t offset_in_stripe = 0;
  uint32_t length = 0;
  RemoteRegion source;
  uint64_t source_offset = 0;
  uint64_t request_id = 0;
  uint64_t epoch = 0;
};
struct WriteStripeReply {
  uint64_t version = 0;
};

struct PrepareCellRequest {
  CellAddress cell;
  uint64_t version = 0;
  uint32_t length = 0;
  std::span<const uint32_t> block_crcs;  // view (see above)
  RemoteRegion source;
  uint64_t source_offset = 0;
  bool repair = false;
};

// Commit and abort of one cell version.
struct CellVersionRequest {
  CellAddress cell;
  uint64_t version = 0;
  bool sync = false;
};

struct CellVersionsRequest {
  CellAddress cell;
};
struct StoredVersion {
  uint64_t version = 0;
  uint32_t length = 0;
  bool committed = false;
};
struct CellVersionsReply {
  std::vector<StoredVersion> versions;  // newest first
};

struct ListStripesRequest {
  uint32_t fs_id = 0;
  uint16_t drive_index = 0;
  uint32_t pg_count = 0;
  std::vector<uint32_t> pgs;  // ascending
  bool from_start = true;
  uint64_t after_inode = 0;
  uint64_t after_stripe = 0;
  uint32_t max = 0;
};
struct ListedStripe {
  uint64_t inode = 0;
  uint64_t stripe = 0;
  uint32_t pg = 0;
};
struct ListStripesReply {
  std::vector<ListedStripe> stripes;
  bool done = false;
};
// Bounds that keep a listing within one 64 KiB message.
inline constexpr uint32_t kMaxListedStripes = 2048;
inline constexpr size_t kMaxListedPgs = 8192;

struct ReadCellRequest {
  CellAddress cell;
  uint64_t version = 0;  // 0: committed
  uint32_t offset = 0;
  uint32_t length = 0;
  bool has_target = false;  // false: inline reply (length <= kMaxInlineReadBytes)
  RemoteRegion target;
  uint64_t target_offset = 0;
};
struct ReadCellReply {
  uint64_t version = 0;   // 0: never written
  uint32_t length = 0;    // stored length of that version
  std::string_view data;  // inline reads only; view (see above)
};

struct ReportCellRequest {
  CellAddress cell;
  CellReportKind kind = CellReportKind::kCorrupt;
  uint64_t version = 0;
};

struct TruncateObjectRequest {
  uint32_t fs_id = 0;
  uint64_t inode = 0;
  uint64_t new_size = 0;
  uint64_t old_size = 0;
};

struct DeleteStripesRequest {
  uint32_t fs_id = 0;
  uint64_t inode = 0;
  uint64_t first_stripe = 0;
};

std::string EncodeWriteStripeRequest(const WriteStripeRequest& m);
Result<WriteStripeRequest> DecodeWriteStripeRequest(std::string_view payload);
std::string EncodeWriteStripeReply(const WriteStripeReply& m);
Result<WriteStripeReply> DecodeWriteStripeReply(std::string_view payload);

std::string EncodePrepareCellRequest(const PrepareCellRequest& m);
Result<PrepareCellRequest> DecodePrepareCellRequest(std::string_view payload);

std::string EncodeCellVersionRequest(const CellVersionRequest& m);
Result<CellVersionRequest> DecodeCellVersionRequest(std::string_view payload);

std::string EncodeListStripesRequest(const ListStripesRequest& m);
// Also checks max <= kMaxListedStripes, pgs.size() <= kMaxListedPgs, pg_count > 0.
Result<ListStripesRequest> DecodeListStripesRequest(std::string_view payload);
std::string EncodeListStripesReply(const ListStripesReply& m);
Result<ListStripesReply> DecodeListStripesReply(std::string_view payload);
std::string EncodeCellVersionsRequest(const CellVersionsRequest& m);
Result<CellVersionsRequest> DecodeCellVersionsRequest(std::string_view payload);
std::string EncodeCellVersionsReply(const CellVersionsReply& m);
Result<CellVersionsReply> DecodeCellVersionsReply(std::string_view payload);

std::string EncodeReadCellRequest(const ReadCellRequest& m);
Result<ReadCellRequest> DecodeReadCellRequest(std::string_view payload);
// `data`: the inline bytes (empty for RMA reads).
std::string EncodeReadCellReply(uint64_t version, uint32_t length, std::string_view data);
Result<ReadCellReply> DecodeReadCellReply(std::string_view payload);

std::string EncodeReportCellRequest(const ReportCellRequest& m);
Result<ReportCellRequest> DecodeReportCellRequest(std::string_view payload);

std::string EncodeTruncateObjectRequest(const TruncateObjectRequest& m);
Result<TruncateObjectRequest> DecodeTruncateObjectRequest(std::string_view payload);

std::string EncodeDeleteStripesRequest(const DeleteStripesRequest& m);
Result<DeleteStripesRequest> DecodeDeleteStripesRequest(std::string_view payload);

std::string EncodeEmptyReply();
Status DecodeEmptyReply(std::string_view payload);

}  // namespace cvfs::net::wire
