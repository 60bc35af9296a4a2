// Metadata message codec: the only code that builds or reads net/wire/meta.fbs payloads.
// Plain structs mirror the tables; Encode* serializes one, Decode* verifies a received
// payload with flatbuffers::Verifier before reading anything and returns kMalformedMessage
// (naming the message) for bytes that fail verification, carry another message's table,
// lack a required field or exceed a wire bound below. Never a crash, never an unbounded
// allocation: the verifier bounds depth and table count, and every decoded size is checked.
//
// The codec enforces only hard wire bounds (kMaxWire*). Whether a name is a valid path
// component (1..255 bytes, no '/' or NUL) is a POSIX answer the server gives
// (kInvalidArgument, kNameTooLong), so such names pass the codec. Encode* does not check
// bounds: a sender that exceeds one gets kMalformedMessage from its peer.
//
// Copies and views: names, symlink targets and groups are copied into std::string/vector
// (metadata is not the bulk path; the structs outlive the payload). The opaque byte fields,
// ApplyRequest::batch, PartRequest::body and PartReply::body, are views INTO the payload
// passed to Decode* (a batch is up to 1 MiB and is parsed at once by server/meta); they are
// valid only while that payload is.
// Structs compare field by field (views by content).
// Thread-safety: free functions, safe from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace cvfs::net::wire {

// Hard wire bounds, checked by Decode*.
inline constexpr size_t kMaxWireNameBytes = 4096;       // a name in any request or entry
inline constexpr size_t kMaxWireTargetBytes = 4096;     // a symlink target
inline constexpr uint32_t kMaxReaddirEntries = 4096;    // ReaddirRequest::max_entries, entries
inline constexpr size_t kMaxOnBehalfGroups = 64;        // OnBehalf::groups
inline constexpr size_t kMaxApplyBatchBytes = 1 << 20;  // ApplyRequest::batch + more
inline constexpr size_t kMaxApplyMoreBatches = 256;     // ApplyRequest::more
inline constexpr size_t kMaxPartBodyBytes = 64 << 10;   // PartRequest::body, PartReply::body
// The POSIX limit on one name, enforced by the server (not the codec); StatFsReply default.
inline constexpr uint32_t kMaxNameBytes = 255;

// 0 (kNone) only where no inode is described (a default Attr); Decode* refuses values > 3.
enum class InodeType : uint8_t { kNone = 0, kRegular = 1, kDirectory = 2, kSymlink = 3 };

// SetAttrRequest::mask bits.
inline constexpr uint32_t kSetAttrMode = 1;
inline constexpr uint32_t kSetAttrUid = 2;
inline constexpr uint32_t kSetAttrGid = 4;
inline constexpr uint32_t kSetAttrSize = 8;
inline constexpr uint32_t kSetAttrAtime = 16;
inline constexpr uint32_t kSetAttrMtime = 32;
inline constexpr uint32_t kSetAttrAtimeNow = 64;   // atime = the server's clock
inline constexpr uint32_t kSetAttrMtimeNow = 128;  // mtime = the server's clock

// RenameRequest::flags bits.
inline constexpr uint32_t kRenameNoReplace = 1;

// The identity a root FUSE mount acts for (trusted by the server only from uid 0).
struct OnBehalf {
  uint32_t uid = 0;
  uint32_t gid = 0;
  std::vector<uint32_t> groups;  // at most kMaxOnBehalfGroups
  friend bool operator==(const OnBehalf&, const OnBehalf&) = default;
};

// Carried by every client request and cross-PG step.
struct MetaHeader {
  uint32_t fs_id = 0;
  uint32_t pg = 0;          // the PG the sender routed to
  uint64_t epoch = 0;       // the sender's map epoch
  uint64_t client_id = 0;   // exactly-once key (docs/design/namespace.md), with request_id
  uint64_t request_id = 0;  // a retry reuses it
  bool has_on_behalf = false;
  OnBehalf on_behalf;  // meaningful only when has_on_behalf
  friend bool operator==(const MetaHeader&, const MetaHeader&) = default;
};

struct Attr {
  uint64_t inode = 0;
  InodeType type = InodeType::kNone;
  uint32_t mode = 0;
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint32_t nlink = 0;
  uint64_t size = 0;
  int64_t atime_ns = 0;
  int64_t mtime_ns = 0;
  int64_t ctime_ns = 0;
  uint64_t parent = 0;  // directories: the parent directory
  friend bool operator==(const Attr&, const Attr&) = default;
};

// Requests.
struct LookupRequest {
  MetaHeader header;
  uint64_t parent = 0;
  std::string name;
  friend bool operator==(const LookupRequest&, const LookupRequest&) = default;
};
struct GetAttrRequest {
  MetaHeader header;
  uint64_t inode = 0;
  friend bool operator==(const GetAttrRequest&, const GetAttrRequest&) = default;
};
struct SetAttrRequest {
  MetaHeader header;
  uint64_t inode = 0;
  uint32_t mask = 0;  // kSetAttr* bits; unknown bits are the server's to refuse
  uint32_t mode = 0;
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint64_t size = 0;
  int64_t atime_ns = 0;
  int64_t mtime_ns = 0;
  friend bool operator==(const SetAttrRequest&, const SetAttrRequest&) = default;
};
// Files (kRegular) and symlinks (kSymlink, with symlink_target).
struct CreateRequest {
  MetaHeader header;
  uint64_t parent = 0;
  std::string name;
  InodeType type = InodeType::kRegular;
  uint32_t mode = 0;
  bool exclusive = false;  // O_EXCL
  bool truncate = false;   // O_TRUNC
  std::string symlink_target;
  friend bool operator==(const CreateRequest&, const CreateRequest&) = default;
};
struct MkdirRequest {
  MetaHeader header;
  uint64_t parent = 0;
  std::string name;
  uint32_t mode = 0;
  friend bool operator==(const MkdirRequest&, const MkdirRequest&) = default;
};
struct UnlinkRequest {
  MetaHeader header;
  uint64_t parent = 0;
  std::string name;
  friend bool operator==(const UnlinkRequest&, const UnlinkRequest&) = default;
};
struct RmdirRequest {
  MetaHeader header;
  uint64_t parent = 0;
  std::string name;
  friend bool operator==(const RmdirRequest&, const RmdirRequest&) = default;
};
struct RenameRequest {
  MetaHeader header;
  uint64_t src_parent = 0;
  std::string src_name;
  uint64_t dst_parent = 0;
  std::string dst_name;
  uint32_t flags = 0;  // kRename* bits
  friend bool operator==(const RenameRequest&, const RenameRequest&) = default;
};
struct LinkRequest {
  MetaHeader header;
  uint64_t inode = 0;
  uint64_t new_parent = 0;
  std::string new_name;
  friend bool operator==(const LinkRequest&, const LinkRequest&) = default;
};
struct ReaddirRequest {
  MetaHeader header;
  uint64_t dir = 0;
  uint64_t cookie = 0;       // resume after this entry's cookie (0: from the start)
  uint32_t max_entries = 0;  // at most kMaxReaddirEntries
  friend bool operator==(const ReaddirRequest&, const ReaddirRequest&) = default;
};
struct ReadlinkRequest {
  MetaHeader header;
  uint64_t inode = 0;
  friend bool operator==(const ReadlinkRequest&, const ReadlinkRequest&) = default;
};
struct StatFsRequest {
  MetaHeader header;
  friend bool operator==(const StatFsRequest&, const StatFsRequest&) = default;
};
struct OpenRequest {
  MetaHeader header;
  uint64_t inode = 0;
  uint32_t flags = 0;  // open(2) flags
  friend bool operator==(const OpenRequest&, const OpenRequest&) = default;
};
struct ReleaseRequest {
  MetaHeader header;
  uint64_t inode = 0;
  uint64_t handle = 0;
  friend bool operator==(const ReleaseRequest&, const ReleaseRequest&) = default;
};
struct CommitSizeRequest {
  MetaHeader header;
  uint64_t inode = 0;
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  friend bool operator==(const CommitSizeRequest&, const CommitSizeRequest&) = default;
};
// Primary -> replica: replicated batches (opaque to the codec), `batch` then `more`.
struct ApplyRequest {
  uint32_t fs_id = 0;
  uint32_t pg = 0;
  uint64_t sequence = 0;  // the PG op sequence the first batch brings the replica to
  uint64_t epoch = 0;
  std::string_view batch;              // views (see above); all of them at most kMaxApplyBatchBytes
  std::vector<std::string_view> more;  // at most kMaxApplyMoreBatches
  bool sync = true;                    // sync the replica's WAL before answering
  friend bool operator==(const ApplyRequest&, const ApplyRequest&) = default;
};
// Primary -> another PG's primary: one step of a cross-PG operation (opaque to the codec).
struct PartRequest {
  MetaHeader header;
  uint8_t kind = 0;
  uint64_t intent_id = 0;
  std::string_view body;  // at most kMaxPartBodyBytes; view (see above)
  friend bool operator==(const PartRequest&, const PartRequest&) = default;
};

// Replies.
// GetAttr, SetAttr, Create, Mkdir, Unlink, Rename, Link, CommitSize.
struct AttrReply {
  Attr attr;
  bool created = false;      // Create: the entry was made (false: an existing one opened)
  uint64_t freed_inode = 0;  // an inode whose last link went and that no one holds open
  friend bool operator==(const AttrReply&, const AttrReply&) = default;
};
// Lookup.
struct EntryReply {
  uint64_t inode = 0;
  InodeType type = InodeType::kNone;
  bool has_attr = false;
  Attr attr;  // meaningful only when has_attr
  friend bool operator==(const EntryReply&, const EntryReply&) = default;
};
struct DirEntry {
  std::string name;
  uint64_t inode = 0;
  InodeType type = InodeType::kNone;
  uint64_t cookie = 0;
  friend bool operator==(const DirEntry&, const DirEntry&) = default;
};
struct ReaddirReply {
  std::vector<DirEntry> entries;  // at most kMaxReaddirEntries
  bool eof = false;
  friend bool operator==(const ReaddirReply&, const ReaddirReply&) = default;
};
struct ReadlinkReply {
  std::string target;
  friend bool operator==(const ReadlinkReply&, const ReadlinkReply&) = default;
};
struct StatFsReply {
  uint64_t total_bytes = 0;
  uint64_t free_bytes = 0;
  uint64_t total_inodes = 0;
  uint64_t used_inodes = 0;
  uint32_t block_size = 0;
  uint32_t max_name = kMaxNameBytes;
  friend bool operator==(const StatFsReply&, const StatFsReply&) = default;
};
struct OpenReply {
  uint64_t handle = 0;
  Attr attr;
  friend bool operator==(const OpenReply&, const OpenReply&) = default;
};
struct PartReply {
  std::string_view body;  // at most kMaxPartBodyBytes; view (see above)
  friend bool operator==(const PartReply&, const PartReply&) = default;
};

std::string EncodeLookupRequest(const LookupRequest& m);
Result<LookupRequest> DecodeLookupRequest(std::string_view payload);
std::string EncodeGetAttrRequest(const GetAttrRequest& m);
Result<GetAttrRequest> DecodeGetAttrRequest(std::string_view payload);
std::string EncodeSetAttrRequest(const SetAttrRequest& m);
Result<SetAttrRequest> DecodeSetAttrRequest(std::string_view payload);
std::string EncodeCreateRequest(const CreateRequest& m);
Result<CreateRequest> DecodeCreateRequest(std::string_view payload);
std::string EncodeMkdirRequest(const MkdirRequest& m);
Result<MkdirRequest> DecodeMkdirRequest(std::string_view payload);
std::string EncodeUnlinkRequest(const UnlinkRequest& m);
Result<UnlinkRequest> DecodeUnlinkRequest(std::string_view payload);
std::string EncodeRmdirRequest(const RmdirRequest& m);
Result<RmdirRequest> DecodeRmdirRequest(std::string_view payload);
std::string EncodeRenameRequest(const RenameRequest& m);
Result<RenameRequest> DecodeRenameRequest(std::string_view payload);
std::string EncodeLinkRequest(const LinkRequest& m);
Result<LinkRequest> DecodeLinkRequest(std::string_view payload);
std::string EncodeReaddirRequest(const ReaddirRequest& m);
Result<ReaddirRequest> DecodeReaddirRequest(std::string_view payload);
std::string EncodeReadlinkRequest(const ReadlinkRequest& m);
Result<ReadlinkRequest> DecodeReadlinkRequest(std::string_view payload);
std::string EncodeStatFsRequest(const StatFsRequest& m);
Result<StatFsRequest> DecodeStatFsRequest(std::string_view payload);
std::string EncodeOpenRequest(const OpenRequest& m);
Result<OpenRequest> DecodeOpenRequest(std::string_view payload);
std::string EncodeReleaseRequest(const ReleaseRequest& m);
Result<ReleaseRequest> DecodeReleaseRequest(std::string_view payload);
std::string EncodeCommitSizeRequest(const CommitSizeRequest& m);
Result<CommitSizeRequest> DecodeCommitSizeRequest(std::string_view payload);
std::string EncodeApplyRequest(const ApplyRequest& m);
Result<ApplyRequest> DecodeApplyRequest(std::string_view payload);
std::string EncodePartRequest(const PartRequest& m);
Result<PartRequest> DecodePartRequest(std::string_view payload);

std::string EncodeAttrReply(const AttrReply& m);
Result<AttrReply> DecodeAttrReply(std::string_view payload);
std::string EncodeEntryReply(const EntryReply& m);
Result<EntryReply> DecodeEntryReply(std::string_view payload);
std::string EncodeReaddirReply(const ReaddirReply& m);
Result<ReaddirReply> DecodeReaddirReply(std::string_view payload);
std::string EncodeReadlinkReply(const ReadlinkReply& m);
Result<ReadlinkReply> DecodeReadlinkReply(std::string_view payload);
std::string EncodeStatFsReply(const StatFsReply& m);
Result<StatFsReply> DecodeStatFsReply(std::string_view payload);
std::string EncodeOpenReply(const OpenReply& m);
Result<OpenReply> DecodeOpenReply(std::string_view payload);
std::string EncodePartReply(const PartReply& m);
Result<PartReply> DecodePartReply(std::string_view payload);
// The metadata methods' empty answer (Rmdir, Release, Apply). A table of meta.fbs, not
// data.fbs's EmptyReply: every meta payload is tagged with its table.
std::string EncodeMetaEmptyReply();
Status DecodeMetaEmptyReply(std::string_view payload);

}  // namespace cvfs::net::wire
