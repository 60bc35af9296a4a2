// CRC-32C (Castagnoli, the iSCSI polynomial 0x1EDC6F41, reflected): the checksum stored with
// every cell and verified on every read and scrub. Computed by ISA-L's crc32_iscsi, which
// uses the SSE4.2 crc32 instruction / PCLMUL folding where the CPU has them.
//
// Convention: the standard one (pre- and post-inverted), so Crc32c("123456789", 9) ==
// 0xE3069283 and values match every other CRC-32C implementation (iSCSI, ext4, RocksDB's
// crc32c::Value before masking).
//
// Incremental use: pass the previous result as `seed`.
//   Crc32c(a + b) == Crc32c(b.data(), b.size(), Crc32c(a.data(), a.size()))
// The empty buffer leaves the seed unchanged, and seed 0 is the start value.
// Thread-safety: pure functions; safe from any number of threads.
#pragma once

#include <cstddef>
#include <cstdint>

namespace cvfs {

// CRC-32C of `length` bytes at `data`, continuing from `seed` (0 to start). `data` may be
// null only when `length` is 0. No alignment requirement; any length.
uint32_t Crc32c(const void* data, size_t length, uint32_t seed = 0);

}  // namespace cvfs
