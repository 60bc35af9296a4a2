// cvfs: the ConvergeFS administration tool. Global options come from flags or from the
// environment (CVFS_ETCD, CVFS_CLUSTER, CVFS_MUNGE_SOCKET), as written by
// `scripts/demo` into demo/cluster.env. Exit codes: client/cli/cli_common.h.
#include <CLI/CLI.hpp>

#include <cstdlib>
#include <iostream>

#include "client/cli/cli_common.h"
#include "client/cli/commands.h"
#include "core/logging.h"

int main(int argc, char** argv) {
  using namespace cvfs::cli;
  GlobalOptions global;
  if (const char* v = getenv("CVFS_ETCD")) {
    global.etcd = v;
    global.etcd_given = true;
  }
  if (const char* v = getenv("CVFS_CLUSTER")) global.cluster = v;
  if (const char* v = getenv("CVFS_MUNGE_SOCKET")) global.munge_socket = v;

  CLI::App app{
      "cvfs: administer a ConvergeFS cluster (status, cluster setup, filesystems, drives, node "
      "checks, scrub, maintenance)."};
  app.set_version_flag("--version", "cvfs " CVFS_VERSION);
  app.require_subcommand(1);
  app.fallthrough();  // global options may follow the command: `cvfs status --cluster x`
  app.add_option("--etcd", global.etcd, "etcd endpoints, comma-separated (env CVFS_ETCD)")
      ->each([&global](const std::string&) { global.etcd_given = true; });
  app.add_option("--cluster", global.cluster, "cluster name (env CVFS_CLUSTER)");
  app.add_option("--munge-socket", global.munge_socket, "munged socket (env CVFS_MUNGE_SOCKET)");
  app.add_option("--timeout-ms", global.timeout_ms, "timeout of each control-plane call")
      ->check(CLI::Range(1, 600000));
  app.add_option("--log-level", global.log_level, "trace, debug, info, warn, error");

  int rc = kExitOk;
  RegisterClusterCommands(app, global, &rc);
  RegisterStatusCommand(app, global, &rc);
  RegisterDoctorCommand(app, global, &rc);
  RegisterFsCommands(app, global, &rc);
  RegisterObjectCommands(app, global, &rc);
  RegisterFsckCommand(app, global, &rc);
  RegisterScrubCommands(app, global, &rc);
  RegisterRebuildCommands(app, global, &rc);
  RegisterNodeCommands(app, global, &rc);
  RegisterDriveCommands(app, global, &rc);
  RegisterMaintenanceCommands(app, global, &rc);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? kExitOk : kExitUsage;
  }
  return rc;
}
