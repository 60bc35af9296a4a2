// NamespaceEngine: the POSIX semantics of one PG's share of the namespace
// (docs/design/namespace.md). It reads the PG's records from the MetaStore, applies the
// rules, and for a mutation returns the reply plus the MetaBatch that makes it happen; it
// never writes. The caller applies the batch locally and on the PG's replicas.
//
// Contract: the caller holds a per-PG mutex from a mutation call until its batch is applied
// (or dropped), so every batch is built on the state the previous one left; a batch that
// is dropped leaves the PG unchanged. Reads need no mutex but may see a state between
// batches.
// Exactly once: every mutation takes a RequestKey; when the PG already answered it, the
// stored reply comes back with an empty batch and `replayed = true`. Failed mutations
// record nothing (they changed nothing; a retry re-runs them).
// Errors: the namespace codes of core/error_codes.h (kNotFound, kAlreadyExists,
// kNotADirectory, kIsADirectory, kNotEmpty, kNameTooLong, kPermissionDenied (EACCES),
// kNotPermitted (EPERM), kInvalidArgument, kTooManyLinks); kInvalidArgument when an inode
// or parent named by the request belongs to another PG; kIoError/kCorruption from the store.
// Cross-PG operations are split into per-PG steps (see each step's comment); the coordinator
// drives them with intents. Checks that span PGs are the caller's, as stated per step.
// Thread-safety: const after construction; mutations need the caller's per-PG mutex.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/clock.h"
#include "core/status.h"
#include "server/meta/meta_batch.h"
#include "server/meta/meta_records.h"
#include "server/meta/meta_store.h"
#include "server/meta/meta_txn.h"
#include "server/meta/mutation_reply.h"
#include "server/meta/permissions.h"

namespace cvfs::server::meta {

inline constexpr uint32_t kMaxReaddirEntries = 4096;
inline constexpr uint32_t kMaxLinks = 65000;
inline constexpr size_t kMaxIntentBytes = 64 * 1024;
inline constexpr size_t kMaxTrimPerBatch = 1024;

struct RequestKey {
  uint64_t client_id = 0;
  uint64_t request_id = 0;
};

// A mutation's outcome: apply `batch` (unless empty) before sending `reply`.
struct Mutation {
  MutationReply reply;
  MetaBatch batch;
  bool replayed = false;
};

struct LookupResult {
  uint64_t inode = 0;
  FileType type = FileType::kRegular;
  bool has_attr = false;  // the child's inode is in this PG
  InodeAttr attr;
};

struct DirEntry {
  std::string name;
  uint64_t inode = 0;
  FileType type = FileType::kRegular;
  uint64_t cookie = 0;
};

struct ReaddirPage {
  std::vector<DirEntry> entries;
  bool eof = false;
};

struct PgCounters {
  uint64_t inodes = 0;
  uint64_t entries = 0;
};

// SetAttr mask bits.
inline constexpr uint32_t kSetMode = 1 << 0;
inline constexpr uint32_t kSetUid = 1 << 1;
inline constexpr uint32_t kSetGid = 1 << 2;
inline constexpr uint32_t kSetSize = 1 << 3;
inline constexpr uint32_t kSetAtime = 1 << 4;     // to values.atime_ns
inline constexpr uint32_t kSetMtime = 1 << 5;     // to values.mtime_ns
inline constexpr uint32_t kSetAtimeNow = 1 << 6;  // to the clock's time
inline constexpr uint32_t kSetMtimeNow = 1 << 7;
inline constexpr uint32_t kSetCtime = 1 << 8;  // to values.ctime_ns (root or owner)

class NamespaceEngine {
 public:
  NamespaceEngine(const MetaStore& store, uint32_t fs_id, uint32_t pg, uint32_t pg_count,
                  const Clock& clock);

  // --- Reads ---
  // The attributes of an inode of this PG (kNotFound).
  Result<InodeAttr> GetAttr(uint64_t inode) const;
  // Entry `name` of `parent` (needs x on parent); the child's attrs when it is in this PG.
  Result<LookupResult> Lookup(const Caller& caller, uint64_t parent, std::string_view name) const;
  // Up to `max_entries` (<= kMaxReaddirEntries) entries with a cookie above `cookie`, in
  // cookie order (needs r on dir). An entry present for the whole listing is returned once.
  Result<ReaddirPage> Readdir(const Caller& caller, uint64_t dir, uint64_t cookie,
                              uint32_t max_entries) const;
  // OK when `caller` has every kMay* access in `want` on an inode of this PG (open's check);
  // kPermissionDenied otherwise.
  Status Access(const Caller& caller, uint64_t inode, int want) const;
  // The target of a symlink (kInvalidArgument for other types).
  Result<std::string> Readlink(uint64_t inode) const;
  // Inodes and entries this PG holds.
  Result<PgCounters> StatFs() const;
  // What a cross-PG create (mkdir, or link/rename onto a new name) checks at the parent's
  // PG first: name valid, parent a directory with w+x for caller, name absent
  // (kAlreadyExists). Returns the parent's attrs (for MakeDirectoryInode).
  Result<InodeAttr> CheckCreate(const Caller& caller, uint64_t parent, std::string_view name) const;
  // At the PG of a directory about to be removed or replaced: kNotADirectory, kNotEmpty.
  Status CheckRmdirTarget(uint64_t inode) const;
  // The stored reply when this PG already answered `key` (a coordinator's retried
  // multi-step operation finds its finished final step here), else nullopt.
  Result<std::optional<MutationReply>> Answered(const RequestKey& key) const;

  // --- Bootstrap ---
  // The batch creating the root directory (PG 0 only; kAlreadyExists when it exists).
  Result<MetaBatch> Bootstrap(uint32_t mode = 0755, uint32_t uid = 0, uint32_t gid = 0) const;

  // --- Single-PG mutations (parent, and for Link/Rename every inode involved, here) ---
  // Creates a regular file or symlink in `parent`, its inode in this PG. Existing name:
  // `exclusive` -> kAlreadyExists; a regular file -> its attrs with created = false; a
  // directory -> kIsADirectory; other -> kAlreadyExists. Needs x on parent (and w to create).
  Result<Mutation> Create(const Caller& caller, const RequestKey& key, uint64_t parent,
                          std::string_view name, FileType type, uint32_t mode, bool exclusive,
                          std::string_view symlink_target) const;
  // chmod/chown/truncate/utimes by `mask` (kSet* bits) with Linux's rules; ctime = now.
  Result<Mutation> SetAttr(const Caller& caller, const RequestKey& key, uint64_t inode,
                           uint32_t mask, const InodeAttr& values) const;
  // Removes a non-directory entry. Its inode here: nlink drops, deleted at 0 (freed_inode
  // for regular files). Its inode elsewhere: reply.remote_unlink_inode.
  Result<Mutation> Unlink(const Caller& caller, const RequestKey& key, uint64_t parent,
                          std::string_view name) const;
  // Rename within this PG (both parents here). `noreplace`: an existing target ->
  // kAlreadyExists. Moving a directory under itself -> kInvalidArgument, checked along
  // parent pointers while they stay in this PG: a caller moving a directory whose ancestry
  // leaves this PG must check the rest under the filesystem's rename lock. A replaced
  // directory whose inode is elsewhere must have passed CheckRmdirTarget at its PG.
  Result<Mutation> Rename(const Caller& caller, const RequestKey& key, uint64_t src_parent,
                          std::string_view src_name, uint64_t dst_parent, std::string_view dst_name,
                          bool noreplace) const;
  // A hard link to a non-directory `inode` of this PG in `new_parent` of this PG.
  Result<Mutation> Link(const Caller& caller, const RequestKey& key, uint64_t inode,
                        uint64_t new_parent, std::string_view new_name) const;

  // --- Cross-PG steps ---
  // mkdir step 1 at PG DirectoryPg(parent, name): a directory inode here (nlink 2, parent
  // pointer, caller's uid, gid and setgid from `parent_attr` as CheckCreate returned it).
  Result<Mutation> MakeDirectoryInode(const Caller& caller, const RequestKey& key,
                                      const InodeAttr& parent_attr, uint32_t mode) const;
  // mkdir/link/rename step at the parent's PG: entry `name` -> inode (kAlreadyExists). A
  // directory entry also raises the parent's nlink.
  Result<Mutation> AddEntry(const RequestKey& key, uint64_t parent, std::string_view name,
                            uint64_t inode, FileType type) const;
  // Removes entry `name` of `parent` if it names `expected_inode` (kNotFound otherwise); a
  // directory entry also lowers the parent's nlink.
  Result<Mutation> RemoveEntry(const RequestKey& key, uint64_t parent, std::string_view name,
                               uint64_t expected_inode) const;
  // nlink += delta on an inode of this PG (kTooManyLinks above kMaxLinks). At 0 the inode
  // is deleted (a directory must be empty: kNotEmpty); freed_inode for regular files.
  Result<Mutation> AdjustLinks(const RequestKey& key, uint64_t inode, int32_t delta) const;
  // Points directory `dir` (of this PG) at `new_parent` (rename across PGs).
  Result<Mutation> SetParent(const RequestKey& key, uint64_t dir, uint64_t new_parent) const;
  // rmdir at the parent's PG. A child here must be empty and is deleted; a child elsewhere
  // must have passed CheckRmdirTarget at its PG and comes back as remote_unlink_inode (the
  // caller then sends AdjustLinks(child, -2) there). Needs w+x on parent and the sticky rule.
  Result<Mutation> Rmdir(const Caller& caller, const RequestKey& key, uint64_t parent,
                         std::string_view name) const;

  // --- Intents and dedup upkeep (no RequestKey: the coordinator's own records) ---
  Result<MetaBatch> PutIntent(uint64_t intent_id, std::string_view bytes) const;
  Result<MetaBatch> DeleteIntent(uint64_t intent_id) const;
  // Adds the intent's deletion to a mutation's batch (step 3: local part + intent gone).
  void AttachIntentDelete(MetaBatch& batch, uint64_t intent_id) const;
  Result<std::vector<std::pair<uint64_t, std::string>>> ListIntents() const;
  // Deletes up to kMaxTrimPerBatch dedup records recorded before `older_than_ns` (wall
  // time); an empty batch when there are none. With `cursor`, looks at no more than
  // `max_scan` records after *cursor and leaves *cursor at the last one looked at (empty
  // once the end was reached: the next call starts over), so that trimming a PG with
  // millions of recent records costs a bounded amount per call.
  Result<MetaBatch> TrimDedup(int64_t older_than_ns, std::string* cursor = nullptr,
                              size_t max_scan = SIZE_MAX) const;

  // Wall-clock nanoseconds as this engine stamps times.
  int64_t NowNs() const;

 private:
  // The dedup check, then `op` on a fresh MetaTxn, then the batch with the R record.
  Result<Mutation> Run(const RequestKey& key,
                       const std::function<Result<MutationReply>(MetaTxn&)>& op) const;
  // Unlink (directory = false) and Rmdir (true).
  Result<Mutation> RemoveNamed(const Caller& caller, const RequestKey& key, uint64_t parent,
                               std::string_view name, bool directory) const;
  Status CheckLocal(uint64_t inode) const;
  MetaTxn Reader() const { return MetaTxn::ForRead(store_, fs_, pg_); }
  Result<MetaBatch> SimpleBatch(const std::function<void(MetaTxn&)>& stage) const;

  const MetaStore& store_;
  const uint32_t fs_;
  const uint32_t pg_;
  const uint32_t pg_count_;
  const Clock& clock_;
};

}  // namespace cvfs::server::meta
