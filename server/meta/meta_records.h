// The metadata records of the namespace (docs/design/namespace.md, "Records"): inode ids,
// RocksDB keys and the compact binary encodings of the values.
//
// Keys start with one prefix byte and use big-endian integers so they sort numerically:
//   I fs inode | D fs parent name | C fs parent cookie | P fs pg | R fs pg client request |
//   X fs pg intent | O fs inode
// Values start with a format byte; decoders are strict and bounded (unknown format, a field
// out of range, a short or over-long value -> kCorruption), never read out of bounds.
// Thread-safety: pure functions and value types.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "server/meta/byte_codec.h"

namespace cvfs::server::meta {

inline constexpr uint64_t kRootInode = 1;  // PG 0, seq 1
inline constexpr int kInodePgShift = 40;
inline constexpr uint64_t kMaxInodeSeq = (uint64_t{1} << kInodePgShift) - 1;
inline constexpr size_t kMaxNameBytes = 255;
inline constexpr size_t kMaxSymlinkBytes = 4095;
inline constexpr uint64_t kFirstEntryCookie = 3;  // 1 and 2 are "." and ".."
inline constexpr uint32_t kModeBits = 07777;

inline uint64_t MakeInodeId(uint32_t pg, uint64_t seq) {
  return (uint64_t{pg} << kInodePgShift) | seq;
}
inline uint32_t PgOfInode(uint64_t inode) { return static_cast<uint32_t>(inode >> kInodePgShift); }
// The PG that holds the inode of directory `name` created in `parent`: a fixed hash
// (splitmix64 over the parent and FNV-1a of the name), stable across runs and platforms.
uint32_t DirectoryPg(uint64_t parent, std::string_view name, uint32_t pg_count);

enum class FileType : uint8_t { kRegular = 1, kDirectory = 2, kSymlink = 3 };
bool IsValidFileType(uint8_t raw);

struct InodeAttr {
  uint64_t inode = 0;
  FileType type = FileType::kRegular;
  uint32_t mode = 0;  // permission bits only (07777)
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint32_t nlink = 0;
  uint64_t size = 0;
  int64_t atime_ns = 0;
  int64_t mtime_ns = 0;
  int64_t ctime_ns = 0;
  uint64_t parent = 0;       // directories: the containing directory (root: itself)
  uint64_t entries = 0;      // directories: number of entries
  uint64_t next_cookie = 0;  // directories: the cookie the next entry gets
  std::string symlink_target;

  bool operator==(const InodeAttr&) const = default;
};

// `D fs parent name`.
struct DentryRecord {
  uint64_t inode = 0;
  FileType type = FileType::kRegular;
  uint64_t cookie = 0;
  bool operator==(const DentryRecord&) const = default;
};

// `C fs parent cookie`: the entry's name plus its inode and type, so readdir reads one key
// per entry.
struct CookieRecord {
  std::string name;
  uint64_t inode = 0;
  FileType type = FileType::kRegular;
};

// `P fs pg`. `last_sequence` is owned by MetaStore::Apply (it sets it from the batch).
struct PgMetaState {
  uint64_t next_inode_seq = 1;
  uint64_t last_sequence = 0;
  uint64_t inode_count = 0;  // inodes this PG holds
  uint64_t entry_count = 0;  // directory entries this PG holds
  bool operator==(const PgMetaState&) const = default;
};
// The state of a PG that has no P record yet (PG 0 reserves seq 1 for the root).
PgMetaState InitialPgState(uint32_t pg);

// `R fs pg client request`: when the reply was recorded, and the reply bytes.
struct DedupRecord {
  int64_t recorded_ns = 0;
  std::string reply;
};

// Keys.
std::string InodeKey(uint32_t fs, uint64_t inode);
std::string DentryKey(uint32_t fs, uint64_t parent, std::string_view name);
std::string CookieKey(uint32_t fs, uint64_t parent, uint64_t cookie);
std::string CookiePrefix(uint32_t fs, uint64_t parent);
std::string PgStateKey(uint32_t fs, uint32_t pg);
std::string DedupKey(uint32_t fs, uint32_t pg, uint64_t client_id, uint64_t request_id);
std::string DedupPrefix(uint32_t fs, uint32_t pg);
std::string IntentKey(uint32_t fs, uint32_t pg, uint64_t intent_id);
std::string IntentPrefix(uint32_t fs, uint32_t pg);
std::string OrphanKey(uint32_t fs, uint64_t inode);
// Every key prefix under which PG `pg` of `fs` keeps records (inodes, entries and cookies of
// its directories, orphans, its state, dedup and intents), in key order: a PG's whole
// share of the namespace, for copying it to a replica that fell behind.
std::vector<std::string> PgKeyPrefixes(uint32_t fs, uint32_t pg);
// The cookie of a `C` key (its last 8 bytes); kCorruption when `key` is too short.
Result<uint64_t> CookieOfKey(std::string_view key);
// The intent id of an `X` key; kCorruption when `key` is not one.
Result<uint64_t> IntentIdOfKey(std::string_view key);

// Values.
std::string EncodeInode(const InodeAttr& attr);
Result<InodeAttr> DecodeInode(std::string_view bytes);
std::string EncodeDentry(const DentryRecord& rec);
Result<DentryRecord> DecodeDentry(std::string_view bytes);
std::string EncodeCookie(const CookieRecord& rec);
Result<CookieRecord> DecodeCookie(std::string_view bytes);
std::string EncodePgState(const PgMetaState& state);
Result<PgMetaState> DecodePgState(std::string_view bytes);
std::string EncodeDedup(const DedupRecord& rec);
Result<DedupRecord> DecodeDedup(std::string_view bytes);

// An inode's fields inside a larger encoding (MutationReply); ReadInodeFields latches the
// reader's failure on an invalid field.
void WriteInodeFields(ByteWriter& w, const InodeAttr& attr);
void ReadInodeFields(ByteReader& r, InodeAttr* attr);

}  // namespace cvfs::server::meta
