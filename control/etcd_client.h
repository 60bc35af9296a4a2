// EtcdClient: the control plane's only path to etcd, through the v3 HTTP/JSON gateway
// (libcurl + nlohmann-json; keys and values travel base64-encoded).
//
// Endpoints: a list of member URLs ("http://10.0.0.1:2379") of a 1-, 3- or 5-member etcd.
// Calls go to the endpoint that answered last; when it cannot be reached (connection
// refused, host unknown, connect timeout) or answers "unavailable" (no leader), the call
// moves on to the next endpoint within the same deadline. Errors map to Status:
//   kUnavailable       no endpoint answered (every one refused, failed or has no leader)
//   kDeadlineExceeded  the per-call timeout (EtcdOptions::request_timeout) elapsed after
//                      the request was sent: the operation MAY have been applied
//   kNotFound          etcd says the lease does not exist (expired or revoked)
//   kMalformedMessage  the gateway reply was not the JSON we expect
//   others             from etcd's gRPC code (invalid argument, out of range, ...)
//
// Watch: a background thread holding one streaming /v3/watch request; it calls back with
// each batch of events, reconnects (to the next endpoint, with bounded backoff) from the
// last revision it delivered, and reports a compaction as `resync_required` so consumers
// re-read state. Stop() returns within ~kWatchStopLatency.
//
// Thread-safety: EtcdClient is thread-safe; every call uses its own curl easy handle
// (pooled, bounded by kMaxIdleCurlHandles). An EtcdWatch's callback runs on the watch's
// own thread, one batch at a time; it must not call Stop() on that same watch.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/clock.h"
#include "core/status.h"

namespace cvfs::control {

inline constexpr Duration kDefaultEtcdRequestTimeout = std::chrono::seconds(2);
inline constexpr Duration kDefaultEtcdConnectTimeout = std::chrono::milliseconds(500);
inline constexpr size_t kMaxEtcdEndpoints = 16;
inline constexpr size_t kMaxIdleCurlHandles = 8;
inline constexpr size_t kMaxEtcdResponseBytes = 64u << 20;  // a range over a large prefix
inline constexpr size_t kMaxWatchMessageBytes = 16u << 20;  // one watch response line
inline constexpr Duration kWatchRetryInitialBackoff = std::chrono::milliseconds(100);
inline constexpr Duration kWatchRetryMaxBackoff = std::chrono::seconds(2);
inline constexpr Duration kWatchStopLatency = std::chrono::milliseconds(100);

struct EtcdOptions {
  std::vector<std::string> endpoints;  // "http://host:port", at least one
  Duration request_timeout = kDefaultEtcdRequestTimeout;
  Duration connect_timeout = kDefaultEtcdConnectTimeout;
};

// Splits "http://a:2379,http://b:2379" into EtcdOptions::endpoints (other fields default).
// kInvalidArgument on an empty list, a URL that is not http(s)://host:port, or too many.
Result<EtcdOptions> ParseEtcdEndpoints(std::string_view comma_separated);

struct LeaseId {
  int64_t value = 0;  // 0: no lease
  bool valid() const { return value != 0; }
  bool operator==(const LeaseId&) const = default;
};

struct KeyValue {
  std::string key;
  std::string value;
  int64_t create_revision = 0;
  int64_t mod_revision = 0;
  int64_t version = 0;
  LeaseId lease;
};

struct RangeResponse {
  int64_t revision = 0;  // store revision the range was read at
  std::vector<KeyValue> kvs;
  int64_t count = 0;  // keys in the range (may exceed kvs.size() when limited)
  bool more = false;
};

// One comparison of a transaction ("the key's create_revision == 0").
struct Compare {
  enum class Target { kVersion, kCreateRevision, kModRevision, kValue, kLease };
  enum class Op { kEqual, kNotEqual, kGreater, kLess };
  std::string key;
  Target target = Target::kVersion;
  Op op = Op::kEqual;
  int64_t number = 0;  // for every target but kValue
  std::string value;   // for kValue

  static Compare KeyMissing(std::string key);  // create_revision == 0
  static Compare CreateRevisionIs(std::string key, int64_t revision);
  static Compare ModRevisionIs(std::string key, int64_t revision);
  static Compare ValueIs(std::string key, std::string value);
};

// One operation in a transaction branch.
struct TxnOp {
  enum class Type { kPut, kRange, kDelete };
  Type type = Type::kRange;
  std::string key;
  std::string range_end;  // empty: the single key
  std::string value;      // kPut
  LeaseId lease;          // kPut

  static TxnOp Put(std::string key, std::string value, LeaseId lease = {});
  static TxnOp Get(std::string key);
  static TxnOp Delete(std::string key);
};

struct TxnOpResponse {
  std::vector<KeyValue> kvs;  // kRange
  int64_t deleted = 0;        // kDelete
};

struct TxnResponse {
  bool succeeded = false;
  int64_t revision = 0;  // store revision after the txn (the put revision when it wrote)
  std::vector<TxnOpResponse> responses;  // one per op of the branch that ran
};

struct Lease {
  LeaseId id;
  int64_t ttl_seconds = 0;  // as granted (etcd may raise a request below its minimum)
};

enum class WatchEventType { kPut, kDelete };

struct WatchEvent {
  WatchEventType type = WatchEventType::kPut;
  KeyValue kv;  // for kDelete: key and mod_revision only
  std::optional<KeyValue> prev_kv;
};

struct WatchBatch {
  int64_t revision = 0;  // store revision when etcd sent the batch
  std::vector<WatchEvent> events;
  // Events were lost (history compacted while disconnected): re-read the state you
  // derive from the watched keys. `events` is empty then.
  bool resync_required = false;
};

using WatchCallback = std::function<void(const WatchBatch&)>;

struct WatchOptions {
  std::string key;
  std::string range_end;       // empty: only `key`; PrefixRangeEnd(key) for a prefix
  int64_t start_revision = 0;  // 0: from now on
  bool prev_kv = false;
};

class EtcdClient;

// A running watch. Destroying it stops it.
class EtcdWatch {
 public:
  ~EtcdWatch();
  EtcdWatch(const EtcdWatch&) = delete;
  EtcdWatch& operator=(const EtcdWatch&) = delete;

  // Ends the stream and joins the thread; no callback runs after it returns. Idempotent.
  // Must not be called from this watch's callback.
  void Stop();
  // The highest revision delivered (or the creation revision when nothing happened yet).
  int64_t last_revision() const;

 private:
  friend class EtcdClient;
  struct State;
  explicit EtcdWatch(std::shared_ptr<State> state);
  std::shared_ptr<State> state_;
};

class EtcdClient : public std::enable_shared_from_this<EtcdClient> {
 public:
  // kInvalidArgument on an empty or malformed endpoint list.
  static Result<std::shared_ptr<EtcdClient>> Create(EtcdOptions options);
  ~EtcdClient();
  EtcdClient(const EtcdClient&) = delete;
  EtcdClient& operator=(const EtcdClient&) = delete;

  const EtcdOptions& options() const { return options_; }

  // Writes `value` at `key` (bound to `lease` if valid). Returns the revision of the put.
  Result<int64_t> Put(std::string_view key, std::string_view value, LeaseId lease = {});
  // Reads one key: kvs has zero or one element.
  Result<RangeResponse> Get(std::string_view key);
  // Reads every key starting with `prefix`, in key order.
  Result<RangeResponse> GetPrefix(std::string_view prefix);
  // Deletes one key; returns how many keys were deleted (0 or 1).
  Result<int64_t> Delete(std::string_view key);
  // Deletes every key starting with `prefix`; returns the count.
  Result<int64_t> DeletePrefix(std::string_view prefix);
  // Runs `success` if every comparison holds, else `failure`, atomically.
  Result<TxnResponse> Txn(const std::vector<Compare>& compares, const std::vector<TxnOp>& success,
                          const std::vector<TxnOp>& failure);

  // Grants a lease of `ttl_seconds` (> 0).
  Result<Lease> LeaseGrant(int64_t ttl_seconds);
  // Renews the lease once; returns its fresh TTL in seconds. kNotFound if it expired or
  // was revoked: its keys are gone then.
  Result<int64_t> LeaseKeepAlive(LeaseId lease);
  // Revokes the lease and deletes its keys. kNotFound if it no longer exists.
  Status LeaseRevoke(LeaseId lease);

  // Starts a watch. Returns once etcd confirmed it (events after the returned point are
  // delivered), or an error (kUnavailable if no endpoint accepted it) with nothing running.
  Result<std::unique_ptr<EtcdWatch>> Watch(WatchOptions options, WatchCallback callback);

  // One POST to the gateway with failover, for calls this class does not wrap.
  // Returns the decoded JSON reply of a 200 answer.
  Result<nlohmann::json> Call(std::string_view path, const nlohmann::json& body);

  // Index (into options.endpoints) of the endpoint the next call tries first: the one that
  // answered last.
  size_t PreferredEndpoint() const { return preferred_.load() % options_.endpoints.size(); }

 private:
  explicit EtcdClient(EtcdOptions options);
  friend struct EtcdWatch::State;

  void* AcquireHandle();
  void ReleaseHandle(void* handle);
  void MarkEndpointFailed(size_t index);

  // Const after construction.
  const EtcdOptions options_;
  // Index of the endpoint to try first; advanced past endpoints that fail.
  std::atomic<size_t> preferred_{0};
  std::mutex pool_mu_;
  std::vector<void*> idle_handles_;  // guarded by pool_mu_ (CURL*, at most kMaxIdle...)
};

}  // namespace cvfs::control
