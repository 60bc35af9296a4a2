// The external services a ConvergeFS cluster needs, started privately for one test or demo:
// EtcdServer (one etcd member on free loopback ports) and MungeDaemon (munged with a
// freshly generated key and its own socket). Each instance owns a directory and kills its
// process in the destructor.
// Thread-safety: one owner thread.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "tests/cluster/child_process.h"

namespace cvfs::testing {

class EtcdServer {
 public:
  // Starts etcd with data under `dir` and waits (up to 15 s) until it serves requests.
  // It listens on 127.0.0.1 and, on the same port, on every address in `extra_hosts`
  // (a TestNetwork's bridge address, so nodes in network namespaces reach it).
  static Result<std::unique_ptr<EtcdServer>> Start(
      const std::string& dir, const std::vector<std::string>& extra_hosts = {});
  ~EtcdServer();

  // "http://127.0.0.1:PORT"
  const std::string& endpoint() const { return endpoint_; }
  uint16_t port() const { return port_; }
  ChildProcess& process() { return process_; }
  void Kill() { process_.Kill(); }
  // Kills the member if it runs and starts it again on the same ports and data directory;
  // waits until it serves requests.
  Status Restart();

 private:
  Status Spawn();
  std::string dir_;
  std::string listen_;
  std::string peer_;
  std::string endpoint_;
  uint16_t port_ = 0;
  ChildProcess process_;
};

class MungeDaemon {
 public:
  // Generates a 1024-byte key in `dir` and starts munged with its own socket there.
  // `key_file` non-empty: use that key instead (a second daemon of the same realm).
  static Result<std::unique_ptr<MungeDaemon>> Start(const std::string& dir,
                                                    const std::string& key_file = "");
  ~MungeDaemon();

  const std::string& socket_path() const { return socket_; }
  const std::string& key_file() const { return key_; }

 private:
  std::string dir_;
  std::string socket_;
  std::string key_;
  ChildProcess process_;
};

}  // namespace cvfs::testing
