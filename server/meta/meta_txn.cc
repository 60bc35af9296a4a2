#include "server/meta/meta_txn.h"

namespace cvfs::server::meta {

Result<MetaTxn> MetaTxn::Begin(const MetaStore& store, uint32_t fs, uint32_t pg) {
  CVFS_ASSIGN_OR_RETURN(PgMetaState state, store.PgState(fs, pg));
  return MetaTxn(store, fs, pg, state);
}

Result<std::optional<std::string>> MetaTxn::Read(const std::string& key) const {
  auto it = staged_.find(key);
  if (it != staged_.end()) return it->second;
  return store_->Get(key);
}

Result<InodeAttr> MetaTxn::GetInode(uint64_t inode) const {
  if (PgOfInode(inode) != pg_) {
    return Status::InvalidArgument("inode " + std::to_string(inode) + " belongs to PG " +
                                   std::to_string(PgOfInode(inode)) + ", not " +
                                   std::to_string(pg_));
  }
  CVFS_ASSIGN_OR_RETURN(auto bytes, Read(InodeKey(fs_, inode)));
  if (!bytes) return Status::NotFound("inode " + std::to_string(inode));
  return DecodeInode(*bytes);
}

Result<InodeAttr> MetaTxn::GetDirectory(uint64_t inode) const {
  CVFS_ASSIGN_OR_RETURN(InodeAttr attr, GetInode(inode));
  if (attr.type != FileType::kDirectory) {
    return Status(ErrorCode::kNotADirectory, "inode " + std::to_string(inode));
  }
  return attr;
}

Result<std::optional<DentryRecord>> MetaTxn::GetDentry(uint64_t parent,
                                                       std::string_view name) const {
  CVFS_ASSIGN_OR_RETURN(auto bytes, Read(DentryKey(fs_, parent, name)));
  if (!bytes) return std::optional<DentryRecord>();
  CVFS_ASSIGN_OR_RETURN(DentryRecord rec, DecodeDentry(*bytes));
  return std::optional<DentryRecord>(rec);
}

Result<uint64_t> MetaTxn::AllocateInode() {
  if (state_.next_inode_seq > kMaxInodeSeq) {
    return Status::NoSpace("PG " + std::to_string(pg_) + " has no inode ids left");
  }
  return MakeInodeId(pg_, state_.next_inode_seq++);
}

void MetaTxn::CreateInode(const InodeAttr& attr) {
  ++state_.inode_count;
  PutInode(attr);
}

void MetaTxn::PutInode(const InodeAttr& attr) { Put(InodeKey(fs_, attr.inode), EncodeInode(attr)); }

void MetaTxn::DeleteInode(uint64_t inode) {
  --state_.inode_count;
  Delete(InodeKey(fs_, inode));
}

void MetaTxn::AddDentry(InodeAttr& dir, std::string_view name, uint64_t inode, FileType type) {
  const DentryRecord rec{inode, type, dir.next_cookie++};
  Put(DentryKey(fs_, dir.inode, name), EncodeDentry(rec));
  Put(CookieKey(fs_, dir.inode, rec.cookie), EncodeCookie({std::string(name), inode, type}));
  ++dir.entries;
  ++state_.entry_count;
}

void MetaTxn::RemoveDentry(InodeAttr& dir, std::string_view name, const DentryRecord& rec) {
  Delete(DentryKey(fs_, dir.inode, name));
  Delete(CookieKey(fs_, dir.inode, rec.cookie));
  --dir.entries;
  --state_.entry_count;
}

MetaBatch MetaTxn::Finish() const {
  MetaBatch batch;
  batch.fs_id = fs_;
  batch.pg = pg_;
  batch.sequence = state_.last_sequence + 1;
  for (const auto& [key, value] : staged_) {
    if (value) {
      batch.puts.emplace_back(key, *value);
    } else {
      batch.deletes.push_back(key);
    }
  }
  batch.puts.emplace_back(PgStateKey(fs_, pg_), EncodePgState(state_));
  return batch;
}

}  // namespace cvfs::server::meta
