// DataObjectClient: the implementation of cvfs::ObjectClient (include/cvfs/object_client.h)
// over the stripe protocol of docs/design/datapath.md.
//   - Map and endpoint: a ClientSession (client/session), possibly shared with the metadata
//     client; every call takes one immutable map snapshot (routing never mixes epochs
//     inside one stripe operation).
//   - Write: the range is split into stripes; each stripe is one WriteStripe to its PG's
//     primary, which pulls the bytes from this process by RMA. Up to max_stripes_in_flight
//     stripes of a call are in flight; kUnavailable / timeouts are retried (fresh map,
//     backoff) until the call's deadline.
//   - Read: per stripe, one ReadCell per data cell touched, straight to its member (inline
//     reply up to 16 KiB, RMA into the caller's buffer otherwise). Cells that disagree on
//     the version, fail, are corrupt, or are slower than slow_cell_timeout switch that
//     stripe to the degraded read (stripe_read.cc).
// Memory: bulk transfers use the caller's buffer registered for the call (registration is
// dropped before the call returns, so a peer that answers late can never write into memory
// the caller reuses) or, for small writes, a pooled registered copy.
// Thread-safety: every public method may be called from many threads at once.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "client/session/client_session.h"
#include "core/cluster_map.h"
#include "core/stripe_layout.h"
#include "core/stripe_routing.h"
#include "cvfs/object_client.h"
#include "net/call_group.h"
#include "net/registered_pool.h"
#include "net/rpc.h"
#include "net/wire/data_messages.h"

namespace cvfs::client {

// Writes up to this size are copied into a pooled registered buffer; larger ones register
// the caller's buffer for the call (docs/design/datapath.md has the measurement).
inline constexpr size_t kWriteCopyThreshold = 256 * 1024;
// Bound of one WriteStripe / Truncate attempt (the call's deadline bounds all attempts).
inline constexpr auto kAttemptTimeout = std::chrono::seconds(10);
// Retry backoff after kUnavailable or a timed-out attempt.
inline constexpr auto kFirstBackoff = std::chrono::milliseconds(20);
inline constexpr auto kMaxBackoff = std::chrono::milliseconds(500);

class DataObjectClient final : public ObjectClient {
 public:
  static Result<std::unique_ptr<ObjectClient>> Open(const ObjectClientOptions& options);
  // A client on an existing session (a mount shares one with its metadata client).
  // `options.filesystem` must be the session's; its connection fields are ignored.
  static Result<std::unique_ptr<DataObjectClient>> Create(const ObjectClientOptions& options,
                                                          std::shared_ptr<ClientSession> session);
  // Tests only: a client that takes its map from the test (SetMapForTesting) instead of
  // etcd; `options.etcd_endpoints` and `cluster` are ignored.
  static Result<std::unique_ptr<DataObjectClient>> OpenWithMapForTesting(
      const ObjectClientOptions& options, const ClusterMap& map);
  void SetMapForTesting(const ClusterMap& map) { session_->SetMapForTesting(map); }
  ~DataObjectClient() override = default;

  Status Write(uint64_t inode, uint64_t offset, std::span<const std::byte> data) override;
  Status Read(uint64_t inode, uint64_t offset, std::span<std::byte> out) override;
  Status Truncate(uint64_t inode, uint64_t new_size, uint64_t old_size) override;
  FilesystemLayout layout() const override;
  ObjectClientStats stats() const override;

 private:
  struct Counters {
    std::atomic<uint64_t> writes{0}, reads{0}, bytes_written{0}, bytes_read{0};
    std::atomic<uint64_t> degraded_reads{0}, checksum_failures{0}, bad_cells_reported{0};
    std::atomic<uint64_t> version_retries{0}, write_retries{0};
  };

  DataObjectClient(ObjectClientOptions options, std::shared_ptr<ClientSession> session)
      : options_(std::move(options)),
        session_(std::move(session)),
        endpoint_(&session_->endpoint()),
        pool_(&session_->pool()) {}
  static ClientSessionOptions SessionOptions(const ObjectClientOptions& options);
  MapSnapshot Snapshot() const { return session_->Snapshot(); }
  Result<net::PeerId> PeerOf(const MapSnapshot& snapshot, const NodeId& node, TimePoint deadline) {
    return session_->PeerOf(snapshot, node, deadline);
  }
  void MarkUnresponsive(const MapSnapshot& snapshot, const NodeId& node) {
    session_->MarkUnresponsive(snapshot, node);
  }
  // Sends `payload` to the primary of stripe (inode, stripe), retrying kUnavailable and
  // timeouts with a fresh map until `deadline`. Used by Truncate.
  Result<std::string> CallPrimary(uint64_t inode, uint64_t stripe, net::Method method,
                                  const std::string& payload, TimePoint deadline);

  // stripe_read.cc
  Status ReadStripes(const MapSnapshot& snapshot, uint64_t inode,
                     std::span<const StripeExtent> stripes, std::span<std::byte> out,
                     std::unique_ptr<net::MemoryRegion>& out_region, TimePoint deadline);
  Status ReadStripeDegraded(MapSnapshot snapshot, StripeRoute route, uint64_t inode,
                            const StripeExtent& extent, std::span<std::byte> out,
                            TimePoint deadline);
  // Starts one ReadCell in `slot`, bounded by slow_cell_timeout; marks `node` unresponsive
  // when the send blocked or failed in the transport. `alone`: the call's only cell read
  // (an inline one then runs as a synchronous Call on this thread).
  void StartCellRead(net::CallGroup& group, size_t slot, const MapSnapshot& snapshot,
                     const NodeId& node, net::PeerId peer,
                     const net::wire::ReadCellRequest& request, Duration left, bool alone);
  void Report(const MapSnapshot& snapshot, const StripeRoute& route, uint64_t inode,
              uint64_t stripe, int cell, bool corrupt, uint64_t version);

  const ObjectClientOptions options_;
  const std::shared_ptr<ClientSession> session_;
  net::RpcEndpoint* const endpoint_;       // session_'s
  net::RegisteredBufferPool* const pool_;  // session_'s
  Counters counters_;
};

// True for errors a later attempt (fresh map, another primary) may not meet.
bool IsRetryable(const Status& status);
// True when a call failed in the transport (peer dead, hung or unreachable), not in a handler.
bool IsTransportFailure(const Status& status);

}  // namespace cvfs::client
