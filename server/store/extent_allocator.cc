#include "server/store/extent_allocator.h"

#include <algorithm>
#include <string>

namespace cvfs::server {

ExtentAllocator::ExtentAllocator(uint64_t total_blocks) : total_blocks_(total_blocks) {
  std::lock_guard lock(mu_);
  if (total_blocks_ > 0) InsertFreeLocked(0, total_blocks_);
}

void ExtentAllocator::InsertFreeLocked(uint64_t start, uint64_t blocks) {
  by_start_.emplace(start, blocks);
  by_size_.emplace(blocks, start);
  free_blocks_ += blocks;
}

void ExtentAllocator::EraseFreeLocked(std::map<uint64_t, uint64_t>::iterator it) {
  by_size_.erase({it->second, it->first});
  free_blocks_ -= it->second;
  by_start_.erase(it);
}

Status ExtentAllocator::Rebuild(std::vector<Extent> used) {
  std::sort(used.begin(), used.end(),
            [](const Extent& a, const Extent& b) { return a.start < b.start; });
  std::lock_guard lock(mu_);
  by_start_.clear();
  by_size_.clear();
  free_blocks_ = 0;
  uint64_t cursor = 0;
  Status status;
  for (const Extent& e : used) {
    if (e.blocks == 0) continue;
    if (e.start >= total_blocks_ || e.blocks > total_blocks_ - e.start) {
      status = Status::Corruption("extent [" + std::to_string(e.start) + ", +" +
                                  std::to_string(e.blocks) + ") lies outside the data area of " +
                                  std::to_string(total_blocks_) + " blocks");
      break;
    }
    if (e.start < cursor) {
      status = Status::Corruption(
          "extent [" + std::to_string(e.start) + ", +" + std::to_string(e.blocks) +
          ") overlaps another cell's blocks (which end at " + std::to_string(cursor) + ")");
      break;
    }
    if (e.start > cursor) InsertFreeLocked(cursor, e.start - cursor);
    cursor = e.start + e.blocks;
  }
  if (!status.ok()) {
    by_start_.clear();
    by_size_.clear();
    free_blocks_ = 0;
    if (total_blocks_ > 0) InsertFreeLocked(0, total_blocks_);
    return status;
  }
  if (cursor < total_blocks_) InsertFreeLocked(cursor, total_blocks_ - cursor);
  return Status::Ok();
}

std::optional<Extent> ExtentAllocator::Allocate(uint64_t blocks) {
  if (blocks == 0) return Extent{0, 0};
  std::lock_guard lock(mu_);
  auto fit = by_size_.lower_bound({blocks, 0});
  if (fit == by_size_.end()) return std::nullopt;
  const uint64_t start = fit->second;
  const uint64_t have = fit->first;
  EraseFreeLocked(by_start_.find(start));
  if (have > blocks) InsertFreeLocked(start + blocks, have - blocks);
  return Extent{start, blocks};
}

Status ExtentAllocator::Free(const Extent& extent) {
  if (extent.blocks == 0) return Status::Ok();
  const uint64_t start = extent.start;
  const uint64_t end = extent.start + extent.blocks;
  auto describe = [&] {
    return "[" + std::to_string(start) + ", +" + std::to_string(extent.blocks) + ")";
  };
  std::lock_guard lock(mu_);
  if (end > total_blocks_ || end < start) {
    return Status::Internal("free of extent " + describe() + " outside the data area");
  }
  auto next = by_start_.lower_bound(start);  // first free extent starting at or after `start`
  if (next != by_start_.end() && next->first < end) {
    return Status::Internal("double free of extent " + describe());
  }
  auto prev = next == by_start_.begin() ? by_start_.end() : std::prev(next);
  if (prev != by_start_.end() && prev->first + prev->second > start) {
    return Status::Internal("double free of extent " + describe());
  }
  uint64_t new_start = start;
  uint64_t new_end = end;
  if (prev != by_start_.end() && prev->first + prev->second == start) {
    new_start = prev->first;
    EraseFreeLocked(prev);
  }
  next = by_start_.find(end);
  if (next != by_start_.end()) {
    new_end = end + next->second;
    EraseFreeLocked(next);
  }
  InsertFreeLocked(new_start, new_end - new_start);
  return Status::Ok();
}

uint64_t ExtentAllocator::free_blocks() const {
  std::lock_guard lock(mu_);
  return free_blocks_;
}

uint64_t ExtentAllocator::largest_free_blocks() const {
  std::lock_guard lock(mu_);
  return by_size_.empty() ? 0 : by_size_.rbegin()->first;
}

}  // namespace cvfs::server
