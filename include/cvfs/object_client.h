// The low-level data API of the ConvergeFS client library: byte ranges of objects named by
// inode id in one filesystem, erasure-coded over the filesystem's placement groups. The
// namespace (files, directories) is built on it; programs and benchmarks may use it alone.
//
// Semantics:
//   - Write returns OK only when every byte is durable on every live member of each touched
//     stripe (at least N of N+P), and committed: a later Read from any client sees it.
//   - Read returns out.size() bytes; ranges never written (holes) read as zeros. Data cells
//     are read straight from the members that hold them (no primary hop); a missing, slow
//     or checksum-failing cell is replaced by decoding from any N cells of the stripe, and a
//     bad cell is reported to the stripe's primary for repair.
//   - Truncate(inode, new_size, old_size) makes bytes [new_size, old_size) read as zeros and
//     frees the stripes wholly past new_size.
//   - Errors: kNoSpace when a member's drive is full (the stripe keeps its previous content),
//     kUnavailable when fewer than N members of a PG are up, kDeadlineExceeded past the
//     deadline, kNotFound for an unknown filesystem, kDataLoss-class kCorruption when fewer
//     than N intact cells remain.
// Thread-safety: an ObjectClient may be used from many threads at once; calls run in
// parallel (stripes of one call are also written/read in parallel).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/status.h"

namespace cvfs {

struct ObjectClientOptions {
  std::vector<std::string> etcd_endpoints = {"http://127.0.0.1:2379"};
  std::string cluster;
  std::string filesystem;
  std::string provider = "tcp;ofi_rxm";
  std::string munge_socket;  // "": munged's default socket
  std::string name = "cvfs-client";
  // Address the client's endpoint listens on (tcp): backends reach it there to pull and
  // push the client's buffers, so it must be reachable from them.
  std::string host = "127.0.0.1";
  Duration deadline = std::chrono::seconds(30);  // per Write/Read/Truncate call
  // How long a cell read may take before the client starts a degraded read around it.
  Duration slow_cell_timeout = std::chrono::seconds(2);
  int max_stripes_in_flight = 8;  // per call
};

struct ObjectClientStats {
  uint64_t writes = 0;
  uint64_t reads = 0;
  uint64_t bytes_written = 0;
  uint64_t bytes_read = 0;
  uint64_t degraded_reads = 0;      // stripe reads that decoded around a cell
  uint64_t checksum_failures = 0;   // cells a member reported corrupt
  uint64_t bad_cells_reported = 0;  // reports sent to primaries
  uint64_t version_retries = 0;     // reads retried because cells disagreed on version
  uint64_t write_retries = 0;       // writes retried after a primary change
};

struct FilesystemLayout {
  std::string name;
  uint32_t id = 0;
  int data_cells = 0;
  int parity_cells = 0;
  uint32_t cell_bytes = 0;
  uint32_t pg_count = 0;
  uint64_t stripe_bytes() const { return uint64_t(data_cells) * cell_bytes; }
};

class ObjectClient {
 public:
  // Reads the cluster map, finds the filesystem, opens the fabric endpoint and watches the
  // map. kNotFound when the filesystem does not exist or is not placed yet, kUnavailable
  // when etcd cannot be reached.
  static Result<std::unique_ptr<ObjectClient>> Open(const ObjectClientOptions& options);
  virtual ~ObjectClient() = default;

  virtual Status Write(uint64_t inode, uint64_t offset, std::span<const std::byte> data) = 0;
  virtual Status Read(uint64_t inode, uint64_t offset, std::span<std::byte> out) = 0;
  virtual Status Truncate(uint64_t inode, uint64_t new_size, uint64_t old_size) = 0;

  virtual FilesystemLayout layout() const = 0;
  virtual ObjectClientStats stats() const = 0;
};

}  // namespace cvfs
