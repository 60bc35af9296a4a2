#include "server/meta/meta_batch.h"

#include "server/meta/byte_codec.h"

namespace cvfs::server::meta {
namespace {

constexpr uint8_t kBatchFormat = 1;
constexpr size_t kHeaderBytes = 1 + 4 + 4 + 8 + 4 + 4;

}  // namespace

std::string MetaBatch::Encode() const {
  std::string out;
  ByteWriter w(&out);
  w.U8(kBatchFormat);
  w.U32(fs_id);
  w.U32(pg);
  w.U64(sequence);
  w.U32(puts.size());
  w.U32(deletes.size());
  for (const auto& [key, value] : puts) {
    w.Bytes(key);
    w.Bytes(value);
  }
  for (const auto& key : deletes) w.Bytes(key);
  return out;
}

Result<MetaBatch> MetaBatch::Decode(std::string_view bytes) {
  auto bad = [&](const std::string& why) {
    return Status::MalformedMessage("meta batch of " + std::to_string(bytes.size()) +
                                    " bytes: " + why);
  };
  if (bytes.size() > kMaxBatchBytes) return bad("over the size limit");
  if (bytes.size() < kHeaderBytes) return bad("shorter than its header");
  ByteReader r(bytes);
  if (r.U8() != kBatchFormat) return bad("unknown format");
  MetaBatch batch;
  batch.fs_id = r.U32();
  batch.pg = r.U32();
  batch.sequence = r.U64();
  const uint64_t puts = r.U32();
  const uint64_t deletes = r.U32();
  if (puts + deletes > kMaxBatchOps) return bad("too many ops");
  batch.puts.reserve(puts);
  for (uint64_t i = 0; i < puts && r.ok(); ++i) {
    std::string key = r.Bytes(kMaxKeyBytes);
    std::string value = r.Bytes(kMaxBatchBytes);
    batch.puts.emplace_back(std::move(key), std::move(value));
  }
  for (uint64_t i = 0; i < deletes && r.ok(); ++i) batch.deletes.push_back(r.Bytes(kMaxKeyBytes));
  if (!r.done()) return bad("truncated or trailing bytes");
  Status limits = batch.CheckLimits();
  if (!limits.ok()) return bad(std::string(limits.message()));
  return batch;
}

Status MetaBatch::CheckLimits() const {
  if (op_count() > kMaxBatchOps) {
    return Status::InvalidArgument("meta batch of " + std::to_string(op_count()) + " ops (max " +
                                   std::to_string(kMaxBatchOps) + ")");
  }
  size_t bytes = kHeaderBytes;
  for (const auto& [key, value] : puts) {
    if (key.empty() || key.size() > kMaxKeyBytes) return Status::InvalidArgument("bad key size");
    bytes += 8 + key.size() + value.size();
  }
  for (const auto& key : deletes) {
    if (key.empty() || key.size() > kMaxKeyBytes) return Status::InvalidArgument("bad key size");
    bytes += 4 + key.size();
  }
  if (bytes > kMaxBatchBytes) {
    return Status::InvalidArgument("meta batch of " + std::to_string(bytes) + " bytes");
  }
  return Status::Ok();
}

}  // namespace cvfs::server::meta
