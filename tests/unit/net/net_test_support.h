// Helpers for the net/ tests: a private munged (own key and socket), and the
// rpc_test_server helper process. Real daemons and real processes, no mocks.
// Thread-safety: one owner thread per object.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

#include "core/status.h"
#include "net/rpc.h"
#include "tests/cluster/services.h"

namespace cvfs::net::testing {

// Both providers every net test runs on.
inline const std::vector<std::string> kProviders = {"tcp;ofi_rxm", "shm"};

// Test method ids (Method::kFirstTest range), served by rpc_test_server and the in-process
// test endpoints.
enum TestMethod : uint16_t {
  kEcho = 60000,            // returns the payload
  kFail = 60001,            // returns Status(kConflict, "conflict: " + payload)
  kSleepMs = 60002,         // sleeps decimal(payload) ms, then returns "slept"
  kFillRegion = 60003,      // payload: RemoteRegion + u8 seed: RmaWrite a pattern into it
  kChecksumRegion = 60004,  // payload: RemoteRegion: RmaRead it, reply FNV-1a hash
};

// Deterministic pattern and checksum shared by tests and the helper server.
void FillPattern(char* data, size_t len, uint8_t seed);
uint64_t Fnv1a(const char* data, size_t len);

// Registers the TestMethod handlers on `ep`.
void RegisterTestHandlers(RpcEndpoint& ep);

// A munged with its own key and socket in a fresh temp dir (the shared MungeDaemon of
// tests/cluster/services.h); killed and its directory removed on destruction.
class PrivateMunged {
 public:
  // `key_file` empty: a fresh random key.
  static Result<std::unique_ptr<PrivateMunged>> Start(const std::string& key_file = "");
  ~PrivateMunged();
  const std::string& socket() const { return daemon_->socket_path(); }
  const std::string& key() const { return daemon_->key_file(); }

 private:
  PrivateMunged() = default;
  std::string dir_;
  std::unique_ptr<cvfs::testing::MungeDaemon> daemon_;
};

// The rpc_test_server helper: prints its address, serves until killed.
class ServerProcess {
 public:
  // `port` 0: any free port (tcp); otherwise that port, e.g. to restart at one address.
  static Result<std::unique_ptr<ServerProcess>> Start(const std::string& provider,
                                                      bool require_auth,
                                                      const std::string& munge_socket,
                                                      uint16_t port = 0);
  ~ServerProcess();  // Kill()
  const std::string& address() const { return address_; }
  pid_t pid() const { return pid_; }
  // SIGKILL and reap.
  void Kill();

 private:
  ServerProcess() = default;
  pid_t pid_ = -1;
  std::string address_;
};

}  // namespace cvfs::net::testing
