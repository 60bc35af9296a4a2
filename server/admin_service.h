// The cvfsd administration service: RPCs that change a running node on an administrator's
// request (`cvfs drive add`). Every method requires a MUNGE-authenticated caller with uid 0;
// anyone else gets kPermissionDenied and nothing changes.
//
// Methods (net/wire/methods.h):
//   kAddDrive  request {"path": absolute directory on this node}
//              reply   {"index", "path", "capacity_bytes", "free_bytes"}
//              errors  kInvalidArgument (bad request), the add_drive hook's own Status
//              (kAlreadyExists, kConfigError, ...), kNotSupported when no hook is set.
//   kScrubStatus request {} (ignored); reply the scrubber's state JSON (server/data/scrubber.h,
//              Scrubber::StateJson). Any authenticated caller: it changes nothing.
//   kScrubStart  request {} (ignored); reply {"pass": number of the pass that runs now}.
//              uid 0 only. kNotSupported when no hook is set.
//
// The service owns no state: the daemon supplies what each method does through hooks, so
// the daemon decides what else an added drive needs (its cell store, a new registration).
// Thread-safety: handlers run on the endpoint's worker threads, concurrently; hooks must be
// thread-safe.
#pragma once

#include <functional>
#include <string>

#include "core/status.h"
#include "net/rpc.h"
#include "server/drive_set.h"

namespace cvfs::server {

struct AdminServiceHooks {
  // Adds the drive directory `path` and returns its index and figures. Runs on a worker
  // thread; may block (labelling, statvfs, opening a store).
  std::function<Result<AddedDrive>(const std::string& path)> add_drive;
  // Replaces drive `index` with the fresh directory `path` (`cvfs drive replace`).
  std::function<Result<AddedDrive>(size_t index, const std::string& path)> replace_drive;
  // The scrubber's state JSON, and a request for a pass now (returns its number).
  std::function<std::string()> scrub_status;
  std::function<uint64_t()> scrub_start;
};

// The handlers of kScrubStatus and kScrubStart, exposed for unit tests.
Result<std::string> HandleScrubStatus(const AdminServiceHooks& hooks,
                                      const net::RpcContext& context);
Result<std::string> HandleScrubStart(const AdminServiceHooks& hooks,
                                     const net::RpcContext& context);

// Registers the service's handlers on `endpoint` (before peers may call them).
void RegisterAdminService(net::RpcEndpoint& endpoint, AdminServiceHooks hooks);

// The handler of kReplaceDrive ({index, path}), exposed for unit tests.
Result<std::string> HandleReplaceDrive(const AdminServiceHooks& hooks,
                                       const net::RpcContext& context, std::string_view request);

// The handler of kAddDrive, exposed for unit tests.
Result<std::string> HandleAddDrive(const AdminServiceHooks& hooks, const net::RpcContext& context,
                                   std::string_view request);

}  // namespace cvfs::server
