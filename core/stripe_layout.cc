#include "core/stripe_layout.h"

#include <algorithm>
#include <cassert>
#include <charconv>
#include <string>

#include "core/placement_group.h"

namespace cvfs {

Status ValidateStripeGeometry(const StripeGeometry& g) {
  if (g.data_cells < kMinDataCells || g.data_cells > kMaxDataCells) {
    return Status(ErrorCode::kInvalidArgument,
                  "data cells N=" + std::to_string(g.data_cells) + " is outside 2..16");
  }
  if (g.parity_cells != 2 && g.parity_cells != 4) {
    return Status(ErrorCode::kInvalidArgument,
                  "parity cells P=" + std::to_string(g.parity_cells) + " must be 2 or 4");
  }
  if (g.cell_bytes < kMinCellBytes || g.cell_bytes > kMaxCellBytes ||
      g.cell_bytes % kCellAlignment != 0) {
    return Status(ErrorCode::kInvalidArgument,
                  "cell size " + std::to_string(g.cell_bytes) +
                      " must be a multiple of 4 KiB between 4 KiB and 16 MiB");
  }
  return Status::Ok();
}

namespace {

bool ParseInt(std::string_view text, uint64_t* out) {
  if (text.empty()) return false;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return ec == std::errc() && end == text.data() + text.size();
}

}  // namespace

Status ParseProtection(std::string_view text, int* data_cells, int* parity_cells) {
  const size_t plus = text.find('+');
  uint64_t n = 0, p = 0;
  if (plus == std::string_view::npos || !ParseInt(text.substr(0, plus), &n) ||
      !ParseInt(text.substr(plus + 1), &p) || n > 1000 || p > 1000) {
    return Status(ErrorCode::kInvalidArgument,
                  "protection '" + std::string(text) + "' is not of the form N+P (e.g. 4+2)");
  }
  StripeGeometry g{static_cast<int>(n), static_cast<int>(p), kMinCellBytes};
  CVFS_RETURN_IF_ERROR(ValidateStripeGeometry(g));
  *data_cells = g.data_cells;
  *parity_cells = g.parity_cells;
  return Status::Ok();
}

Result<uint64_t> ParseByteSize(std::string_view text) {
  uint64_t multiplier = 1;
  std::string_view digits = text;
  if (!digits.empty()) {
    switch (digits.back()) {
      case 'k':
      case 'K':
        multiplier = 1ull << 10;
        break;
      case 'm':
      case 'M':
        multiplier = 1ull << 20;
        break;
      case 'g':
      case 'G':
        multiplier = 1ull << 30;
        break;
      default:
        break;
    }
    if (multiplier != 1) digits.remove_suffix(1);
  }
  uint64_t value = 0;
  if (!ParseInt(digits, &value) || value > (UINT64_MAX / multiplier)) {
    return Status(ErrorCode::kInvalidArgument,
                  "size '" + std::string(text) + "' is not a number with an optional K, M or G");
  }
  return value * multiplier;
}

uint32_t PlacementGroupOf(uint64_t inode, uint64_t stripe, uint32_t pg_count) {
  assert(pg_count > 0);
  // splitmix64 finalizer over a combination of both ids: fixed forever (see header).
  auto mix = [](uint64_t z) {
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  };
  const uint64_t h = mix(mix(inode) ^ stripe);
  return static_cast<uint32_t>(h % pg_count);
}

std::vector<StripeExtent> SplitObjectRange(const StripeGeometry& geometry, uint64_t offset,
                                           uint64_t length) {
  std::vector<StripeExtent> out;
  const uint64_t stripe_bytes = geometry.stripe_bytes();
  uint64_t done = 0;
  while (done < length) {
    const uint64_t position = offset + done;
    StripeExtent e;
    e.stripe = position / stripe_bytes;
    e.offset_in_stripe = position % stripe_bytes;
    e.length = std::min(length - done, stripe_bytes - e.offset_in_stripe);
    e.buffer_offset = done;
    out.push_back(e);
    done += e.length;
  }
  return out;
}

std::vector<CellExtent> SplitStripeRange(const StripeGeometry& geometry, uint64_t offset_in_stripe,
                                         uint64_t length) {
  assert(offset_in_stripe + length <= geometry.stripe_bytes());
  std::vector<CellExtent> out;
  uint64_t done = 0;
  while (done < length) {
    const uint64_t position = offset_in_stripe + done;
    CellExtent e;
    e.cell_index = static_cast<int>(position / geometry.cell_bytes);
    e.offset_in_cell = static_cast<uint32_t>(position % geometry.cell_bytes);
    e.length = static_cast<uint32_t>(
        std::min<uint64_t>(length - done, geometry.cell_bytes - e.offset_in_cell));
    e.offset_in_stripe = position;
    out.push_back(e);
    done += e.length;
  }
  return out;
}

}  // namespace cvfs
