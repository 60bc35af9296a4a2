// FabricEndpoint: one libfabric reliable-datagram endpoint (FI_EP_RDM) with its fabric,
// domain, address vector and a single completion queue for sends, receives and RMA.
// This and net/fabric/*.cc are the only code that calls fi_* functions.
//
// Ownership: shared; memory regions (FabricMr) keep the endpoint alive, so fabric objects
// are closed only after the last region is deregistered.
// Thread-safety: the domain is opened with FI_THREAD_SAFE, so every method may be called
// from any thread. Post* return -FI_EAGAIN when the provider queue is full: the caller
// retries while some thread drives progress through Poll().
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "core/status.h"

struct fi_info;
struct fid_fabric;
struct fid_domain;
struct fid_av;
struct fid_cq;
struct fid_ep;
struct fid_mr;

namespace cvfs::net::fabric {

struct FabricOptions {
  std::string provider = "tcp;ofi_rxm";
  std::string host = "127.0.0.1";  // source address for tcp; ignored by shm
  uint16_t port = 0;
  size_t cq_size = 4096;
};

// Operation contexts passed to Post* must start with this storage (FI_CONTEXT mode).
struct alignas(8) OpContextStorage {
  void* internal[8];
};

// One completion. `error` is 0 or a positive FI_E* value; `source` is the sender's
// address handle for receives when the provider knows it, else kNoAddress.
struct Completion {
  void* context = nullptr;
  uint64_t flags = 0;
  size_t length = 0;
  uint64_t source = 0;
  int error = 0;
};

inline constexpr uint64_t kNoAddress = ~0ull;  // FI_ADDR_NOTAVAIL

class FabricMr;

class FabricEndpoint : public std::enable_shared_from_this<FabricEndpoint> {
 public:
  // Opens and enables the endpoint. kNotSupported when the provider is absent here,
  // kUnavailable when it fails to open (message names the failing call).
  static Result<std::shared_ptr<FabricEndpoint>> Open(const FabricOptions& options);
  ~FabricEndpoint();
  FabricEndpoint(const FabricEndpoint&) = delete;
  FabricEndpoint& operator=(const FabricEndpoint&) = delete;

  const std::string& provider() const { return provider_; }
  // The raw fi_getname bytes a peer inserts into its address vector.
  const std::string& name() const { return name_; }
  bool source_known() const { return has_source_; }  // receives report their sender
  bool mr_local() const { return mr_local_; }        // sends/recvs need a registered desc
  bool mr_virt_addr() const { return mr_virt_addr_; }
  size_t max_message_size() const { return max_msg_size_; }
  // Poll(timeout_ms > 0) really blocks (a wait object that honours timeouts); else it
  // returns at once and the caller must pace its polling.
  bool can_wait() const { return can_wait_; }

  // Inserts a peer's raw address; returns its handle. kInvalidArgument on a bad address.
  Result<uint64_t> InsertAddress(std::string_view raw_name);

  // Post an operation; 0, -FI_EAGAIN (retry later) or another negative fi error.
  int PostRecv(void* buf, size_t len, void* desc, OpContextStorage* ctx);
  int PostSend(uint64_t dest, const void* buf, size_t len, void* desc, OpContextStorage* ctx);
  // `deliver`: the completion means the bytes are in the target's memory (and, since a
  // peer's writes are placed in order, so are those of earlier writes to the same peer);
  // otherwise it may only mean `buf` can be reused.
  int PostWrite(uint64_t dest, const void* buf, size_t len, void* desc, uint64_t remote_addr,
                uint64_t key, OpContextStorage* ctx, bool deliver = true);
  int PostRead(uint64_t dest, void* buf, size_t len, void* desc, uint64_t remote_addr, uint64_t key,
               OpContextStorage* ctx);

  // Reads up to `max` completions, waiting up to `timeout_ms` (0: do not block) when none
  // is ready. Returns the count (0 on timeout). Error completions are returned with
  // `error` set. Drives provider progress.
  // `woke` (optional): set when a blocking wait returned because the provider had traffic
  // (its fd became readable) even if no completion resulted, e.g. an RMA this endpoint is
  // the target of; the caller treats that as activity and keeps polling for a while.
  int Poll(Completion* out, int max, int timeout_ms, bool* woke = nullptr);
  // Wakes a thread blocked in Poll.
  void Wake();

  // Registers [data, data+len) for local use and remote read/write.
  Result<std::unique_ptr<FabricMr>> Register(void* data, size_t len);

  // Closes the endpoint itself (fi_close may still place received bytes in posted
  // buffers), keeping the domain for memory regions that outlive it. Nothing may be posted
  // or polled afterwards. Idempotent; the destructor does it too.
  void CloseEndpoint();

 private:
  FabricEndpoint() = default;
  friend class FabricMr;

  // Const after Open.
  std::string provider_;
  std::string name_;
  fi_info* info_ = nullptr;
  fid_fabric* fabric_ = nullptr;
  fid_domain* domain_ = nullptr;
  fid_av* av_ = nullptr;
  fid_cq* cq_ = nullptr;
  fid_ep* ep_ = nullptr;
  bool has_source_ = false;
  bool can_wait_ = false;
  int wait_fd_ = -1;  // the CQ's FI_WAIT_FD descriptor, or -1 (then fi_cq_sread)
  bool mr_local_ = false;
  bool mr_virt_addr_ = false;
  bool mr_prov_key_ = false;
  bool mr_endpoint_ = false;
  size_t max_msg_size_ = 0;

  std::atomic<uint64_t> next_key_{1};
};

// A registered memory range. Deregisters on destruction; keeps its endpoint alive.
// Thread-safety: immutable after creation.
class FabricMr {
 public:
  ~FabricMr();
  FabricMr(const FabricMr&) = delete;
  FabricMr& operator=(const FabricMr&) = delete;

  void* data() const { return data_; }
  size_t size() const { return size_; }
  void* desc() const { return desc_; }
  uint64_t key() const { return key_; }
  // The address a peer targets for byte 0 of this region (virtual address or offset 0).
  uint64_t remote_base() const;

 private:
  friend class FabricEndpoint;
  FabricMr() = default;
  std::shared_ptr<FabricEndpoint> owner_;
  fid_mr* mr_ = nullptr;
  void* data_ = nullptr;
  size_t size_ = 0;
  void* desc_ = nullptr;
  uint64_t key_ = 0;
};

}  // namespace cvfs::net::fabric
