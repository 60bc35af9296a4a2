// RpcEndpoint: request/reply messaging and one-sided RMA between ConvergeFS processes over
// libfabric (tcp;ofi_rxm, shm, verbs;ofi_rxm). The public face of net/.
//
// Contract:
//  - Every message is one FlatBuffers Envelope (net/wire/cvfs.fbs), verified before use.
//    Malformed, wrong-version, unknown-method and unauthenticated requests get an error
//    reply when the sender can be named, are counted in RpcStats, and never stop service.
//  - Every call has a deadline; a call to a dead or silent peer ends by its deadline
//    (kDeadlineExceeded) or earlier (kUnavailable), never hangs.
//  - One progress thread per endpoint reads the completion queue; a synchronous Call,
//    Connect or RMA drives progress on its own thread for a short bounded spin instead
//    (no thread hand-off on the reply path). Handlers run on a fixed pool of
//    `handler_threads` workers unless registered HandlerMode::kInline; async completions
//    always run on the workers.
//  - Payloads larger than `max_message_bytes` are refused (kInvalidArgument): bulk data goes
//    by RMA against a MemoryRegion whose RemoteRegion travels inside a payload.
// Thread-safety: every method is safe from any thread once Create returned, except that
// handlers must be registered before peers call them and Shutdown must not run on a
// handler/callback thread.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "core/clock.h"
#include "core/status.h"
#include "net/wire/methods.h"

namespace cvfs::net {

namespace fabric {
class FabricMr;
}

struct RpcOptions {
  std::string provider = "tcp;ofi_rxm";  // or "shm", "verbs;ofi_rxm"
  std::string host = "127.0.0.1";        // address to listen on (tcp); ignored by shm
  uint16_t port = 0;                     // 0: any free port
  std::string name;                      // this endpoint's identity for logs and Hello
  bool require_auth = true;              // refuse requests from peers without a valid MUNGE Hello
  std::string munge_socket;              // "": munged's default socket
  Duration default_deadline = std::chrono::seconds(5);
  // 0: block on the completion queue's wait object after a short spin (idle CPU ~0);
  // >0: poll the queue, sleeping this many microseconds between empty polls.
  int progress_poll_us = 0;
  // After a completion, how long the progress thread keeps polling before it blocks again.
  // 0 (default): block at once. Measured with 6 cvfsd and a client on 2 cores
  // (datapath_bench --tmpfs): spinning 1 ms halved throughput and cut 4 KiB reads 4x,
  // because spinning threads take the cores the threads with work need (converged mode).
  // Synchronous Calls and RMAs still drive progress themselves for a short bounded spin.
  // The environment variable CVFS_PROGRESS_SPIN_US overrides it (experiments).
  int progress_spin_us = 0;
  size_t max_message_bytes = 64 * 1024;  // largest request/reply payload
  int handler_threads = 2;
  // Threads of the separate pool for HandlerMode::kCoordinator handlers (0: none; such
  // handlers then share the `handler_threads` pool).
  int coordinator_threads = 0;
  // Threads of the pool for HandlerMode::kStep handlers (0: none; such handlers then share
  // the coordinator pool, or the worker pool when there is none).
  int step_threads = 0;
  size_t max_queued_requests = 4096;  // requests waiting for a handler; beyond: kResourceExhausted
};

// The handle of a peer: valid on the endpoint that returned it (Connect or RpcContext).
using PeerId = uint64_t;

struct RpcContext {
  PeerId peer = 0;  // reply-capable handle: usable for RmaRead/RmaWrite back to the caller
  std::string peer_name;
  uint32_t peer_uid = 0;
  uint32_t peer_gid = 0;
  bool authenticated = false;  // a valid MUNGE Hello was accepted from this peer
  TimePoint deadline;          // the caller's remaining budget, on this node's clock
  uint16_t method = 0;
};

// Returns the reply payload, or a Status whose code and message travel to the caller.
using RpcHandler = std::function<Result<std::string>(const RpcContext&, std::string_view)>;

// Where a handler runs.
enum class HandlerMode {
  // On the `handler_threads` pool: may block (disk, locks, nested Calls).
  kWorker,
  // On the thread that read the request from the completion queue (the progress thread or
  // a caller driving progress), saving a thread hand-off (tens of microseconds on a busy
  // 2-core box). Contract: the handler is cheap (a few microseconds), never blocks, never
  // makes a synchronous Call/Connect/Rma on this endpoint, and is thread-safe.
  kInline,
  // On the separate `coordinator_threads` pool: for handlers that themselves call other
  // nodes and wait (a stripe's primary calling its members). Keeping them off the worker pool
  // means a node whose coordinators all wait on peers still serves its peers' kWorker
  // requests, so two primaries waiting on each other cannot deadlock. kWorker handlers must
  // never wait on a remote kWorker handler.
  kCoordinator,
  // On the separate `step_threads` pool: for handlers that a kCoordinator handler of another
  // node waits on and that themselves wait only on kWorker handlers (one step of a
  // multi-node operation). Three tiers, each waiting only on the tier below, cannot form a
  // cycle of full pools.
  kStep,
};

// A window of a peer's registered memory, as sent inside a payload.
struct RemoteRegion {
  uint64_t address = 0;  // provider address of byte 0 (virtual address or offset)
  uint64_t key = 0;
  uint64_t length = 0;

  static constexpr size_t kEncodedSize = 24;
  // Fixed 24-byte little-endian encoding.
  std::string Encode() const;
  // kMalformedMessage unless `bytes` is exactly kEncodedSize long.
  static Result<RemoteRegion> Decode(std::string_view bytes);
};

// One transfer of a batched RMA: local[local_offset, +length) <-> the peer's
// remote[remote_offset, +length).
struct RmaSegment {
  PeerId peer = 0;
  size_t local_offset = 0;
  size_t length = 0;
  RemoteRegion remote;
  uint64_t remote_offset = 0;
};

// Registered memory. Deregisters on destruction; may outlive its RpcEndpoint. The memory
// must stay valid and must not be freed while an RMA on it may still be in flight.
// Thread-safety: immutable.
class MemoryRegion {
 public:
  ~MemoryRegion();
  MemoryRegion(const MemoryRegion&) = delete;
  MemoryRegion& operator=(const MemoryRegion&) = delete;

  void* data() const;
  size_t size() const;
  RemoteRegion remote() const;
  const fabric::FabricMr& fabric_mr() const { return *mr_; }

 private:
  friend class RpcEndpoint;
  explicit MemoryRegion(std::unique_ptr<fabric::FabricMr> mr);
  std::unique_ptr<fabric::FabricMr> mr_;
};

struct RpcStats {
  uint64_t calls_sent = 0;
  uint64_t replies_received = 0;
  uint64_t requests_served = 0;     // handler ran (whatever it returned)
  uint64_t replies_sent = 0;        // replies and error replies put on the wire
  uint64_t error_replies_sent = 0;  // dispatch refusals (malformed, auth, unknown method...)
  uint64_t malformed_messages = 0;  // failed verification, wrong version, truncated
  uint64_t auth_failures = 0;       // refused Hellos and requests from unauthenticated peers
  uint64_t unknown_method = 0;
  uint64_t deadline_exceeded = 0;  // our calls that timed out + requests expired before handling
  uint64_t late_replies = 0;       // replies for calls already abandoned, or never made
  uint64_t overload_rejections = 0;
  uint64_t send_errors = 0;
  uint64_t hellos_accepted = 0;
  // Sessions said again after a peer we had one with answered kUnauthenticated (a new
  // process at the same address), each followed by the one resend of the refused call.
  uint64_t sessions_renewed = 0;
  // Peers declared not accepting messages (a send refused or not completed in time); see
  // "Dead peers" in docs/design/transport.md.
  uint64_t peers_broken = 0;
};

class RpcEndpoint {
 public:
  // Opens the fabric endpoint and starts the progress and handler threads.
  // kNotSupported when the provider is absent, kUnavailable when it fails to open,
  // kInvalidArgument for nonsensical options.
  static Result<std::unique_ptr<RpcEndpoint>> Create(RpcOptions options);
  ~RpcEndpoint();  // Shutdown()
  RpcEndpoint(const RpcEndpoint&) = delete;
  RpcEndpoint& operator=(const RpcEndpoint&) = delete;

  // "<provider>://<hex fi_getname>"; what a peer passes to Connect.
  const std::string& address() const;
  const std::string& provider() const;
  const RpcOptions& options() const;

  // Registers (or replaces) the handler for `method`. kPing is built in (inline).
  void RegisterHandler(uint16_t method, RpcHandler handler,
                       HandlerMode mode = HandlerMode::kWorker);
  void RegisterHandler(Method method, RpcHandler handler, HandlerMode mode = HandlerMode::kWorker) {
    RegisterHandler(MethodId(method), std::move(handler), mode);
  }

  // Resolves `address`, performs the Hello (MUNGE credential bound to both addresses) and
  // returns the peer handle. kInvalidArgument for a bad address, kUnavailable when the
  // peer does not answer by `deadline`, kPermissionDenied when it refused our credential.
  // Connecting again to the same address repeats the Hello and returns the same handle.
  Result<PeerId> Connect(std::string_view address, Duration deadline);
  Result<PeerId> Connect(std::string_view address) {
    return Connect(address, options().default_deadline);
  }

  // One request/reply. kDeadlineExceeded when no reply by `deadline` (a late reply is
  // dropped and counted), kUnavailable when the peer is unreachable or we shut down,
  // or at once while the peer is broken: a peer whose sends the provider refused for
  // 250 ms, or did not complete by min(deadline, 1 s), is "not accepting messages" for a
  // hold (2 s, doubling up to 10 s while it stays dead) that Connect to it, or a message
  // from it, ends at once (the same PeerId works again once it answers),
  // kPermissionDenied without an accepted Hello, kNotFound for an unknown method,
  // kMalformedMessage for a garbled reply, else the handler's own Status.
  Result<std::string> Call(PeerId peer, uint16_t method, std::string_view payload,
                           Duration deadline);
  Result<std::string> Call(PeerId peer, Method method, std::string_view payload,
                           Duration deadline) {
    return Call(peer, MethodId(method), payload, deadline);
  }

  // Asynchronous Call: `done` runs exactly once, on a handler thread (or on the caller's
  // thread when the call fails before it is sent). May block briefly for flow control
  // while every send buffer, or the peer's share of them, is in flight (never past
  // `deadline`); fails at once with kUnavailable while the peer is broken.
  void CallAsync(PeerId peer, uint16_t method, std::string payload, Duration deadline,
                 std::function<void(Result<std::string>)> done);

  // Registers [data, data+length) for RMA in both directions.
  Result<std::unique_ptr<MemoryRegion>> RegisterMemory(void* data, size_t length);

  // One-sided copy local[local_offset, +length) -> remote[remote_offset, +length) (Write)
  // or the reverse (Read), split into chunks with several in flight. On an error the
  // target range holds unspecified bytes. kInvalidArgument for out-of-range windows.
  Status RmaWrite(PeerId peer, const MemoryRegion& local, size_t local_offset, size_t length,
                  const RemoteRegion& remote, uint64_t remote_offset, Duration deadline);
  Status RmaRead(PeerId peer, MemoryRegion& local, size_t local_offset, size_t length,
                 const RemoteRegion& remote, uint64_t remote_offset, Duration deadline);

  // Several transfers in one call, all sharing up to kRmaWindow (8) chunks in flight: how a
  // data path moves a stripe's cells or many small blocks without paying one round of
  // completion latency per transfer. Writes: on success every byte of every segment is in
  // the target's memory. Same errors as RmaWrite/RmaRead; on an error the target ranges
  // hold unspecified bytes.
  Status RmaWriteBatch(const MemoryRegion& local, std::span<const RmaSegment> segments,
                       Duration deadline);
  Status RmaReadBatch(MemoryRegion& local, std::span<const RmaSegment> segments, Duration deadline);

  RpcStats stats() const;

  // When a message (request, reply or Hello) from `peer` last arrived here, or the epoch
  // (TimePoint{}) if none ever did. A peer heard from after a call to it was sent is
  // running: a timeout of that call says nothing about it being dead or hung (it may have
  // been this process that stood still, or the call's own deadline that was short).
  TimePoint LastHeardFrom(PeerId peer) const;

  // Fuzz tests only: sends `bytes` verbatim as one message (no envelope).
  Status SendRawForTesting(PeerId peer, std::string_view bytes);
  // Fuzz targets only: runs `bytes` through the receive path (verification, dispatch) as if
  // they had arrived from a sender the transport cannot name.
  void DeliverForTesting(std::string_view bytes);
  // Security tests only: a handle for `address` without the Hello, so the peer sees
  // requests from a client that never authenticated.
  Result<PeerId> ResolveForTesting(std::string_view address);

  // Stops the threads, fails outstanding calls with kUnavailable and releases the fabric
  // endpoint (fabric objects close once no MemoryRegion uses them). Idempotent.
  void Shutdown();

  class Impl;

 private:
  explicit RpcEndpoint(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace cvfs::net
