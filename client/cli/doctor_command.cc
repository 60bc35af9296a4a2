// `cvfs doctor [--json] [--config PATH] [--provider P]`: this node's health, fit for a
// Slurm HealthCheckProgram or prolog: exit 0 when every check passes (warnings allowed),
// 1 when any check fails.
#include <cstdio>
#include <filesystem>

#include "client/cli/commands.h"
#include "cvfs/admin.h"

namespace cvfs::cli {

namespace {

constexpr const char* kDefaultConfig = "/etc/cvfs/cvfsd.toml";

void PrintHuman(const nlohmann::json& report) {
  std::printf("node %s (%s)\n", report.value("node", "").c_str(), report.value("role", "").c_str());
  for (const auto& check : report.value("checks", nlohmann::json::array())) {
    const std::string severity = check.value("severity", "");
    const char* mark = severity == "error"     ? "FAIL"
                       : severity == "warning" ? "WARN"
                       : severity == "info"    ? "info"
                                               : " ok ";
    std::printf("[%s] %-10s %s\n", mark, check.value("name", "").c_str(),
                check.value("summary", "").c_str());
    const std::string detail = check.value("detail", "");
    if (!detail.empty()) std::printf("       %s\n", detail.c_str());
  }
  std::printf("%s\n", report.value("ok", false) ? "healthy" : "UNHEALTHY");
}

}  // namespace

void RegisterDoctorCommand(CLI::App& app, GlobalOptions& global, int* rc) {
  CLI::App* cmd = app.add_subcommand(
      "doctor", "check this node: RDMA devices, fabric providers, MUNGE, etcd, cvfsd, drives");
  auto json = std::make_shared<bool>(false);
  auto config = std::make_shared<std::string>();
  auto provider = std::make_shared<std::string>();
  auto no_etcd = std::make_shared<bool>(false);
  cmd->add_flag("--json", *json, "machine-readable report");
  cmd->add_option("--config", *config,
                  std::string("this node's cvfsd config (default ") + kDefaultConfig +
                      " if present; none: a client-only node)");
  cmd->add_option("--provider", *provider, "fabric provider this node must support");
  cmd->add_flag("--no-etcd", *no_etcd, "skip the control-plane checks");
  cmd->callback([&global, rc, json, config, provider, no_etcd] {
    InitCommandLogging(global);
    DoctorOptions options;
    if (!*no_etcd) {
      options.etcd_endpoints = global.EtcdEndpoints();
      options.etcd_from_config = !global.etcd_given;
    }
    options.cluster = global.cluster;
    options.munge_socket = global.munge_socket;
    options.config_path = *config;
    if (options.config_path.empty() && std::filesystem::exists(kDefaultConfig)) {
      options.config_path = kDefaultConfig;
    }
    options.provider = *provider;
    options.timeout_ms = global.timeout_ms < 3000 ? global.timeout_ms : 3000;
    const nlohmann::json report = RunDoctor(options);
    if (*json) {
      PrintJson(report);
    } else {
      PrintHuman(report);
    }
    *rc = report.value("ok", false) ? kExitOk : kExitUnhealthy;
  });
}

}  // namespace cvfs::cli
