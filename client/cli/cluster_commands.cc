// `cvfs cluster create NAME`.
#include <iostream>

#include "client/cli/commands.h"
#include "core/logging.h"
#include "cvfs/admin.h"

namespace cvfs::cli {

void InitCommandLogging(const GlobalOptions& global) {
  (void)InitLogging({"cvfs", global.log_level, ""});
}

void RegisterClusterCommands(CLI::App& app, GlobalOptions& global, int* rc) {
  CLI::App* cluster = app.add_subcommand("cluster", "cluster-wide setup");
  cluster->require_subcommand(1);
  CLI::App* create = cluster->add_subcommand(
      "create", "create a cluster record in etcd; cvfsd nodes of that cluster then join it");
  auto name = std::make_shared<std::string>();
  create->add_option("name", *name, "cluster name (letters, digits, '-', '_', '.')")->required();
  create->callback([&global, rc, name] {
    InitCommandLogging(global);
    if (Status st = ValidateClusterName(*name); !st.ok()) {
      *rc = Fail("cluster create", st);
      return;
    }
    AdminOptions options;
    options.etcd_endpoints = global.EtcdEndpoints();
    options.cluster = *name;
    options.timeout_ms = global.timeout_ms;
    auto admin = AdminClient::Connect(options);
    if (!admin.ok()) {
      *rc = Fail("cluster create", admin.status());
      return;
    }
    if (Status st = (*admin)->CreateCluster(*name); !st.ok()) {
      *rc = Fail("cluster create " + *name, st);
      return;
    }
    std::cout << "cluster " << *name << " created\n";
    *rc = kExitOk;
  });
}

}  // namespace cvfs::cli
