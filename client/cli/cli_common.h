// Shared pieces of the `cvfs` command-line tool: global options, the documented exit codes,
// and output helpers. Every command supports --json on what it reads, prints a clear
// one-line error on stderr, and returns one of the exit codes below (docs/admin/cli.md).
// Thread-safety: single-threaded tool.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "core/status.h"

namespace cvfs::cli {

// Stable exit codes: scripts (the Slurm hooks, health checks) rely on them.
enum ExitCode : int {
  kExitOk = 0,           // success; for status/doctor: healthy
  kExitUnhealthy = 1,    // the command worked and found a problem (node down, check failed)
  kExitUsage = 2,        // bad command line
  kExitUnavailable = 3,  // etcd or the cluster could not be reached
  kExitNotFound = 4,     // the cluster (or named object) does not exist
  kExitExists = 5,       // the object to create exists already
  kExitTimeout = 6,      // a --wait/--timeout expired
  kExitDenied = 7,       // not authenticated or not permitted
  kExitInternal = 10,    // anything else: a bug or an unexpected failure
};

struct GlobalOptions {
  std::string etcd = "http://127.0.0.1:2379";  // comma-separated endpoints; env CVFS_ETCD
  bool etcd_given = false;                     // set by --etcd or CVFS_ETCD
  std::string cluster;                         // env CVFS_CLUSTER
  std::string munge_socket;                    // env CVFS_MUNGE_SOCKET
  int timeout_ms = 5000;                       // per control-plane call
  std::string log_level = "warn";

  std::vector<std::string> EtcdEndpoints() const;
};

// Maps a failed Status to the exit code scripts see.
int ExitCodeFor(const Status& status);

// Prints "cvfs: <context>: <status>" on stderr and returns ExitCodeFor(status).
int Fail(const std::string& context, const Status& status);

// Prints JSON (pretty, 2 spaces) on stdout.
void PrintJson(const nlohmann::json& json);

// "1.5 GiB"
std::string HumanBytes(uint64_t bytes);

}  // namespace cvfs::cli
