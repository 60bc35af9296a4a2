#include "server/admin_service.h"

#include <memory>
#include <utility>

#include <nlohmann/json.hpp>

#include "core/logging.h"
#include "net/wire/methods.h"

namespace cvfs::server {
namespace {

// Only root administers a node: the MUNGE uid is the caller's real uid on its host.
Status RequireRoot(const net::RpcContext& context, std::string_view what) {
  if (!context.authenticated || context.peer_uid != 0) {
    LOG_WARN("admin.denied method={} peer={} uid={} authenticated={}", what, context.peer_name,
             context.peer_uid, context.authenticated);
    return Status::PermissionDenied(std::string(what) + " requires uid 0 (caller " +
                                    (context.authenticated
                                         ? "has uid " + std::to_string(context.peer_uid)
                                         : std::string("is not authenticated")) +
                                    ")");
  }
  return Status::Ok();
}

}  // namespace

Result<std::string> HandleAddDrive(const AdminServiceHooks& hooks, const net::RpcContext& context,
                                   std::string_view request) {
  CVFS_RETURN_IF_ERROR(RequireRoot(context, "drive add"));
  const auto json = nlohmann::json::parse(request, nullptr, /*allow_exceptions=*/false);
  if (!json.is_object() || !json.contains("path") || !json["path"].is_string()) {
    return Status::InvalidArgument("AddDrive request must be {\"path\": string}");
  }
  const std::string path = json["path"].get<std::string>();
  if (path.empty() || path[0] != '/') {
    return Status::InvalidArgument("drive path '" + path + "' must be absolute");
  }
  if (!hooks.add_drive) return Status::NotSupported("this cvfsd cannot add drives");
  Result<AddedDrive> added = hooks.add_drive(path);
  if (!added.ok()) {
    LOG_WARN("admin.add_drive_failed path={} peer={} error=\"{}\"", path, context.peer_name,
             added.status().ToString());
    return added.status();
  }
  LOG_INFO("admin.add_drive path={} index={} peer={}", path, added->index, context.peer_name);
  return nlohmann::json{{"index", added->index},
                        {"path", added->drive.path},
                        {"capacity_bytes", added->drive.capacity_bytes},
                        {"free_bytes", added->drive.free_bytes}}
      .dump();
}

Result<std::string> HandleReplaceDrive(const AdminServiceHooks& hooks,
                                       const net::RpcContext& context, std::string_view request) {
  CVFS_RETURN_IF_ERROR(RequireRoot(context, "drive replace"));
  const auto json = nlohmann::json::parse(request, nullptr, /*allow_exceptions=*/false);
  if (!json.is_object() || !json.contains("path") || !json["path"].is_string() ||
      !json.contains("index") || !json["index"].is_number_unsigned()) {
    return Status::InvalidArgument(
        "ReplaceDrive request must be {\"index\": unsigned, \"path\": string}");
  }
  const std::string path = json["path"].get<std::string>();
  const uint64_t index = json["index"].get<uint64_t>();
  if (path.empty() || path[0] != '/') {
    return Status::InvalidArgument("drive path '" + path + "' must be absolute");
  }
  if (index >= kMaxDrivesPerNode) {
    return Status::InvalidArgument("drive index " + std::to_string(index) + " out of range");
  }
  if (!hooks.replace_drive) return Status::NotSupported("this cvfsd cannot replace drives");
  Result<AddedDrive> replaced = hooks.replace_drive(static_cast<size_t>(index), path);
  if (!replaced.ok()) {
    LOG_WARN("admin.replace_drive_failed index={} path={} peer={} error=\"{}\"", index, path,
             context.peer_name, replaced.status().ToString());
    return replaced.status();
  }
  LOG_INFO("admin.replace_drive index={} path={} peer={}", index, path, context.peer_name);
  return nlohmann::json{{"index", replaced->index},
                        {"path", replaced->drive.path},
                        {"serial", replaced->drive.serial},
                        {"capacity_bytes", replaced->drive.capacity_bytes},
                        {"free_bytes", replaced->drive.free_bytes}}
      .dump();
}

Result<std::string> HandleScrubStatus(const AdminServiceHooks& hooks,
                                      const net::RpcContext& context) {
  if (!context.authenticated) {
    return Status::PermissionDenied("scrub status requires an authenticated caller");
  }
  if (!hooks.scrub_status) return Status::NotSupported("this cvfsd has no scrubber");
  return hooks.scrub_status();
}

Result<std::string> HandleScrubStart(const AdminServiceHooks& hooks,
                                     const net::RpcContext& context) {
  CVFS_RETURN_IF_ERROR(RequireRoot(context, "scrub start"));
  if (!hooks.scrub_start) return Status::NotSupported("this cvfsd has no scrubber");
  const uint64_t pass = hooks.scrub_start();
  LOG_INFO("admin.scrub_start pass={} peer={}", pass, context.peer_name);
  return nlohmann::json{{"pass", pass}}.dump();
}

void RegisterAdminService(net::RpcEndpoint& endpoint, AdminServiceHooks hooks) {
  auto shared = std::make_shared<const AdminServiceHooks>(std::move(hooks));
  endpoint.RegisterHandler(net::Method::kAddDrive,
                           [shared](const net::RpcContext& context, std::string_view request) {
                             return HandleAddDrive(*shared, context, request);
                           });
  endpoint.RegisterHandler(net::Method::kReplaceDrive,
                           [shared](const net::RpcContext& context, std::string_view request) {
                             return HandleReplaceDrive(*shared, context, request);
                           });
  endpoint.RegisterHandler(net::Method::kScrubStatus,
                           [shared](const net::RpcContext& context, std::string_view) {
                             return HandleScrubStatus(*shared, context);
                           });
  endpoint.RegisterHandler(net::Method::kScrubStart,
                           [shared](const net::RpcContext& context, std::string_view) {
                             return HandleScrubStart(*shared, context);
                           });
}

}  // namespace cvfs::server
