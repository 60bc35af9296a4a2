// Registration of the `cvfs` subcommands. Each Register* adds its subcommand to `app`;
// the subcommand's callback runs the command and stores its exit code in *rc.
// Thread-safety: single-threaded tool.
#pragma once

#include <CLI/CLI.hpp>

#include "client/cli/cli_common.h"
#include "cvfs/admin.h"

namespace cvfs::cli {

void RegisterClusterCommands(CLI::App& app, GlobalOptions& global, int* rc);
void RegisterStatusCommand(CLI::App& app, GlobalOptions& global, int* rc);
void RegisterDoctorCommand(CLI::App& app, GlobalOptions& global, int* rc);
// `fs create|list|status` and `drive add`.
void RegisterFsCommands(CLI::App& app, GlobalOptions& global, int* rc);
// `object put|get|truncate`: the low-level data API from the command line.
void RegisterObjectCommands(CLI::App& app, GlobalOptions& global, int* rc);
// `fsck FS [--repair]`: the namespace check (kMetaFsck to a cvfsd), root only.
void RegisterFsckCommand(CLI::App& app, GlobalOptions& global, int* rc);
// rebuild_commands.cc: `cvfs rebuild status`.
void RegisterRebuildCommands(CLI::App& app, GlobalOptions& global, int* rc);

// `scrub status|start`: the scrubbers of the nodes (start: root only).
void RegisterScrubCommands(CLI::App& app, GlobalOptions& global, int* rc);

// Sets up logging for a command (stderr, global.log_level).
void InitCommandLogging(const GlobalOptions& global);
// InitCommandLogging, then the admin client for the cluster the global options name
// (kInvalidArgument when none is named).
Result<std::unique_ptr<AdminClient>> ConnectAdmin(const GlobalOptions& global);
// node_commands.cc: `cvfs node drain|undrain`.
void RegisterNodeCommands(CLI::App& app, GlobalOptions& global, int* rc);
// maintenance_commands.cc: `cvfs maintenance enter|exit|list`.
void RegisterMaintenanceCommands(CLI::App& app, GlobalOptions& global, int* rc);
// The human lines of a status's "maintenance" object (grants and queue), for `cvfs status`
// and `cvfs maintenance list`.
void PrintMaintenance(const nlohmann::json& maintenance);
// drive_commands.cc: `cvfs drive add|replace|remove|unremove`.
void RegisterDriveCommands(CLI::App& app, GlobalOptions& global, int* rc);

// Polls the cluster status once a second until `slots_left(status)` is 0 and protection is
// "full" (a progress line on a terminal), for `cvfs node drain --wait` and `cvfs drive
// remove --wait`. Returns kExitOk, kExitTimeout after `timeout_s`, or the failure's code.
int WaitUntilEmptied(AdminClient& admin, const std::string& what, uint64_t initial,
                     const std::function<uint64_t(const nlohmann::json&)>& slots_left,
                     int timeout_s);

}  // namespace cvfs::cli
