// FileView: view bytes <-> file offsets through the tiled filetype.
#include <algorithm>

#include "mpi-io/cvfs_file.h"

namespace cvfs::mpiio {

void FileView::SetFiletype(FlatType flat) {
  file = std::move(flat);
  prefix.assign(file.blocks.size(), 0);
  int64_t sum = 0;
  for (size_t i = 0; i < file.blocks.size(); ++i) {
    prefix[i] = sum;
    sum += file.blocks[i].length;
  }
}

void FileView::Map(int64_t pos, int64_t length, std::vector<Segment>* out) const {
  auto add = [out](int64_t offset, int64_t n) {
    if (n <= 0) return;
    if (!out->empty() && out->back().offset + out->back().length == offset) {
      out->back().length += n;
    } else {
      out->push_back({offset, n});
    }
  };
  if (length <= 0 || file.size <= 0) return;
  if (file.dense()) {
    add(disp + file.lb + pos, length);
    return;
  }
  int64_t tile = pos / file.size;
  int64_t within = pos % file.size;
  // The block holding byte `within` of a tile.
  size_t block =
      static_cast<size_t>(std::upper_bound(prefix.begin(), prefix.end(), within) - prefix.begin()) -
      1;
  int64_t into = within - prefix[block];
  while (length > 0) {
    const Block& b = file.blocks[block];
    const int64_t n = std::min(length, b.length - into);
    add(disp + tile * file.extent + b.offset + into, n);
    length -= n;
    into = 0;
    if (++block == file.blocks.size()) {
      block = 0;
      ++tile;
    }
  }
}

int64_t FileView::ViewBytesBefore(int64_t file_offset) const {
  const int64_t rel = file_offset - disp;
  if (rel <= 0 || file.size <= 0) return 0;
  if (file.dense()) return std::max<int64_t>(0, rel - file.lb);
  const int64_t tiles = rel / file.extent;
  const int64_t rest = rel % file.extent;
  int64_t bytes = tiles * file.size;
  for (const Block& b : file.blocks) {
    bytes += std::clamp<int64_t>(rest - b.offset, 0, b.length);
  }
  return bytes;
}

}  // namespace cvfs::mpiio
