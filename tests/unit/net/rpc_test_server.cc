// Helper process for the net tests: one RpcEndpoint serving the test methods.
// Usage: rpc_test_server PROVIDER REQUIRE_AUTH(0|1) MUNGE_SOCKET|- [PORT]
// Prints "ADDRESS <address>" on stdout once serving, then runs until killed.
#include <unistd.h>

#include <cstdio>
#include <string>

#include "core/logging.h"
#include "net/rpc.h"
#include "tests/unit/net/net_test_support.h"

int main(int argc, char** argv) {
  if (argc != 4 && argc != 5) {
    std::fprintf(stderr, "usage: rpc_test_server PROVIDER REQUIRE_AUTH MUNGE_SOCKET|- [PORT]\n");
    return 2;
  }
  (void)cvfs::InitLogging({"rpc_test_server", "info", ""});  // stderr: stdout carries ADDRESS
  cvfs::net::RpcOptions options;
  options.provider = argv[1];
  options.require_auth = std::string(argv[2]) == "1";
  options.munge_socket = std::string(argv[3]) == "-" ? "" : argv[3];
  options.name = "rpc_test_server";
  if (argc == 5) options.port = static_cast<uint16_t>(std::stoul(argv[4]));
  auto ep = cvfs::net::RpcEndpoint::Create(options);
  if (!ep.ok()) {
    std::fprintf(stderr, "rpc_test_server: %s\n", ep.status().ToString().c_str());
    return 1;
  }
  cvfs::net::testing::RegisterTestHandlers(**ep);
  std::printf("ADDRESS %s\n", (*ep)->address().c_str());
  std::fflush(stdout);
  for (;;) pause();
}
