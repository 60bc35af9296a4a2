#include "core/checksum.h"

#include <isa-l/crc.h>

#include <climits>

namespace cvfs {

uint32_t Crc32c(const void* data, size_t length, uint32_t seed) {
  // ISA-L's crc32_iscsi neither pre- nor post-inverts: the standard CRC-32C of a buffer is
  // ~crc32_iscsi(buf, len, ~0). Inverting on the way in and out keeps the public value
  // standard and makes the result of one call the seed of the next.
  // crc32_iscsi takes an int length, so very large buffers go in chunks below INT_MAX.
  constexpr size_t kMaxChunkBytes = size_t{1} << 30;
  static_assert(kMaxChunkBytes <= static_cast<size_t>(INT_MAX));
  // ISA-L's signature is not const-correct; it only reads the buffer.
  auto* p = static_cast<unsigned char*>(const_cast<void*>(data));
  uint32_t crc = ~seed;
  while (length > 0) {
    const size_t chunk = length < kMaxChunkBytes ? length : kMaxChunkBytes;
    crc = crc32_iscsi(p, static_cast<int>(chunk), crc);
    p += chunk;
    length -= chunk;
  }
  return ~crc;
}

}  // namespace cvfs
