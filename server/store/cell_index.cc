#include "server/store/cell_index.h"

#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/options.h>
#include <rocksdb/slice_transform.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

#include <cstring>
#include <exception>
#include <filesystem>

#include "core/stripe_layout.h"

namespace cvfs::server {
namespace {

constexpr size_t kCellPrefixBytes = 4 + 8 + 8 + 2;
constexpr size_t kKeyBytes = kCellPrefixBytes + 8;
constexpr size_t kValueHeaderBytes = 1 + 1 + 8 + 4;
constexpr uint8_t kValueFormat = 1;

void PutBig(std::string* out, uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
uint64_t GetBig(const char* p, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}
void PutLittle(std::string* out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
uint64_t GetLittle(const char* p, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

std::string CellPrefix(const CellKey& key) {
  std::string out;
  out.reserve(kKeyBytes);
  PutBig(&out, key.fs_id, 4);
  PutBig(&out, key.inode, 8);
  PutBig(&out, key.stripe, 8);
  PutBig(&out, key.cell_index, 2);
  return out;
}

std::string EncodeKey(const CellKey& key, uint64_t version) {
  std::string out = CellPrefix(key);
  PutBig(&out, version, 8);
  return out;
}

bool DecodeKey(const rocksdb::Slice& s, CellKey* key, uint64_t* version) {
  if (s.size() != kKeyBytes) return false;
  const char* p = s.data();
  key->fs_id = static_cast<uint32_t>(GetBig(p, 4));
  key->inode = GetBig(p + 4, 8);
  key->stripe = GetBig(p + 12, 8);
  key->cell_index = static_cast<uint16_t>(GetBig(p + 20, 2));
  *version = GetBig(p + 22, 8);
  return true;
}

std::string EncodeValue(const IndexEntry& e) {
  std::string out;
  out.reserve(kValueHeaderBytes + 4 * e.crcs.size());
  out.push_back(static_cast<char>(kValueFormat));
  out.push_back(static_cast<char>(e.state));
  PutLittle(&out, e.extent.start, 8);
  PutLittle(&out, e.length, 4);
  for (uint32_t crc : e.crcs) PutLittle(&out, crc, 4);
  return out;
}

Status DecodeValue(const rocksdb::Slice& key_bytes, const rocksdb::Slice& s, IndexEntry* e) {
  CellKey key;
  if (!DecodeKey(key_bytes, &key, &e->version)) {
    return Status::Corruption("cell index key of " + std::to_string(key_bytes.size()) +
                              " bytes (want " + std::to_string(kKeyBytes) + ")");
  }
  auto bad = [&](const std::string& why) {
    return Status::Corruption("cell index entry " + DescribeCellKey(key) + " v" +
                              std::to_string(e->version) + ": " + why);
  };
  if (s.size() < kValueHeaderBytes) return bad("value too short");
  const char* p = s.data();
  if (static_cast<uint8_t>(p[0]) != kValueFormat) {
    return bad("unknown format " + std::to_string(static_cast<uint8_t>(p[0])));
  }
  const uint8_t state = static_cast<uint8_t>(p[1]);
  if (state != static_cast<uint8_t>(CellState::kPending) &&
      state != static_cast<uint8_t>(CellState::kCommitted)) {
    return bad("unknown state " + std::to_string(state));
  }
  e->state = static_cast<CellState>(state);
  e->extent.start = GetLittle(p + 2, 8);
  e->length = static_cast<uint32_t>(GetLittle(p + 10, 4));
  if (e->length > kMaxCellBytes) return bad("length " + std::to_string(e->length));
  const uint64_t blocks = (uint64_t{e->length} + kChecksumBlockBytes - 1) / kChecksumBlockBytes;
  if (s.size() != kValueHeaderBytes + 4 * blocks) {
    return bad("value of " + std::to_string(s.size()) + " bytes for " + std::to_string(blocks) +
               " blocks");
  }
  e->extent.blocks = blocks;
  e->crcs.resize(blocks);
  for (uint64_t i = 0; i < blocks; ++i) {
    e->crcs[i] = static_cast<uint32_t>(GetLittle(p + kValueHeaderBytes + 4 * i, 4));
  }
  return Status::Ok();
}

Status FromRocks(const rocksdb::Status& s, const std::string& what) {
  if (s.ok()) return Status::Ok();
  if (s.IsCorruption()) return Status::Corruption(what + ": " + s.ToString());
  if (s.IsNoSpace()) return Status::NoSpace(what + ": " + s.ToString());
  return Status::IoError(what + ": " + s.ToString());
}

}  // namespace

void CellIndex::Batch::Put(const CellKey& key, const IndexEntry& entry) {
  ops_.emplace_back(EncodeKey(key, entry.version), EncodeValue(entry));
}

void CellIndex::Batch::Delete(const CellKey& key, uint64_t version) {
  ops_.emplace_back(EncodeKey(key, version), std::nullopt);
}

Result<std::unique_ptr<CellIndex>> CellIndex::Open(const std::string& path) {
  try {
    std::error_code ec;
    std::filesystem::create_directories(path, ec);
    if (ec) return Status::IoError("create cell index dir " + path + ": " + ec.message());

    rocksdb::Options options;
    options.create_if_missing = true;
    options.IncreaseParallelism(2);
    options.compression = rocksdb::kNoCompression;  // values are mostly CRCs: incompressible
    options.prefix_extractor.reset(rocksdb::NewFixedPrefixTransform(kCellPrefixBytes));
    options.memtable_prefix_bloom_size_ratio = 0.05;
    options.max_total_wal_size = 256 << 20;
    rocksdb::BlockBasedTableOptions table;
    table.block_cache = rocksdb::NewLRUCache(64 << 20);
    table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
    table.whole_key_filtering = true;
    table.cache_index_and_filter_blocks = true;
    options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));

    rocksdb::DB* db = nullptr;
    rocksdb::Status s = rocksdb::DB::Open(options, path, &db);
    if (!s.ok()) return FromRocks(s, "open cell index " + path);
    return std::unique_ptr<CellIndex>(new CellIndex(path, db));
  } catch (const std::exception& e) {
    return Status::IoError("open cell index " + path + ": " + e.what());
  }
}

CellIndex::~CellIndex() {
  rocksdb::Status s = db_->Close();
  (void)s;
  delete db_;
}

Result<std::vector<IndexEntry>> CellIndex::List(const CellKey& key) const {
  std::vector<IndexEntry> out;
  Status status = Scan(CellPrefix(key), CellPrefix(key), [&](const CellKey&, const IndexEntry& e) {
    out.push_back(e);
    return Status::Ok();
  });
  if (!status.ok()) return status;
  return out;
}

Result<std::optional<IndexEntry>> CellIndex::Get(const CellKey& key, uint64_t version) const {
  const std::string k = EncodeKey(key, version);
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), k, &value);
  if (s.IsNotFound()) return std::optional<IndexEntry>();
  if (!s.ok()) return FromRocks(s, "cell index get " + DescribeCellKey(key));
  IndexEntry e;
  CVFS_RETURN_IF_ERROR(DecodeValue(k, value, &e));
  return std::optional<IndexEntry>(std::move(e));
}

Status CellIndex::Write(const Batch& batch, bool sync) {
  if (batch.empty()) return Status::Ok();
  try {
    rocksdb::WriteBatch wb;
    for (const auto& [key, value] : batch.ops_) {
      rocksdb::Status s = value ? wb.Put(key, *value) : wb.Delete(key);
      if (!s.ok()) return FromRocks(s, "cell index batch");
    }
    rocksdb::WriteOptions wo;
    wo.sync = sync;
    return FromRocks(db_->Write(wo, &wb), "cell index write " + path_);
  } catch (const std::exception& e) {
    return Status::IoError("cell index write " + path_ + ": " + e.what());
  }
}

Status CellIndex::SyncWal() { return FromRocks(db_->SyncWAL(), "cell index sync " + path_); }

Status CellIndex::Scan(const std::string& start, const std::string& prefix,
                       const Visitor& visit) const {
  try {
    rocksdb::ReadOptions ro;
    if (prefix.size() == kCellPrefixBytes) {
      ro.prefix_same_as_start = true;
    } else {
      ro.total_order_seek = true;
    }
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro));
    for (it->Seek(start); it->Valid(); it->Next()) {
      const rocksdb::Slice k = it->key();
      if (!k.starts_with(prefix)) break;
      CellKey key;
      IndexEntry e;
      if (!DecodeKey(k, &key, &e.version)) {
        return Status::Corruption("cell index key of " + std::to_string(k.size()) + " bytes");
      }
      CVFS_RETURN_IF_ERROR(DecodeValue(k, it->value(), &e));
      CVFS_RETURN_IF_ERROR(visit(key, e));
    }
    return FromRocks(it->status(), "cell index scan " + path_);
  } catch (const std::exception& e) {
    return Status::IoError("cell index scan " + path_ + ": " + e.what());
  }
}

Status CellIndex::ForEach(const Visitor& visit) const { return Scan("", "", visit); }

Status CellIndex::ForEachOfInode(uint32_t fs_id, uint64_t inode, uint64_t first_stripe,
                                 const Visitor& visit) const {
  std::string prefix;
  PutBig(&prefix, fs_id, 4);
  PutBig(&prefix, inode, 8);
  std::string start = prefix;
  PutBig(&start, first_stripe, 8);
  return Scan(start, prefix, visit);
}

Status CellIndex::ForEachAfter(const std::optional<CellKey>& after,
                               const PageVisitor& visit) const {
  try {
    rocksdb::ReadOptions ro;
    ro.total_order_seek = true;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro));
    // Every version of `after` sorts below the prefix of the next cell index, so seeking to
    // the (22-byte) prefix of `after` and skipping its versions lands on the next cell.
    for (after ? it->Seek(CellPrefix(*after)) : it->SeekToFirst(); it->Valid(); it->Next()) {
      CellKey key;
      IndexEntry e;
      if (!DecodeKey(it->key(), &key, &e.version)) {
        return Status::Corruption("cell index key of " + std::to_string(it->key().size()) +
                                  " bytes");
      }
      if (after && key <= *after) continue;
      CVFS_RETURN_IF_ERROR(DecodeValue(it->key(), it->value(), &e));
      if (!visit(key, e)) break;
    }
    return FromRocks(it->status(), "cell index scan " + path_);
  } catch (const std::exception& e) {
    return Status::IoError("cell index scan " + path_ + ": " + e.what());
  }
}

Status CellIndex::ForEachOfFilesystem(uint32_t fs_id, uint64_t inode, uint64_t stripe,
                                      const Visitor& visit) const {
  std::string prefix;
  PutBig(&prefix, fs_id, 4);
  std::string start = prefix;
  PutBig(&start, inode, 8);
  PutBig(&start, stripe, 8);
  Status st = Scan(start, prefix, visit);
  return st.code() == ErrorCode::kCancelled ? Status::Ok() : st;
}

}  // namespace cvfs::server
