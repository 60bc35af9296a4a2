// MetaClient: sends metadata requests (net/wire/meta_messages.h) to the metadata primary of
// the PG that holds their subject, over a ClientSession (docs/design/namespace.md).
//   - Routing: the primary is the first up member among the PG's first P+1 (core/meta_routing).
//   - Retries: kNotPrimary, kUnavailable, kDeadlineExceeded and kResourceExhausted are
//     retried with a fresh map snapshot and backoff until the call's deadline, always with
//     the same request id, so the server applies a mutation exactly once.
//   - Identity: `who` (non-null) travels as the on-behalf identity, which the server honours
//     only from a root process.
// Thread-safety: every method may be called from many threads at once.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "client/session/client_session.h"
#include "core/clock.h"
#include "cvfs/filesystem.h"
#include "net/wire/meta_messages.h"
#include "net/wire/methods.h"

namespace cvfs::client {

class MetaClient {
 public:
  MetaClient(std::shared_ptr<ClientSession> session, Duration deadline);

  // Sends the payload `encode(header)` to PG `pg`'s metadata primary and returns the reply
  // payload, or the server's Status.
  Result<std::string> Call(uint32_t pg, net::Method method, const Identity* who,
                           const std::function<std::string(const net::wire::MetaHeader&)>& encode);

  uint64_t client_id() const { return client_id_; }
  uint64_t retries() const { return retries_; }

 private:
  const std::shared_ptr<ClientSession> session_;
  const Duration deadline_;
  const uint64_t client_id_;
  std::atomic<uint64_t> next_request_{1};
  std::atomic<uint64_t> retries_{0};
};

}  // namespace cvfs::client
