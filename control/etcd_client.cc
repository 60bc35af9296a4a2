#include "control/etcd_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <cassert>
#include <cctype>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <utility>

#include "control/base64.h"
#include "control/keys.h"
#include "core/logging.h"

namespace cvfs::control {
namespace {

using Json = nlohmann::json;
using SteadyClock = std::chrono::steady_clock;

void GlobalCurlInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

int64_t ToMillis(Duration d) {
  return std::max<int64_t>(1, std::chrono::duration_cast<std::chrono::milliseconds>(d).count());
}

// int64 fields arrive as JSON strings ("5"); tolerate numbers too. Absent means 0.
Result<int64_t> GetInt64(const Json& object, const char* name) {
  auto it = object.find(name);
  if (it == object.end() || it->is_null()) return int64_t{0};
  if (it->is_number_integer()) return it->get<int64_t>();
  if (it->is_string()) {
    const std::string& s = it->get_ref<const std::string&>();
    if (s.empty()) return int64_t{0};
    char* end = nullptr;
    errno = 0;
    long long v = std::strtoll(s.c_str(), &end, 10);
    if (errno == 0 && end == s.c_str() + s.size()) return static_cast<int64_t>(v);
  }
  return Status::MalformedMessage(std::string("etcd reply field '") + name + "' is not an integer");
}

Result<std::string> GetBytes(const Json& object, const char* name) {
  auto it = object.find(name);
  if (it == object.end() || it->is_null()) return std::string();
  if (!it->is_string()) {
    return Status::MalformedMessage(std::string("etcd reply field '") + name + "' is not a string");
  }
  return Base64Decode(it->get_ref<const std::string&>());
}

Result<KeyValue> DecodeKeyValue(const Json& j) {
  if (!j.is_object()) return Status::MalformedMessage("etcd kv is not an object");
  KeyValue kv;
  CVFS_ASSIGN_OR_RETURN(kv.key, GetBytes(j, "key"));
  CVFS_ASSIGN_OR_RETURN(kv.value, GetBytes(j, "value"));
  CVFS_ASSIGN_OR_RETURN(kv.create_revision, GetInt64(j, "create_revision"));
  CVFS_ASSIGN_OR_RETURN(kv.mod_revision, GetInt64(j, "mod_revision"));
  CVFS_ASSIGN_OR_RETURN(kv.version, GetInt64(j, "version"));
  CVFS_ASSIGN_OR_RETURN(kv.lease.value, GetInt64(j, "lease"));
  return kv;
}

Result<std::vector<KeyValue>> DecodeKvs(const Json& j) {
  std::vector<KeyValue> out;
  auto it = j.find("kvs");
  if (it == j.end() || it->is_null()) return out;
  if (!it->is_array()) return Status::MalformedMessage("etcd reply 'kvs' is not an array");
  out.reserve(it->size());
  for (const auto& e : *it) {
    CVFS_ASSIGN_OR_RETURN(KeyValue kv, DecodeKeyValue(e));
    out.push_back(std::move(kv));
  }
  return out;
}

Result<int64_t> HeaderRevision(const Json& j) {
  auto it = j.find("header");
  if (it == j.end() || !it->is_object()) return int64_t{0};
  return GetInt64(*it, "revision");
}

// Maps a gRPC status code (as the gateway reports it) to ours.
ErrorCode GrpcToErrorCode(int grpc) {
  switch (grpc) {
    case 1:
      return ErrorCode::kCancelled;
    case 3:
      return ErrorCode::kInvalidArgument;
    case 4:
      return ErrorCode::kDeadlineExceeded;
    case 5:
      return ErrorCode::kNotFound;
    case 6:
      return ErrorCode::kAlreadyExists;
    case 7:
      return ErrorCode::kPermissionDenied;
    case 8:
      return ErrorCode::kResourceExhausted;
    case 9:
      return ErrorCode::kConflict;  // failed precondition
    case 10:
      return ErrorCode::kConflict;  // aborted
    case 11:
      return ErrorCode::kInvalidArgument;  // out of range (future/compacted revision)
    case 12:
      return ErrorCode::kNotSupported;
    case 14:
      return ErrorCode::kUnavailable;
    case 16:
      return ErrorCode::kUnauthenticated;
    default:
      return ErrorCode::kInternal;
  }
}

std::string CompareTarget(Compare::Target t) {
  switch (t) {
    case Compare::Target::kVersion:
      return "VERSION";
    case Compare::Target::kCreateRevision:
      return "CREATE";
    case Compare::Target::kModRevision:
      return "MOD";
    case Compare::Target::kValue:
      return "VALUE";
    case Compare::Target::kLease:
      return "LEASE";
  }
  return "VERSION";
}

std::string CompareOp(Compare::Op op) {
  switch (op) {
    case Compare::Op::kEqual:
      return "EQUAL";
    case Compare::Op::kNotEqual:
      return "NOT_EQUAL";
    case Compare::Op::kGreater:
      return "GREATER";
    case Compare::Op::kLess:
      return "LESS";
  }
  return "EQUAL";
}

Json EncodeCompare(const Compare& c) {
  Json j = {{"key", Base64Encode(c.key)},
            {"target", CompareTarget(c.target)},
            {"result", CompareOp(c.op)}};
  switch (c.target) {
    case Compare::Target::kVersion:
      j["version"] = std::to_string(c.number);
      break;
    case Compare::Target::kCreateRevision:
      j["create_revision"] = std::to_string(c.number);
      break;
    case Compare::Target::kModRevision:
      j["mod_revision"] = std::to_string(c.number);
      break;
    case Compare::Target::kValue:
      j["value"] = Base64Encode(c.value);
      break;
    case Compare::Target::kLease:
      j["lease"] = std::to_string(c.number);
      break;
  }
  return j;
}

Json EncodeOp(const TxnOp& op) {
  Json body = {{"key", Base64Encode(op.key)}};
  if (!op.range_end.empty()) body["range_end"] = Base64Encode(op.range_end);
  switch (op.type) {
    case TxnOp::Type::kPut:
      body["value"] = Base64Encode(op.value);
      if (op.lease.valid()) body["lease"] = std::to_string(op.lease.value);
      return Json{{"request_put", body}};
    case TxnOp::Type::kRange:
      return Json{{"request_range", body}};
    case TxnOp::Type::kDelete:
      return Json{{"request_delete_range", body}};
  }
  return Json::object();
}

size_t AppendToString(char* data, size_t size, size_t nmemb, void* user) {
  auto* out = static_cast<std::string*>(user);
  const size_t n = size * nmemb;
  if (out->size() + n > kMaxEtcdResponseBytes) return 0;  // aborts the transfer
  out->append(data, n);
  return n;
}

bool ValidEndpoint(std::string_view url) {
  std::string_view rest;
  if (url.starts_with("http://")) {
    rest = url.substr(7);
  } else if (url.starts_with("https://")) {
    rest = url.substr(8);
  } else {
    return false;
  }
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  const size_t colon = rest.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == rest.size()) return false;
  if (rest.find('/') != std::string_view::npos) return false;
  const std::string_view port = rest.substr(colon + 1);
  if (port.size() > 5) return false;
  for (char c : port) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  }
  const int p = std::stoi(std::string(port));
  return p > 0 && p < 65536;
}

std::string Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return std::string(s);
}

// Outcome of one HTTP exchange with one endpoint.
struct Exchange {
  CURLcode curl = CURLE_OK;
  long http = 0;
  bool sent = false;  // the request reached the server (it may have been applied)
  std::string body;
};

Exchange Post(CURL* h, const std::string& url, const std::string& body, int64_t connect_ms,
              int64_t total_ms) {
  Exchange ex;
  curl_easy_reset(h);
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_POST, 1L);
  curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(connect_ms));
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(total_ms));
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &AppendToString);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &ex.body);
  curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
  struct curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
  headers = curl_slist_append(headers, "Expect:");
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
  ex.curl = curl_easy_perform(h);
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &ex.http);
  long request_size = 0;
  curl_easy_getinfo(h, CURLINFO_REQUEST_SIZE, &request_size);
  ex.sent = request_size > 0;
  curl_slist_free_all(headers);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, nullptr);
  return ex;
}

// Splits a stream of concatenated JSON objects (the gateway writes one per message,
// newline-separated) into whole objects, tracking brace depth outside of strings.
class JsonStreamSplitter {
 public:
  // Appends bytes; returns false when one message exceeds kMaxWatchMessageBytes.
  bool Feed(const char* data, size_t n, std::vector<std::string>* out) {
    for (size_t i = 0; i < n; ++i) {
      const char c = data[i];
      if (depth_ == 0 && c != '{') continue;  // whitespace between messages
      current_.push_back(c);
      if (current_.size() > kMaxWatchMessageBytes) return false;
      if (in_string_) {
        if (escape_) {
          escape_ = false;
        } else if (c == '\\') {
          escape_ = true;
        } else if (c == '"') {
          in_string_ = false;
        }
        continue;
      }
      if (c == '"') {
        in_string_ = true;
      } else if (c == '{') {
        ++depth_;
      } else if (c == '}') {
        if (--depth_ == 0) {
          out->push_back(std::move(current_));
          current_.clear();
        }
      }
    }
    return true;
  }

 private:
  std::string current_;
  int depth_ = 0;
  bool in_string_ = false;
  bool escape_ = false;
};

}  // namespace

// ---------------------------------------------------------------------------------------
// Value helpers

Result<EtcdOptions> ParseEtcdEndpoints(std::string_view comma_separated) {
  EtcdOptions options;
  size_t start = 0;
  while (start <= comma_separated.size()) {
    size_t comma = comma_separated.find(',', start);
    if (comma == std::string_view::npos) comma = comma_separated.size();
    std::string e = Trim(comma_separated.substr(start, comma - start));
    if (!e.empty()) {
      if (!ValidEndpoint(e)) {
        return Status::InvalidArgument("etcd endpoint '" + e + "' is not http(s)://host:port");
      }
      if (e.back() == '/') e.pop_back();
      options.endpoints.push_back(std::move(e));
    }
    start = comma + 1;
  }
  if (options.endpoints.empty()) return Status::InvalidArgument("no etcd endpoint given");
  if (options.endpoints.size() > kMaxEtcdEndpoints) {
    return Status::InvalidArgument("more than " + std::to_string(kMaxEtcdEndpoints) +
                                   " etcd endpoints");
  }
  return options;
}

Compare Compare::KeyMissing(std::string key) { return CreateRevisionIs(std::move(key), 0); }
Compare Compare::CreateRevisionIs(std::string key, int64_t revision) {
  Compare c;
  c.key = std::move(key);
  c.target = Target::kCreateRevision;
  c.number = revision;
  return c;
}
Compare Compare::ModRevisionIs(std::string key, int64_t revision) {
  Compare c;
  c.key = std::move(key);
  c.target = Target::kModRevision;
  c.number = revision;
  return c;
}
Compare Compare::ValueIs(std::string key, std::string value) {
  Compare c;
  c.key = std::move(key);
  c.target = Target::kValue;
  c.value = std::move(value);
  return c;
}

TxnOp TxnOp::Put(std::string key, std::string value, LeaseId lease) {
  TxnOp op;
  op.type = Type::kPut;
  op.key = std::move(key);
  op.value = std::move(value);
  op.lease = lease;
  return op;
}
TxnOp TxnOp::Get(std::string key) {
  TxnOp op;
  op.type = Type::kRange;
  op.key = std::move(key);
  return op;
}
TxnOp TxnOp::Delete(std::string key) {
  TxnOp op;
  op.type = Type::kDelete;
  op.key = std::move(key);
  return op;
}

// ---------------------------------------------------------------------------------------
// EtcdClient

Result<std::shared_ptr<EtcdClient>> EtcdClient::Create(EtcdOptions options) {
  if (options.endpoints.empty()) return Status::InvalidArgument("no etcd endpoint given");
  if (options.endpoints.size() > kMaxEtcdEndpoints) {
    return Status::InvalidArgument("more than " + std::to_string(kMaxEtcdEndpoints) +
                                   " etcd endpoints");
  }
  for (auto& e : options.endpoints) {
    if (!ValidEndpoint(e)) {
      return Status::InvalidArgument("etcd endpoint '" + e + "' is not http(s)://host:port");
    }
    if (e.back() == '/') e.pop_back();
  }
  if (options.request_timeout <= Duration::zero()) {
    return Status::InvalidArgument("etcd request timeout must be positive");
  }
  if (options.connect_timeout <= Duration::zero() ||
      options.connect_timeout > options.request_timeout) {
    options.connect_timeout = options.request_timeout;
  }
  GlobalCurlInit();
  return std::shared_ptr<EtcdClient>(new EtcdClient(std::move(options)));
}

EtcdClient::EtcdClient(EtcdOptions options) : options_(std::move(options)) {}

EtcdClient::~EtcdClient() {
  std::lock_guard<std::mutex> lock(pool_mu_);
  for (void* h : idle_handles_) curl_easy_cleanup(static_cast<CURL*>(h));
  idle_handles_.clear();
}

void* EtcdClient::AcquireHandle() {
  {
    std::lock_guard<std::mutex> lock(pool_mu_);
    if (!idle_handles_.empty()) {
      void* h = idle_handles_.back();
      idle_handles_.pop_back();
      return h;
    }
  }
  return curl_easy_init();
}

void EtcdClient::ReleaseHandle(void* handle) {
  if (handle == nullptr) return;
  std::lock_guard<std::mutex> lock(pool_mu_);
  if (idle_handles_.size() < kMaxIdleCurlHandles) {
    idle_handles_.push_back(handle);
  } else {
    curl_easy_cleanup(static_cast<CURL*>(handle));
  }
}

void EtcdClient::MarkEndpointFailed(size_t index) {
  size_t expected = preferred_.load();
  if (expected % options_.endpoints.size() == index) {
    preferred_.compare_exchange_strong(expected, index + 1);
  }
}

Result<Json> EtcdClient::Call(std::string_view path, const Json& body) {
  std::string payload;
  try {
    payload = body.dump();
  } catch (const std::exception& e) {
    return Status::InvalidArgument(std::string("cannot encode etcd request: ") + e.what());
  }
  CURL* h = static_cast<CURL*>(AcquireHandle());
  if (h == nullptr) return Status::ResourceExhausted("curl_easy_init failed");
  const auto deadline = SteadyClock::now() + options_.request_timeout;
  const size_t n = options_.endpoints.size();
  const size_t first = PreferredEndpoint();
  std::string failures;
  for (size_t attempt = 0; attempt < n; ++attempt) {
    const size_t index = (first + attempt) % n;
    const auto remaining = deadline - SteadyClock::now();
    if (remaining <= Duration::zero()) break;
    const int64_t total_ms = ToMillis(remaining);
    const int64_t connect_ms = std::min(total_ms, ToMillis(options_.connect_timeout));
    const std::string url = options_.endpoints[index] + std::string(path);
    Exchange ex = Post(h, url, payload, connect_ms, total_ms);
    if (ex.curl != CURLE_OK) {
      if (ex.sent && ex.curl == CURLE_OPERATION_TIMEDOUT) {
        // A hung member (stopped, overloaded, partitioned from its leader): the next call
        // starts at another endpoint.
        MarkEndpointFailed(index);
        ReleaseHandle(h);
        return Status::DeadlineExceeded(
            "etcd " + std::string(path) + " at " + options_.endpoints[index] + " timed out after " +
            std::to_string(total_ms) + " ms (the operation may have been applied)");
      }
      if (ex.sent) {
        // The server got the request and the connection broke: it may have been applied,
        // so do not silently replay it elsewhere.
        MarkEndpointFailed(index);
        ReleaseHandle(h);
        return Status::Unavailable(
            "etcd " + std::string(path) + " at " + options_.endpoints[index] +
            " failed after the request was sent: " + curl_easy_strerror(ex.curl));
      }
      failures += options_.endpoints[index] + ": " + curl_easy_strerror(ex.curl) + "; ";
      MarkEndpointFailed(index);
      continue;
    }
    Json reply;
    reply = Json::parse(ex.body, nullptr, /*allow_exceptions=*/false);
    if (ex.http == 200) {
      ReleaseHandle(h);
      if (reply.is_discarded() || !reply.is_object()) {
        return Status::MalformedMessage("etcd " + std::string(path) + " replied with non-JSON");
      }
      return reply;
    }
    if (reply.is_discarded() || !reply.is_object()) {
      ReleaseHandle(h);
      if (ex.http == 404) {
        return Status::NotSupported("etcd gateway at " + options_.endpoints[index] + " has no " +
                                    std::string(path));
      }
      return Status::MalformedMessage("etcd " + std::string(path) + " answered HTTP " +
                                      std::to_string(ex.http) + " without a JSON error");
    }
    int grpc = 2;
    if (auto it = reply.find("code"); it != reply.end() && it->is_number_integer()) {
      grpc = it->get<int>();
    }
    std::string message = reply.value("message", reply.value("error", std::string()));
    if (grpc == 14) {  // unavailable: no leader, member stopping. Try the next member.
      failures += options_.endpoints[index] + ": " + message + "; ";
      MarkEndpointFailed(index);
      continue;
    }
    ReleaseHandle(h);
    return Status(GrpcToErrorCode(grpc), "etcd " + std::string(path) + ": " + message);
  }
  ReleaseHandle(h);
  if (failures.empty()) failures = "deadline passed before any endpoint was tried";
  return Status::Unavailable("no etcd endpoint answered " + std::string(path) + " within " +
                             std::to_string(ToMillis(options_.request_timeout)) +
                             " ms: " + failures);
}

Result<int64_t> EtcdClient::Put(std::string_view key, std::string_view value, LeaseId lease) {
  Json body = {{"key", Base64Encode(key)}, {"value", Base64Encode(value)}};
  if (lease.valid()) body["lease"] = std::to_string(lease.value);
  CVFS_ASSIGN_OR_RETURN(Json reply, Call("/v3/kv/put", body));
  return HeaderRevision(reply);
}

namespace {
Result<RangeResponse> DecodeRange(const Json& reply) {
  RangeResponse r;
  CVFS_ASSIGN_OR_RETURN(r.revision, HeaderRevision(reply));
  CVFS_ASSIGN_OR_RETURN(r.kvs, DecodeKvs(reply));
  CVFS_ASSIGN_OR_RETURN(r.count, GetInt64(reply, "count"));
  r.more = reply.value("more", false);
  return r;
}
}  // namespace

Result<RangeResponse> EtcdClient::Get(std::string_view key) {
  CVFS_ASSIGN_OR_RETURN(Json reply, Call("/v3/kv/range", Json{{"key", Base64Encode(key)}}));
  return DecodeRange(reply);
}

Result<RangeResponse> EtcdClient::GetPrefix(std::string_view prefix) {
  Json body = {{"key", Base64Encode(prefix)}, {"range_end", Base64Encode(PrefixRangeEnd(prefix))}};
  CVFS_ASSIGN_OR_RETURN(Json reply, Call("/v3/kv/range", body));
  return DecodeRange(reply);
}

Result<int64_t> EtcdClient::Delete(std::string_view key) {
  CVFS_ASSIGN_OR_RETURN(Json reply, Call("/v3/kv/deleterange", Json{{"key", Base64Encode(key)}}));
  return GetInt64(reply, "deleted");
}

Result<int64_t> EtcdClient::DeletePrefix(std::string_view prefix) {
  Json body = {{"key", Base64Encode(prefix)}, {"range_end", Base64Encode(PrefixRangeEnd(prefix))}};
  CVFS_ASSIGN_OR_RETURN(Json reply, Call("/v3/kv/deleterange", body));
  return GetInt64(reply, "deleted");
}

Result<TxnResponse> EtcdClient::Txn(const std::vector<Compare>& compares,
                                    const std::vector<TxnOp>& success,
                                    const std::vector<TxnOp>& failure) {
  Json body = {{"compare", Json::array()}, {"success", Json::array()}, {"failure", Json::array()}};
  for (const auto& c : compares) body["compare"].push_back(EncodeCompare(c));
  for (const auto& op : success) body["success"].push_back(EncodeOp(op));
  for (const auto& op : failure) body["failure"].push_back(EncodeOp(op));
  CVFS_ASSIGN_OR_RETURN(Json reply, Call("/v3/kv/txn", body));
  TxnResponse r;
  r.succeeded = reply.value("succeeded", false);
  CVFS_ASSIGN_OR_RETURN(r.revision, HeaderRevision(reply));
  auto it = reply.find("responses");
  if (it != reply.end() && it->is_array()) {
    for (const auto& resp : *it) {
      TxnOpResponse op;
      if (!resp.is_object()) return Status::MalformedMessage("etcd txn response not an object");
      if (auto rr = resp.find("response_range"); rr != resp.end()) {
        CVFS_ASSIGN_OR_RETURN(op.kvs, DecodeKvs(*rr));
      } else if (auto dr = resp.find("response_delete_range"); dr != resp.end()) {
        CVFS_ASSIGN_OR_RETURN(op.deleted, GetInt64(*dr, "deleted"));
      }
      r.responses.push_back(std::move(op));
    }
  }
  return r;
}

Result<Lease> EtcdClient::LeaseGrant(int64_t ttl_seconds) {
  if (ttl_seconds <= 0) return Status::InvalidArgument("lease TTL must be positive");
  CVFS_ASSIGN_OR_RETURN(Json reply,
                        Call("/v3/lease/grant", Json{{"TTL", std::to_string(ttl_seconds)}}));
  if (reply.contains("error") && reply["error"].is_string() &&
      !reply["error"].get<std::string>().empty()) {
    return Status::Unavailable("etcd lease grant: " + reply["error"].get<std::string>());
  }
  Lease lease;
  CVFS_ASSIGN_OR_RETURN(lease.id.value, GetInt64(reply, "ID"));
  CVFS_ASSIGN_OR_RETURN(lease.ttl_seconds, GetInt64(reply, "TTL"));
  if (!lease.id.valid()) return Status::MalformedMessage("etcd lease grant returned no ID");
  return lease;
}

Result<int64_t> EtcdClient::LeaseKeepAlive(LeaseId lease) {
  CVFS_ASSIGN_OR_RETURN(Json reply,
                        Call("/v3/lease/keepalive", Json{{"ID", std::to_string(lease.value)}}));
  // A streaming RPC: the gateway wraps the one reply in {"result": ...} (or "error").
  auto err = reply.find("error");
  if (err != reply.end() && err->is_object()) {
    int grpc = err->value("grpc_code", 2);
    return Status(GrpcToErrorCode(grpc), "etcd lease keepalive: " + err->value("message", ""));
  }
  auto it = reply.find("result");
  if (it == reply.end() || !it->is_object()) {
    return Status::MalformedMessage("etcd lease keepalive reply has no result");
  }
  CVFS_ASSIGN_OR_RETURN(int64_t ttl, GetInt64(*it, "TTL"));
  if (ttl <= 0) {
    return Status::NotFound("etcd lease " + std::to_string(lease.value) +
                            " does not exist (expired or revoked)");
  }
  return ttl;
}

Status EtcdClient::LeaseRevoke(LeaseId lease) {
  const Json body = {{"ID", std::to_string(lease.value)}};
  auto reply = Call("/v3/lease/revoke", body);
  if (!reply.ok() && reply.status().code() == ErrorCode::kNotSupported) {
    reply = Call("/v3/kv/lease/revoke", body);  // the path of older 3.x gateways
  }
  return reply.ok() ? Status::Ok() : reply.status();
}

// ---------------------------------------------------------------------------------------
// Watch

struct EtcdWatch::State {
  std::shared_ptr<EtcdClient> client;
  WatchOptions options;
  WatchCallback callback;
  std::thread thread;
  std::atomic<bool> stop{false};
  std::atomic<int64_t> last_revision{0};

  // Start handshake: the first `created` (or the first failure of every endpoint).
  std::mutex mu;
  std::condition_variable cv;
  bool start_done = false;  // guarded by mu
  Status start_status;      // guarded by mu

  // Per-connection parse state (watch thread only).
  JsonStreamSplitter splitter;
  bool created = false;
  bool cancel_connection = false;  // end this stream and reconnect
  bool overflow = false;
  bool ever_created = false;  // some connection was confirmed (watch thread only)

  void SignalStart(Status st) {
    std::lock_guard<std::mutex> lock(mu);
    if (start_done) return;
    start_done = true;
    start_status = std::move(st);
    cv.notify_all();
  }

  static size_t OnData(char* data, size_t size, size_t nmemb, void* user) {
    auto* self = static_cast<State*>(user);
    const size_t n = size * nmemb;
    std::vector<std::string> messages;
    if (!self->splitter.Feed(data, n, &messages)) {
      self->overflow = true;
      return 0;
    }
    for (const auto& m : messages) {
      self->HandleMessage(m);
      if (self->cancel_connection || self->stop.load()) return 0;
    }
    return n;
  }

  void HandleMessage(const std::string& text) {
    Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object()) {
      LOG_WARN("etcd.watch_bad_message key={} bytes={}", options.key, text.size());
      cancel_connection = true;
      return;
    }
    if (auto err = j.find("error"); err != j.end()) {
      LOG_WARN("etcd.watch_stream_error key={} error={}", options.key, err->dump());
      cancel_connection = true;
      return;
    }
    auto it = j.find("result");
    if (it == j.end() || !it->is_object()) {
      cancel_connection = true;
      return;
    }
    const Json& r = *it;
    auto header_rev = HeaderRevision(r);
    const int64_t rev = header_rev.ok() ? *header_rev : 0;
    auto compact = GetInt64(r, "compact_revision");
    if (compact.ok() && *compact > 0) {
      // History we needed is gone: the consumer must re-read. Resume from "now": the
      // consumer's re-read happens after this callback, so nothing is missed.
      auto now_rev = client->Get(options.key);
      int64_t resume = now_rev.ok() ? now_rev->revision : *compact;
      WatchBatch batch;
      batch.revision = resume;
      batch.resync_required = true;
      last_revision.store(std::max(last_revision.load(), resume));
      if (!created) {
        created = true;
        SignalStart(Status::Ok());
      }
      callback(batch);
      cancel_connection = true;
      return;
    }
    if (r.value("canceled", false)) {
      LOG_WARN("etcd.watch_canceled key={} reason={}", options.key,
               r.value("cancel_reason", std::string()));
      cancel_connection = true;
      return;
    }
    if (r.value("created", false)) {
      if (!created) {
        created = true;
        if (last_revision.load() == 0) last_revision.store(rev);
        SignalStart(Status::Ok());
      }
    }
    auto ev = r.find("events");
    if (ev == r.end() || !ev->is_array() || ev->empty()) return;
    WatchBatch batch;
    batch.revision = rev;
    int64_t highest = 0;
    for (const auto& e : *ev) {
      WatchEvent event;
      event.type = e.value("type", std::string("PUT")) == "DELETE" ? WatchEventType::kDelete
                                                                   : WatchEventType::kPut;
      auto kv = e.find("kv");
      if (kv == e.end()) continue;
      auto decoded = DecodeKeyValue(*kv);
      if (!decoded.ok()) {
        LOG_WARN("etcd.watch_bad_event key={} error={}", options.key, decoded.status().ToString());
        continue;
      }
      event.kv = std::move(decoded).value();
      if (auto pkv = e.find("prev_kv"); pkv != e.end()) {
        auto prev = DecodeKeyValue(*pkv);
        if (prev.ok()) event.prev_kv = std::move(prev).value();
      }
      highest = std::max(highest, event.kv.mod_revision);
      batch.events.push_back(std::move(event));
    }
    if (batch.events.empty()) return;
    if (batch.revision == 0) batch.revision = highest;
    callback(batch);
    last_revision.store(std::max(last_revision.load(), highest));
  }

  // One streaming connection to one endpoint; returns when it ends.
  void RunConnection(const std::string& endpoint) {
    splitter = JsonStreamSplitter();
    created = false;
    cancel_connection = false;
    overflow = false;
    Json create = {{"key", Base64Encode(options.key)}};
    if (!options.range_end.empty()) create["range_end"] = Base64Encode(options.range_end);
    const int64_t last = last_revision.load();
    int64_t start = last > 0 ? last + 1 : options.start_revision;
    if (start > 0) create["start_revision"] = std::to_string(start);
    if (options.prev_kv) create["prev_kv"] = true;
    const std::string body = Json{{"create_request", create}}.dump();
    const std::string url = endpoint + "/v3/watch";

    CURL* h = curl_easy_init();
    CURLM* multi = curl_multi_init();
    if (h == nullptr || multi == nullptr) {
      if (h) curl_easy_cleanup(h);
      if (multi) curl_multi_cleanup(multi);
      return;
    }
    struct curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
    headers = curl_slist_append(headers, "Expect:");
    curl_easy_setopt(h, CURLOPT_URL, url.c_str());
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                     static_cast<long>(ToMillis(client->options().connect_timeout)));
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &State::OnData);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, this);
    curl_multi_add_handle(multi, h);
    const auto created_deadline = SteadyClock::now() + client->options().request_timeout;
    int running = 1;
    while (!stop.load() && running > 0) {
      if (curl_multi_perform(multi, &running) != CURLM_OK) break;
      if (running == 0 || cancel_connection) break;
      if (!created && SteadyClock::now() > created_deadline) break;
      int numfds = 0;
      curl_multi_poll(multi, nullptr, 0, static_cast<int>(ToMillis(kWatchStopLatency) / 2),
                      &numfds);
    }
    int msgs = 0;
    while (CURLMsg* m = curl_multi_info_read(multi, &msgs)) {
      if (m->msg == CURLMSG_DONE && m->data.result != CURLE_OK && !stop.load() &&
          !cancel_connection) {
        LOG_DEBUG("etcd.watch_disconnected endpoint={} error={}", endpoint,
                  curl_easy_strerror(m->data.result));
      }
    }
    if (overflow) LOG_WARN("etcd.watch_message_too_large key={}", options.key);
    curl_multi_remove_handle(multi, h);
    curl_easy_cleanup(h);
    curl_multi_cleanup(multi);
    curl_slist_free_all(headers);
  }

  void Run() {
    const auto& endpoints = client->options().endpoints;
    size_t index = client->PreferredEndpoint();
    Duration backoff = kWatchRetryInitialBackoff;
    size_t failed_in_a_row = 0;
    while (!stop.load()) {
      RunConnection(endpoints[index]);
      ever_created = ever_created || created;
      if (stop.load()) break;
      const bool got_created = created;
      if (!got_created) {
        client->MarkEndpointFailed(index);
        ++failed_in_a_row;
        if (!ever_created && failed_in_a_row >= endpoints.size()) {
          SignalStart(Status::Unavailable("no etcd endpoint accepted a watch on " + options.key));
          return;
        }
      } else {
        failed_in_a_row = 0;
        backoff = kWatchRetryInitialBackoff;
        if (!cancel_connection) {
          LOG_WARN("etcd.watch_reconnecting key={} endpoint={} from_revision={}", options.key,
                   endpoints[index], last_revision.load() + 1);
        }
      }
      index = (index + 1) % endpoints.size();
      if (cancel_connection && got_created) continue;  // resync / cancel: reconnect at once
      // Bounded backoff, slept in small steps so Stop() stays prompt.
      const auto wake = SteadyClock::now() + backoff;
      while (!stop.load() && SteadyClock::now() < wake) {
        std::this_thread::sleep_for(
            std::min<Duration>(kWatchStopLatency / 2, wake - SteadyClock::now()));
      }
      backoff = std::min<Duration>(backoff * 2, kWatchRetryMaxBackoff);
    }
  }
};

EtcdWatch::EtcdWatch(std::shared_ptr<State> state) : state_(std::move(state)) {}

EtcdWatch::~EtcdWatch() { Stop(); }

void EtcdWatch::Stop() {
  if (!state_) return;
  state_->stop.store(true);
  if (state_->thread.joinable()) {
    assert(state_->thread.get_id() != std::this_thread::get_id() &&
           "EtcdWatch::Stop called from its own callback");
    state_->thread.join();
  }
}

int64_t EtcdWatch::last_revision() const { return state_ ? state_->last_revision.load() : 0; }

Result<std::unique_ptr<EtcdWatch>> EtcdClient::Watch(WatchOptions options, WatchCallback callback) {
  if (options.key.empty()) return Status::InvalidArgument("watch of an empty key");
  if (!callback) return Status::InvalidArgument("watch without a callback");
  auto state = std::make_shared<EtcdWatch::State>();
  state->client = shared_from_this();
  state->options = std::move(options);
  state->callback = std::move(callback);
  if (state->options.start_revision > 0) {
    state->last_revision.store(state->options.start_revision - 1);
  }
  state->thread = std::thread([s = state.get()] { s->Run(); });
  Status start;
  {
    std::unique_lock<std::mutex> lock(state->mu);
    // Each endpoint gets at most request_timeout to confirm; then Run() gives up.
    const auto wait = options_.request_timeout * (options_.endpoints.size() + 1) +
                      kWatchRetryMaxBackoff * options_.endpoints.size();
    if (!state->cv.wait_for(lock, wait, [&] { return state->start_done; })) {
      state->start_status =
          Status::Unavailable("watch on " + state->options.key + " was not confirmed in time");
    }
    start = state->start_status;
  }
  auto watch = std::unique_ptr<EtcdWatch>(new EtcdWatch(state));
  if (!start.ok()) {
    watch->Stop();
    return start;
  }
  return watch;
}

}  // namespace cvfs::control
