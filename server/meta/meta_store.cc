#include "server/meta/meta_store.h"

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

#include <exception>
#include <filesystem>

namespace cvfs::server::meta {
namespace {

Status FromRocks(const rocksdb::Status& s, const std::string& what) {
  if (s.ok()) return Status::Ok();
  if (s.IsCorruption()) return Status::Corruption(what + ": " + s.ToString());
  if (s.IsNoSpace()) return Status::NoSpace(what + ": " + s.ToString());
  return Status::IoError(what + ": " + s.ToString());
}

std::string DescribePg(uint32_t fs, uint32_t pg) {
  return "fs " + std::to_string(fs) + " pg " + std::to_string(pg);
}

}  // namespace

Result<std::unique_ptr<MetaStore>> MetaStore::Open(const std::string& path, Options options) {
  try {
    std::error_code ec;
    std::filesystem::create_directories(path, ec);
    if (ec) return Status::IoError("create meta store dir " + path + ": " + ec.message());
    rocksdb::Options db_options;
    db_options.create_if_missing = true;
    db_options.IncreaseParallelism(2);
    db_options.max_total_wal_size = 256 << 20;
    rocksdb::DB* db = nullptr;
    rocksdb::Status s = rocksdb::DB::Open(db_options, path, &db);
    if (!s.ok()) return FromRocks(s, "open meta store " + path);
    return std::unique_ptr<MetaStore>(new MetaStore(path, db, options));
  } catch (const std::exception& e) {
    return Status::IoError("open meta store " + path + ": " + e.what());
  }
}

MetaStore::~MetaStore() {
  rocksdb::Status s = db_->Close();
  (void)s;
  delete db_;
}

Result<std::optional<std::string>> MetaStore::Get(const std::string& key) const {
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), key, &value);
  if (s.IsNotFound()) return std::optional<std::string>();
  if (!s.ok()) return FromRocks(s, "meta store get " + path_);
  return std::optional<std::string>(std::move(value));
}

Result<std::vector<MetaStore::KeyValue>> MetaStore::Scan(const std::string& prefix,
                                                         const std::string& start_after,
                                                         size_t limit) const {
  limit = std::min(limit, kMaxScanLimit);
  std::vector<KeyValue> out;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  const bool resume = start_after > prefix;  // else the whole prefix
  it->Seek(resume ? start_after : prefix);
  if (resume && it->Valid() && it->key() == start_after) it->Next();
  for (; it->Valid() && out.size() < limit; it->Next()) {
    if (!it->key().starts_with(prefix)) break;
    out.emplace_back(it->key().ToString(), it->value().ToString());
  }
  if (!it->status().ok()) return FromRocks(it->status(), "meta store scan " + path_);
  return out;
}

Result<std::vector<MetaStore::KeyValue>> MetaStore::ScanPg(uint32_t fs, uint32_t pg,
                                                           const std::string& start_after,
                                                           size_t max_bytes, bool* done) const {
  std::vector<KeyValue> out;
  size_t bytes = 0;
  *done = false;
  for (const std::string& prefix : PgKeyPrefixes(fs, pg)) {
    if (!start_after.empty() && start_after >= prefix && !start_after.starts_with(prefix)) {
      continue;  // this prefix lies wholly before the resume point
    }
    std::string after = start_after.starts_with(prefix) ? start_after : std::string();
    while (true) {
      CVFS_ASSIGN_OR_RETURN(auto page, Scan(prefix, after, 256));
      for (auto& kv : page) {
        if (bytes >= max_bytes && !out.empty()) return out;
        bytes += kv.first.size() + kv.second.size() + 8;
        out.push_back(std::move(kv));
      }
      if (page.size() < 256) break;
      after = out.back().first;
    }
  }
  *done = true;
  return out;
}

Status MetaStore::ReplacePg(uint32_t fs, uint32_t pg, const std::vector<KeyValue>& records) {
  const std::vector<std::string> prefixes = PgKeyPrefixes(fs, pg);
  for (const auto& [key, value] : records) {
    bool inside = false;
    for (const auto& prefix : prefixes) inside = inside || key.starts_with(prefix);
    if (!inside) return Status::InvalidArgument("record outside " + DescribePg(fs, pg));
  }
  std::lock_guard<std::mutex> lock(apply_mu_);
  try {
    rocksdb::WriteBatch wb;
    for (const auto& prefix : prefixes) {
      // The first key after every key with this prefix: drop trailing 0xff bytes, add one.
      std::string end = prefix;
      while (!end.empty() && static_cast<uint8_t>(end.back()) == 0xff) end.pop_back();
      if (end.empty()) return Status::Internal("unbounded PG prefix");
      end.back() = static_cast<char>(static_cast<uint8_t>(end.back()) + 1);
      wb.DeleteRange(prefix, end);
    }
    for (const auto& [key, value] : records) wb.Put(key, value);
    rocksdb::WriteOptions wo;
    wo.sync = options_.sync;
    return FromRocks(db_->Write(wo, &wb), "meta store replace " + path_);
  } catch (const std::exception& e) {
    return Status::IoError("meta store replace " + path_ + ": " + e.what());
  }
}

Result<PgMetaState> MetaStore::PgState(uint32_t fs, uint32_t pg) const {
  CVFS_ASSIGN_OR_RETURN(auto bytes, Get(PgStateKey(fs, pg)));
  if (!bytes) return InitialPgState(pg);
  return DecodePgState(*bytes);
}

Result<uint64_t> MetaStore::LastSequence(uint32_t fs, uint32_t pg) const {
  CVFS_ASSIGN_OR_RETURN(auto state, PgState(fs, pg));
  return state.last_sequence;
}

// The P record written with `batch`: the batch's own P put when it has one (the engine
// allocated inodes or changed counters), else the current state, with the new sequence.
Result<std::string> MetaStore::MergedPgState(const MetaBatch& batch,
                                             const PgMetaState& current) const {
  const std::string key = PgStateKey(batch.fs_id, batch.pg);
  PgMetaState next = current;
  for (const auto& [k, v] : batch.puts) {
    if (k != key) continue;
    auto decoded = DecodePgState(v);
    if (!decoded.ok()) return Status::InvalidArgument("batch puts a bad P record");
    next = *decoded;
  }
  for (const auto& k : batch.deletes) {
    if (k == key) return Status::InvalidArgument("batch deletes the P record");
  }
  next.last_sequence = batch.sequence;
  return EncodePgState(next);
}

Status MetaStore::ApplyAll(std::span<const MetaBatch> batches, bool sync) {
  if (batches.empty()) return Status::Ok();
  const uint32_t fs = batches.front().fs_id;
  const uint32_t pg = batches.front().pg;
  for (const MetaBatch& batch : batches) {
    CVFS_RETURN_IF_ERROR(batch.CheckLimits());
    if (batch.fs_id != fs || batch.pg != pg) {
      return Status::InvalidArgument("batches of " + DescribePg(fs, pg) + " and " +
                                     DescribePg(batch.fs_id, batch.pg) + " in one apply");
    }
  }
  std::lock_guard<std::mutex> lock(apply_mu_);
  CVFS_ASSIGN_OR_RETURN(PgMetaState current, PgState(fs, pg));
  try {
    rocksdb::WriteBatch wb;
    std::string state;
    for (const MetaBatch& batch : batches) {
      if (batch.sequence != current.last_sequence + 1) {
        return Status::Conflict(DescribePg(fs, pg) + ": expected sequence " +
                                std::to_string(current.last_sequence + 1) + ", got " +
                                std::to_string(batch.sequence));
      }
      CVFS_ASSIGN_OR_RETURN(state, MergedPgState(batch, current));
      CVFS_ASSIGN_OR_RETURN(current, DecodePgState(state));
      for (const auto& key : batch.deletes) wb.Delete(key);
      for (const auto& [key, value] : batch.puts) wb.Put(key, value);
    }
    wb.Put(PgStateKey(fs, pg), state);
    rocksdb::WriteOptions wo;
    wo.sync = sync && options_.sync;
    return FromRocks(db_->Write(wo, &wb), "meta store apply " + path_);
  } catch (const std::exception& e) {
    return Status::IoError("meta store apply " + path_ + ": " + e.what());
  }
}

Status MetaStore::Sync() {
  if (!options_.sync) return Status::Ok();
  try {
    return FromRocks(db_->SyncWAL(), "meta store sync " + path_);
  } catch (const std::exception& e) {
    return Status::IoError("meta store sync " + path_ + ": " + e.what());
  }
}

}  // namespace cvfs::server::meta
