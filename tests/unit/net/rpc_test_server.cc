// Helper process for the net tests: one RpcEndpoint serving the test methods.
// Usage: rpc_test_server PROVIDER REQUIRE_AUTH(0|1) MUNGE_SOCKET|- [PORT]
// Prints "ADDRESS <address>" on stdout once serving, then runs until killed.
#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <string>
#include <string_view>

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
  if (argc == 5) {
    const std::string_view text = argv[4];
    unsigned port = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), port);
    if (error != std::errc() || end != text.data() + text.size() || port == 0 || port > 65535) {
      std::fprintf(stderr, "rpc_test_server: PORT must be 1..65535, got '%s'\n", argv[4]);
      return 2;
    }
    options.port = static_cast<uint16_t>(port);
  }
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
