// NamespaceEngine: construction, the dedup wrapper, reads, bootstrap, intents and dedup
// trimming. Mutations live in namespace_mutations.cc, namespace_rename.cc and
// namespace_cross_pg.cc.
#include "server/meta/namespace_engine.h"

#include <algorithm>

#include "server/meta/names.h"

namespace cvfs::server::meta {

NamespaceEngine::NamespaceEngine(const MetaStore& store, uint32_t fs_id, uint32_t pg,
                                 uint32_t pg_count, const Clock& clock)
    : store_(store), fs_(fs_id), pg_(pg), pg_count_(pg_count), clock_(clock) {}

int64_t NamespaceEngine::NowNs() const { return clock_.WallMillis() * 1'000'000; }

Status NamespaceEngine::CheckLocal(uint64_t inode) const {
  if (PgOfInode(inode) == pg_ && PgOfInode(inode) < std::max<uint32_t>(pg_count_, 1)) {
    return Status::Ok();
  }
  return Status::InvalidArgument("inode " + std::to_string(inode) + " is not in PG " +
                                 std::to_string(pg_));
}

Result<std::optional<MutationReply>> NamespaceEngine::Answered(const RequestKey& key) const {
  CVFS_ASSIGN_OR_RETURN(auto stored, store_.Get(DedupKey(fs_, pg_, key.client_id, key.request_id)));
  if (!stored) return std::optional<MutationReply>();
  CVFS_ASSIGN_OR_RETURN(DedupRecord record, DecodeDedup(*stored));
  CVFS_ASSIGN_OR_RETURN(MutationReply reply, DecodeReply(record.reply));
  return std::optional<MutationReply>(std::move(reply));
}

Result<Mutation> NamespaceEngine::Run(
    const RequestKey& key, const std::function<Result<MutationReply>(MetaTxn&)>& op) const {
  const std::string dedup_key = DedupKey(fs_, pg_, key.client_id, key.request_id);
  CVFS_ASSIGN_OR_RETURN(std::optional<MutationReply> answered, Answered(key));
  if (answered) {
    Mutation replay;
    replay.reply = std::move(*answered);
    replay.batch.fs_id = fs_;
    replay.batch.pg = pg_;
    replay.replayed = true;
    return replay;
  }
  CVFS_ASSIGN_OR_RETURN(MetaTxn txn, MetaTxn::Begin(store_, fs_, pg_));
  CVFS_ASSIGN_OR_RETURN(MutationReply reply, op(txn));
  txn.Put(dedup_key, EncodeDedup({NowNs(), EncodeReply(reply)}));
  Mutation out;
  out.reply = std::move(reply);
  out.batch = txn.Finish();
  return out;
}

Result<MetaBatch> NamespaceEngine::SimpleBatch(const std::function<void(MetaTxn&)>& stage) const {
  CVFS_ASSIGN_OR_RETURN(MetaTxn txn, MetaTxn::Begin(store_, fs_, pg_));
  stage(txn);
  return txn.Finish();
}

Result<InodeAttr> NamespaceEngine::GetAttr(uint64_t inode) const {
  return Reader().GetInode(inode);
}

Result<LookupResult> NamespaceEngine::Lookup(const Caller& caller, uint64_t parent,
                                             std::string_view name) const {
  CVFS_RETURN_IF_ERROR(ValidateName(name));
  const MetaTxn reader = Reader();
  CVFS_ASSIGN_OR_RETURN(InodeAttr dir, reader.GetDirectory(parent));
  CVFS_RETURN_IF_ERROR(CheckAccess(caller, dir, kMayExec));
  CVFS_ASSIGN_OR_RETURN(auto entry, reader.GetDentry(parent, name));
  if (!entry) return Status::NotFound("no entry '" + std::string(name) + "'");
  LookupResult out;
  out.inode = entry->inode;
  out.type = entry->type;
  if (PgOfInode(entry->inode) == pg_) {
    CVFS_ASSIGN_OR_RETURN(out.attr, reader.GetInode(entry->inode));
    out.has_attr = true;
  }
  return out;
}

Result<ReaddirPage> NamespaceEngine::Readdir(const Caller& caller, uint64_t dir, uint64_t cookie,
                                             uint32_t max_entries) const {
  CVFS_ASSIGN_OR_RETURN(InodeAttr attr, Reader().GetDirectory(dir));
  CVFS_RETURN_IF_ERROR(CheckAccess(caller, attr, kMayRead));
  const size_t want = std::clamp<uint32_t>(max_entries, 1, kMaxReaddirEntries);
  CVFS_ASSIGN_OR_RETURN(auto records,
                        store_.Scan(CookiePrefix(fs_, dir), CookieKey(fs_, dir, cookie), want + 1));
  ReaddirPage page;
  page.eof = records.size() <= want;
  records.resize(std::min(records.size(), want));
  for (const auto& [key, value] : records) {
    CVFS_ASSIGN_OR_RETURN(uint64_t entry_cookie, CookieOfKey(key));
    CVFS_ASSIGN_OR_RETURN(CookieRecord rec, DecodeCookie(value));
    page.entries.push_back({std::move(rec.name), rec.inode, rec.type, entry_cookie});
  }
  return page;
}

Status NamespaceEngine::Access(const Caller& caller, uint64_t inode, int want) const {
  CVFS_ASSIGN_OR_RETURN(InodeAttr attr, Reader().GetInode(inode));
  return CheckAccess(caller, attr, want);
}

Result<std::string> NamespaceEngine::Readlink(uint64_t inode) const {
  CVFS_ASSIGN_OR_RETURN(InodeAttr attr, Reader().GetInode(inode));
  if (attr.type != FileType::kSymlink) {
    return Status::InvalidArgument("inode " + std::to_string(inode) + " is not a symlink");
  }
  return attr.symlink_target;
}

Result<PgCounters> NamespaceEngine::StatFs() const {
  CVFS_ASSIGN_OR_RETURN(PgMetaState state, store_.PgState(fs_, pg_));
  return PgCounters{state.inode_count, state.entry_count};
}

Result<InodeAttr> NamespaceEngine::CheckCreate(const Caller& caller, uint64_t parent,
                                               std::string_view name) const {
  CVFS_RETURN_IF_ERROR(ValidateName(name));
  const MetaTxn reader = Reader();
  CVFS_ASSIGN_OR_RETURN(InodeAttr dir, reader.GetDirectory(parent));
  CVFS_RETURN_IF_ERROR(CheckAccess(caller, dir, kMayWrite | kMayExec));
  CVFS_ASSIGN_OR_RETURN(auto entry, reader.GetDentry(parent, name));
  if (entry) return Status::AlreadyExists("entry '" + std::string(name) + "' exists");
  return dir;
}

Status NamespaceEngine::CheckRmdirTarget(uint64_t inode) const {
  CVFS_ASSIGN_OR_RETURN(InodeAttr dir, Reader().GetDirectory(inode));
  if (dir.entries != 0) {
    return Status(ErrorCode::kNotEmpty, "directory " + std::to_string(inode) + " has " +
                                            std::to_string(dir.entries) + " entries");
  }
  return Status::Ok();
}

Result<MetaBatch> NamespaceEngine::Bootstrap(uint32_t mode, uint32_t uid, uint32_t gid) const {
  if (pg_ != 0) return Status::InvalidArgument("the root directory lives in PG 0");
  CVFS_ASSIGN_OR_RETURN(auto existing, store_.Get(InodeKey(fs_, kRootInode)));
  if (existing) return Status::AlreadyExists("fs " + std::to_string(fs_) + " has a root");
  const int64_t now = NowNs();
  InodeAttr root;
  root.inode = kRootInode;
  root.type = FileType::kDirectory;
  root.mode = mode & kModeBits;
  root.uid = uid;
  root.gid = gid;
  root.nlink = 2;
  root.atime_ns = root.mtime_ns = root.ctime_ns = now;
  root.parent = kRootInode;
  root.next_cookie = kFirstEntryCookie;
  return SimpleBatch([&](MetaTxn& txn) { txn.CreateInode(root); });
}

Result<MetaBatch> NamespaceEngine::PutIntent(uint64_t intent_id, std::string_view bytes) const {
  if (bytes.size() > kMaxIntentBytes) {
    return Status::InvalidArgument("intent of " + std::to_string(bytes.size()) + " bytes");
  }
  return SimpleBatch(
      [&](MetaTxn& txn) { txn.Put(IntentKey(fs_, pg_, intent_id), std::string(bytes)); });
}

Result<MetaBatch> NamespaceEngine::DeleteIntent(uint64_t intent_id) const {
  return SimpleBatch([&](MetaTxn& txn) { txn.Delete(IntentKey(fs_, pg_, intent_id)); });
}

void NamespaceEngine::AttachIntentDelete(MetaBatch& batch, uint64_t intent_id) const {
  batch.deletes.push_back(IntentKey(fs_, pg_, intent_id));
}

Result<std::vector<std::pair<uint64_t, std::string>>> NamespaceEngine::ListIntents() const {
  CVFS_ASSIGN_OR_RETURN(auto records, store_.Scan(IntentPrefix(fs_, pg_), "", kMaxScanLimit));
  std::vector<std::pair<uint64_t, std::string>> out;
  for (auto& [key, value] : records) {
    CVFS_ASSIGN_OR_RETURN(uint64_t id, IntentIdOfKey(key));
    out.emplace_back(id, std::move(value));
  }
  return out;
}

Result<MetaBatch> NamespaceEngine::TrimDedup(int64_t older_than_ns, std::string* cursor,
                                             size_t max_scan) const {
  std::vector<std::string> old;
  std::string after = cursor != nullptr ? *cursor : std::string();
  size_t scanned = 0;
  bool at_end = false;
  while (old.size() < kMaxTrimPerBatch && scanned < max_scan) {
    const size_t page = std::min<size_t>(4096, max_scan - scanned);
    CVFS_ASSIGN_OR_RETURN(auto records, store_.Scan(DedupPrefix(fs_, pg_), after, page));
    for (const auto& [key, value] : records) {
      CVFS_ASSIGN_OR_RETURN(DedupRecord rec, DecodeDedup(value));
      if (rec.recorded_ns < older_than_ns && old.size() < kMaxTrimPerBatch) old.push_back(key);
    }
    scanned += records.size();
    if (!records.empty()) after = records.back().first;
    if (records.size() < page) {
      at_end = true;
      break;
    }
  }
  if (cursor != nullptr) *cursor = at_end ? std::string() : after;
  if (old.empty()) {
    MetaBatch none;
    none.fs_id = fs_;
    none.pg = pg_;
    return none;
  }
  return SimpleBatch([&](MetaTxn& txn) {
    for (auto& key : old) txn.Delete(std::move(key));
  });
}

}  // namespace cvfs::server::meta
