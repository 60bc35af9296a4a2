// RpcEndpoint::Impl: the state behind net/rpc.h, split over net/rpc/*.cc by concern:
// endpoint.cc (lifecycle, progress thread, sending), dispatch.cc (incoming messages,
// sessions, Hello), calls.cc (Connect/Call/CallAsync), rma.cc (memory and RMA).
//
// Threads: the progress thread reads the completion queue, except while a synchronous
// caller (Call, Connect, Rma) drives progress itself: such a "driver" polls the queue on its
// own thread for a bounded spin (no thread hand-off on the reply path) and the progress
// thread parks meanwhile (so the two do not fight for the two cores of a small box).
// Completions may therefore be handled on any thread; HandleCompletion and everything it
// calls is thread-safe. Inline handlers (HandlerMode::kInline) run on whichever thread
// handled the request's completion; worker-mode handlers, Hello verification and async
// completions run on `workers_`.
// Members are grouped as "const after Create" and "guarded by <mutex>"; counters are atomics.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "net/fabric/fabric_endpoint.h"
#include "net/rpc.h"
#include "net/rpc/buffer_pool.h"
#include "net/rpc/pending_calls.h"
#include "net/rpc/worker_pool.h"
#include "net/wire/envelope.h"

namespace cvfs::net {

using rpc::BufferPool;
using rpc::OpContext;
using rpc::PendingCall;

struct AtomicStats {
  std::atomic<uint64_t> calls_sent{0}, replies_received{0}, requests_served{0}, replies_sent{0},
      error_replies_sent{0}, malformed_messages{0}, auth_failures{0}, unknown_method{0},
      deadline_exceeded{0}, late_replies{0}, overload_rejections{0}, send_errors{0},
      hellos_accepted{0}, sessions_renewed{0};
};

// What this endpoint knows about a peer that said Hello.
struct HandlerEntry {
  RpcHandler fn;
  HandlerMode mode = HandlerMode::kWorker;
};

struct PeerSession {
  std::string name;
  uint32_t uid = 0;
  uint32_t gid = 0;
  bool authenticated = false;
};

class RpcEndpoint::Impl {
 public:
  // Bounds (TigerBeetle style: every queue has a named limit).
  static constexpr size_t kRecvBuffers = 64;
  static constexpr size_t kSendBuffers = 128;
  static constexpr size_t kEnvelopeOverhead = 4096;  // header, addresses, credential, message
  static constexpr size_t kMaxStatusMessage = 1024;
  static constexpr size_t kMaxKnownAddresses = 65536;
  static constexpr size_t kRmaChunkBytes = 1 << 20;
  static constexpr size_t kRmaWindow = 8;  // chunks in flight per transfer
  static constexpr int kMaxUnverifiedSends = 16;
  // Dead peers (docs/design/transport.md): at most this many sends to one peer are in the
  // provider at once; a send not completed by min(its deadline, post + kSendStallLimit)
  // marks its peer broken: its pending calls and new sends to it fail at once with
  // kUnavailable for a hold (kBrokenHold, doubling up to kMaxBrokenHold), or until Connect
  // or a message from it.
  static constexpr int kMaxSendsPerPeer = 16;
  static constexpr auto kSendStallLimit = std::chrono::seconds(1);
  // A send refused with -FI_EAGAIN this long (rxm refuses sends to a peer it cannot
  // connect to) also breaks its peer.
  static constexpr auto kRefusedStallLimit = std::chrono::milliseconds(250);
  // How long a broken peer's sends fail at once: doubles per break without a completed
  // send in between, from kBrokenHold up to kMaxBrokenHold. Connect retries at once.
  static constexpr auto kBrokenHold = std::chrono::seconds(2);
  static constexpr auto kMaxBrokenHold = std::chrono::seconds(10);
  // Send slots orphaned by breaks that get a freshly registered replacement (bounds the
  // memory a flapping peer can pin: kMaxOrphanReplacements * buffer size).
  static constexpr size_t kMaxOrphanReplacements = 256;
  static constexpr auto kStallScanInterval = std::chrono::milliseconds(5);
  // A synchronous caller polls the completion queue itself for at most this long before
  // it blocks on a condition variable (and hands progress back to the progress thread).
  static constexpr auto kCallerSpin = std::chrono::microseconds(100);
  // How long a parked progress thread sleeps before it re-checks for drivers and scans
  // deadlines; also the longest it stays parked after the last driver left.
  static constexpr auto kParkInterval = std::chrono::milliseconds(1);
  // Shutdown waits at most this long for sends still in the provider to complete.
  static constexpr auto kShutdownDrain = std::chrono::seconds(1);

  ~Impl();
  Status Init(RpcOptions options);
  void Shutdown();

  // endpoint.cc
  void ProgressLoop();
  void HandleCompletion(const fabric::Completion& c);
  // Handles deferred completions, then reads and handles up to one batch without blocking.
  // Returns the number handled. Any thread.
  int PollOnce();
  // Drives progress on the calling thread until `done()` or `spin_until`; returns done().
  // Only one driver polls at a time (the others spin on `done()` and yield). When the spin
  // ends without `done()`, the progress thread is woken before returning, so the caller
  // may then block.
  template <typename Done>
  bool DriveUntil(Done done, std::chrono::steady_clock::time_point spin_until);
  void WakeProgressThread();
  // Encodes and sends one envelope; the send buffer is released at its completion.
  Status SendEnvelope(uint64_t dest, const wire::EnvelopeFields& fields, TimePoint deadline,
                      bool unverified = false);
  // Same, with `payload` sent in place of fields.payload (no copy into `fields`).
  Status SendEnvelope(uint64_t dest, const wire::EnvelopeFields& fields, std::string_view payload,
                      TimePoint deadline, bool unverified = false);
  // `unverified`: dest is only an address a message claimed. Such sends never wait for a
  // buffer and at most kMaxUnverifiedSends are in flight, so forged sender addresses cannot
  // tie up the send buffers that real replies need.
  Status SendBytes(uint64_t dest, std::string_view bytes, uint64_t request_id, TimePoint deadline,
                   bool unverified = false);
  void CompleteCall(PendingCall call, Result<std::string> result);
  // Reserves one of `dest`'s kMaxSendsPerPeer send places, waiting (never past `deadline`)
  // while all are taken. `unverified` sends and sends from a completion-handling thread
  // skip the per-peer cap (never wait there). kUnavailable at once while `dest` is broken.
  Status ReserveSendPlace(uint64_t dest, TimePoint deadline, bool unverified);
  void UnreserveSendPlace(uint64_t dest);
  // Send-completion bookkeeping: records `slot` as posted to `dest` / as completed.
  void NoteSendPosted(rpc::BufferSlot* slot, uint64_t dest, TimePoint deadline);
  // Returns false for an orphaned slot (then the caller must not release it into the pool:
  // it was replaced; it is dropped instead).
  bool NoteSendDone(rpc::BufferSlot* slot, int error = 0);
  // Reaps send completions on this (completion-handling) thread; others are deferred.
  void ReapSendsInline();
  // Progress thread: declares broken every peer with a send stalled at `now`.
  void ScanStalledSends(TimePoint now);
  // Marks `dest` broken, orphans its sends still in the provider (replacing their slots),
  // fails its pending calls. Any thread not holding tx_mu_ or peers_mu_.
  void BreakPeer(uint64_t dest, const char* why);
  // Connect, or a message received from `dest`: clears its broken state so the Hello (or
  // the next call) can go out.
  void Revive(uint64_t dest);
  std::string PeerLabel(uint64_t dest);
  // The label of `dest` while it is broken, else nullopt.
  std::optional<std::string> BrokenLabel(uint64_t dest);

  // dispatch.cc
  // Decodes and dispatches one message (test hooks; the receive path decodes straight from
  // its receive buffer and calls Dispatch after reposting it).
  void OnMessage(std::string_view message, uint64_t source);
  // `decoded`: the result of DecodeEnvelope for `env`.
  void Dispatch(wire::EnvelopeFields env, const Status& decoded, uint64_t source);
  void HandleHello(wire::EnvelopeFields env, uint64_t source);
  // Runs `handler` and sends its reply; on a worker, or inline for HandlerMode::kInline.
  void HandleRequest(wire::EnvelopeFields env, uint64_t peer, PeerSession session,
                     const HandlerEntry& handler);
  void HandleReply(wire::EnvelopeFields& env);
  void SendError(uint64_t dest, const wire::EnvelopeFields& request, wire::EnvelopeKind kind,
                 const Status& status, bool unverified = false);
  // The handle for a raw address, inserting it into the AV on first sight (bounded).
  Result<uint64_t> ResolveRaw(const std::string& raw);
  void NoteMalformed(const Status& why, uint64_t source);

  // calls.cc
  Result<PeerId> Connect(std::string_view address, Duration deadline);
  // The Hello envelope for the peer at raw address `raw` (a MUNGE round trip: not on the
  // progress thread).
  wire::EnvelopeFields MakeHello(const std::string& raw);
  // A request refused with kUnauthenticated by a peer we had a session with (it restarted
  // at the same address): says Hello again and resends the request once, within its
  // deadline; completes `call` with the refusal or the Hello's error if that fails.
  // Runs on a worker.
  void RenewSessionAndResend(PendingCall call, Status refusal);
  // `payload` is sent in place of env.payload and need only live until StartCall returns.
  // `resend`: this is the one resend after a renewed session (never resent again).
  void StartCall(PeerId peer, wire::EnvelopeFields env, std::string_view payload,
                 TimePoint deadline, bool inline_done,
                 std::function<void(Result<std::string>)> done, bool resend = false);
  Result<std::string> Call(PeerId peer, uint16_t method, std::string_view payload,
                           Duration deadline);

  // rma.cc
  // RmaWrite/RmaRead (one segment) and the batch forms.
  Status Rma(bool write, const MemoryRegion& local, std::span<const RmaSegment> segments,
             Duration deadline);

  // Const after Init.
  RpcOptions options_;
  std::shared_ptr<fabric::FabricEndpoint> fabric_;
  std::string address_;
  std::unique_ptr<BufferPool> recv_pool_;
  std::unique_ptr<BufferPool> send_pool_;
  std::chrono::microseconds spin_after_activity_{0};  // const after Init
  std::unique_ptr<rpc::WorkerPool> workers_;
  std::unique_ptr<rpc::WorkerPool> coordinators_;  // kCoordinator handlers; may be null
  std::unique_ptr<rpc::WorkerPool> steps_;         // kStep handlers; may be null

  std::atomic<bool> stopping_{false};
  std::once_flag shutdown_once_;
  std::thread progress_;
  rpc::PendingCalls pending_;
  std::atomic<uint64_t> next_request_id_{1};
  AtomicStats stats_;
  std::atomic<int> unverified_in_flight_{0};

  // Progress driving (see the Threads note above).
  std::atomic<int> drivers_{0};  // threads inside DriveUntil
  std::mutex poll_mu_;           // held by the driver currently reading the queue
  std::mutex park_mu_;
  std::condition_variable park_cv_;  // the progress thread parks here while drivers_ > 0
  std::atomic<bool> parked_{false};  // the progress thread is (about to be) parked

  // Completions read while a send inside a completion handler waited for a buffer (that
  // thread reaps send completions inline and defers the rest to the next poll).
  std::mutex deferred_mu_;
  std::vector<fabric::Completion> deferred_;  // guarded by deferred_mu_
  std::atomic<bool> have_deferred_{false};

  std::shared_mutex handlers_mu_;
  // guarded by handlers_mu_; entries are immutable once published.
  std::unordered_map<uint16_t, std::shared_ptr<const HandlerEntry>> handlers_;

  std::mutex peers_mu_;
  std::unordered_map<std::string, uint64_t> raw_to_addr_;  // guarded by peers_mu_
  std::unordered_map<uint64_t, PeerSession> sessions_;     // guarded by peers_mu_
  std::unordered_set<uint64_t> inserted_;  // guarded by peers_mu_: handles we inserted
  // guarded by peers_mu_: when a message from each inserted handle last arrived (Dispatch).
  std::unordered_map<uint64_t, TimePoint> last_heard_;
  // guarded by peers_mu_: the raw address of each handle whose Hello was accepted (Connect).
  std::unordered_map<uint64_t, std::string> said_hello_;

  // Per-peer send accounting (dead peers). Lock order: peers_mu_ before tx_mu_.
  struct PeerTx {
    int in_flight = 0;  // send places reserved (posted or about to be)
    bool broken = false;
    TimePoint broken_until;       // while broken: sends fail at once until then
    std::string label;            // printable address, set when broken
    Duration hold = kBrokenHold;  // the next break's hold
  };
  std::mutex tx_mu_;
  std::condition_variable tx_cv_;                   // a place freed or a peer broke
  std::unordered_map<uint64_t, PeerTx> peer_tx_;    // guarded by tx_mu_
  std::unordered_set<rpc::BufferSlot*> in_flight_;  // guarded by tx_mu_: posted send slots
  std::atomic<uint64_t> peers_broken_{0};
  std::atomic<int> broken_now_{0};  // peers currently broken (lets the receive path skip tx_mu_)
  size_t orphans_replaced_ = 0;     // guarded by tx_mu_
  size_t orphans_ = 0;              // guarded by tx_mu_: orphaned slots not completed yet
};

template <typename Done>
bool RpcEndpoint::Impl::DriveUntil(Done done, std::chrono::steady_clock::time_point spin_until) {
  if (done()) return true;
  drivers_.fetch_add(1, std::memory_order_acq_rel);
  bool finished = false;
  while (!(finished = done())) {
    if (stopping_.load(std::memory_order_relaxed) ||
        std::chrono::steady_clock::now() >= spin_until) {
      break;
    }
    std::unique_lock<std::mutex> lock(poll_mu_, std::try_to_lock);
    if (!lock.owns_lock()) {
      std::this_thread::yield();
      continue;
    }
    PollOnce();
  }
  // Leaving after success does not wake the parked progress thread (it re-checks within
  // kParkInterval): a wake per call would cost a futex and a third runnable thread.
  if (drivers_.fetch_sub(1, std::memory_order_acq_rel) == 1 && !finished) WakeProgressThread();
  return finished;
}

}  // namespace cvfs::net
