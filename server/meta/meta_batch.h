// MetaBatch: one PG's atomic change to the metadata store (puts and deletes plus the PG's
// op sequence). The engine builds it, MetaStore::Apply applies it, and it travels to the
// PG's replicas as opaque bytes (Encode/Decode).
// Thread-safety: value type.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/status.h"

namespace cvfs::server::meta {

inline constexpr size_t kMaxBatchOps = 4096;
inline constexpr size_t kMaxBatchBytes = 1 << 20;  // encoded size
inline constexpr size_t kMaxKeyBytes = 1024;

struct MetaBatch {
  uint32_t fs_id = 0;
  uint32_t pg = 0;
  uint64_t sequence = 0;  // must be the PG's last applied sequence + 1
  std::vector<std::pair<std::string, std::string>> puts;
  std::vector<std::string> deletes;

  // No record changes: nothing to apply (a replayed request, nothing to trim).
  bool empty() const { return puts.empty() && deletes.empty(); }
  size_t op_count() const { return puts.size() + deletes.size(); }

  // The wire form: format(1) fs(4) pg(4) sequence(8) puts(4) deletes(4), then each put as
  // key and value and each delete as key, all length-prefixed, little-endian.
  std::string Encode() const;
  // kMalformedMessage on anything but an exact encoding within the limits above.
  static Result<MetaBatch> Decode(std::string_view bytes);
  // kInvalidArgument when the batch exceeds the limits (too many ops, too big, empty key).
  Status CheckLimits() const;
};

}  // namespace cvfs::server::meta
