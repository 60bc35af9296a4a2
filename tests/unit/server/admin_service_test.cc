// The admin service's kAddDrive handler: root only, request validation, the hook's result
// and errors carried to the caller.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "server/admin_service.h"

namespace cvfs::server {
namespace {

net::RpcContext Caller(uint32_t uid, bool authenticated = true) {
  net::RpcContext context;
  context.peer_name = "cvfs-admin";
  context.peer_uid = uid;
  context.authenticated = authenticated;
  return context;
}

TEST_CASE("AddDrive: root only, validated request, hook result as JSON") {
  int calls = 0;
  AdminServiceHooks hooks;
  hooks.add_drive = [&calls](const std::string& path) -> Result<AddedDrive> {
    ++calls;
    if (path == "/dup") return Status::AlreadyExists("drive /dup is in use already");
    return AddedDrive{3, DriveInfo{path, 1000, 400}};
  };
  const std::string request = R"({"path": "/data/d3"})";
  CHECK(HandleAddDrive(hooks, Caller(1000), request).status().code() ==
        ErrorCode::kPermissionDenied);
  CHECK(HandleAddDrive(hooks, Caller(0, false), request).status().code() ==
        ErrorCode::kPermissionDenied);
  CHECK(calls == 0);
  for (const char* bad : {"", "not json", "{}", R"({"path": 3})", R"({"path": "rel"})"}) {
    INFO(bad);
    CHECK(HandleAddDrive(hooks, Caller(0), bad).status().code() == ErrorCode::kInvalidArgument);
  }
  CHECK(calls == 0);
  auto reply = HandleAddDrive(hooks, Caller(0), request);
  REQUIRE(reply.ok());
  const auto json = nlohmann::json::parse(*reply);
  CHECK(json ==
        nlohmann::json{
            {"index", 3}, {"path", "/data/d3"}, {"capacity_bytes", 1000}, {"free_bytes", 400}});
  CHECK(HandleAddDrive(hooks, Caller(0), R"({"path": "/dup"})").status().code() ==
        ErrorCode::kAlreadyExists);
  CHECK(HandleAddDrive(AdminServiceHooks{}, Caller(0), request).status().code() ==
        ErrorCode::kNotSupported);
}

}  // namespace
}  // namespace cvfs::server
