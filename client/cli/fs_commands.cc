// `cvfs fs create|list|status`: defining filesystems (protection, cell
// size, PG count) and growing a node's drives. Exit codes as documented in docs/admin/cli.md:
// 2 for invalid arguments (including a protection the cluster cannot place), 4 for an unknown
// filesystem or node, 5 for a duplicate name or drive, 6 when placement did not happen in
// --timeout, 7 when cvfsd refused the caller; `fs status` exits 1 when the filesystem is not
// placed or has PGs with members down.
#include <cstdio>
#include <memory>
#include <string>

#include "client/cli/commands.h"
#include "core/stripe_layout.h"
#include "cvfs/admin.h"

namespace cvfs::cli {

Result<std::unique_ptr<AdminClient>> ConnectAdmin(const GlobalOptions& global) {
  InitCommandLogging(global);
  if (global.cluster.empty()) {
    return Status::InvalidArgument("no cluster named (--cluster or CVFS_CLUSTER)");
  }
  AdminOptions options;
  options.etcd_endpoints = global.EtcdEndpoints();
  options.cluster = global.cluster;
  options.timeout_ms = global.timeout_ms;
  options.munge_socket = global.munge_socket;
  return AdminClient::Connect(options);
}

namespace {

// "128 KiB", "1 MiB", "6144 B": exact, as a cell size is chosen.
std::string ExactBytes(uint64_t bytes) {
  if (bytes != 0 && bytes % (1u << 20) == 0) return std::to_string(bytes >> 20) + " MiB";
  if (bytes != 0 && bytes % (1u << 10) == 0) return std::to_string(bytes >> 10) + " KiB";
  return std::to_string(bytes) + " B";
}

std::string PlacementLine(const nlohmann::json& fs) {
  const auto& p = fs["placement"];
  if (!p.is_object()) return "not placed yet";
  char line[256];
  std::snprintf(
      line, sizeof(line),
      "%llu drives, cells per drive max/mean %.2f (max %llu, mean %.1f); primaries per "
      "node max %llu, mean %.1f",
      static_cast<unsigned long long>(p.value("drives", 0ull)), p.value("max_over_mean", 0.0),
      static_cast<unsigned long long>(p.value("max_cells", 0ull)), p.value("mean_cells", 0.0),
      static_cast<unsigned long long>(p.value("max_primaries", 0ull)),
      p.value("mean_primaries", 0.0));
  return line;
}

std::string Summary(const nlohmann::json& fs) {
  return fs.value("protection", "") + ", cell " + ExactBytes(fs.value("cell_bytes", 0ull)) + ", " +
         std::to_string(fs.value("pg_count", 0)) + " PGs";
}

bool Healthy(const nlohmann::json& fs) {
  return fs.value("placed", false) && fs.value("pgs_degraded", 0) == 0 &&
         fs.value("pgs_unavailable", 0) == 0;
}

void RegisterFsCreate(CLI::App& fs, GlobalOptions& global, int* rc) {
  CLI::App* cmd = fs.add_subcommand(
      "create", "define a filesystem and wait until the manager placed its PGs on the drives");
  struct Args {
    std::string name, protection, cell = "128K";
    uint32_t pgs = kDefaultFilesystemPgCount;
    int timeout_s = 30;
    bool json = false;
    bool root_squash = false;
  };
  auto args = std::make_shared<Args>();
  cmd->add_option("name", args->name, "filesystem name (letters, digits, '-', '_', '.')")
      ->required();
  cmd->add_option("--protection", args->protection,
                  "N+P: N data and P parity cells per stripe (N 2-16, P 2 or 4), e.g. 4+2")
      ->required();
  cmd->add_option("--cell", args->cell,
                  "cell size, a multiple of 4K from 4K to 16M (e.g. 128K, 1M); default 128K");
  cmd->add_option("--pgs", args->pgs,
                  "placement groups (default 256; raise it on clusters of many drives)")
      ->check(CLI::Range(1, 65536));
  cmd->add_option("--timeout", args->timeout_s, "seconds to wait for placement (default 30)")
      ->check(CLI::Range(1, 3600));
  cmd->add_flag("--root-squash", args->root_squash,
                "requests from uid 0 act as nobody (65534) in the namespace");
  cmd->add_flag("--json", args->json, "print the filesystem's status JSON");
  cmd->callback([&global, rc, args] {
    FilesystemCreateOptions options;
    options.root_squash = args->root_squash;
    options.name = args->name;
    if (Status st = ParseProtection(args->protection, &options.data_cells, &options.parity_cells);
        !st.ok()) {
      *rc = Fail("fs create", st);
      return;
    }
    Result<uint64_t> cell = ParseByteSize(args->cell);
    if (!cell.ok()) {
      *rc = Fail("fs create", cell.status());
      return;
    }
    options.cell_bytes = *cell;
    options.pg_count = args->pgs;
    options.wait_timeout_ms = args->timeout_s * 1000;
    if (Status st = ValidateFilesystemCreateOptions(options); !st.ok()) {
      *rc = Fail("fs create", st);
      return;
    }
    auto admin = ConnectAdmin(global);
    if (!admin.ok()) {
      *rc = Fail("fs create", admin.status());
      return;
    }
    Result<nlohmann::json> created = (*admin)->CreateFilesystem(options);
    if (!created.ok()) {
      *rc = Fail("fs create " + args->name, created.status());
      return;
    }
    if (args->json) {
      PrintJson(*created);
    } else {
      std::printf("created filesystem %s (id %llu): %s; placement: %s\n", args->name.c_str(),
                  static_cast<unsigned long long>(created->value("id", 0ull)),
                  Summary(*created).c_str(), PlacementLine(*created).c_str());
    }
    *rc = kExitOk;
  });
}

void RegisterFsList(CLI::App& fs, GlobalOptions& global, int* rc) {
  CLI::App* cmd = fs.add_subcommand("list", "list the filesystems with protection and health");
  auto json = std::make_shared<bool>(false);
  cmd->add_flag("--json", *json, "machine-readable: an array of filesystem status objects");
  cmd->callback([&global, rc, json] {
    auto admin = ConnectAdmin(global);
    if (!admin.ok()) {
      *rc = Fail("fs list", admin.status());
      return;
    }
    Result<nlohmann::json> list = (*admin)->ListFilesystems();
    if (!list.ok()) {
      *rc = Fail("fs list", list.status());
      return;
    }
    *rc = kExitOk;
    if (*json) {
      PrintJson(*list);
      return;
    }
    if (list->empty()) {
      std::printf("no filesystems: create one with `cvfs fs create NAME --protection 4+2`\n");
      return;
    }
    std::printf("%-20s %5s %-10s %9s %6s %-7s %9s %11s\n", "NAME", "ID", "PROTECTION", "CELL",
                "PGS", "PLACED", "DEGRADED", "UNAVAILABLE");
    for (const auto& f : *list) {
      std::printf("%-20s %5llu %-10s %9s %6d %-7s %9d %11d\n", f.value("name", "").c_str(),
                  static_cast<unsigned long long>(f.value("id", 0ull)),
                  f.value("protection", "").c_str(),
                  ExactBytes(f.value("cell_bytes", 0ull)).c_str(), f.value("pg_count", 0),
                  f.value("placed", false) ? "yes" : "no", f.value("pgs_degraded", 0),
                  f.value("pgs_unavailable", 0));
    }
  });
}

void RegisterFsStatus(CLI::App& fs, GlobalOptions& global, int* rc) {
  CLI::App* cmd = fs.add_subcommand(
      "status", "show one filesystem: protection, placement balance, PGs with members down");
  auto name = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  cmd->add_option("name", *name, "filesystem name")->required();
  cmd->add_flag("--json", *json, "machine-readable (stable interface, docs/admin/cli.md)");
  cmd->callback([&global, rc, name, json] {
    auto admin = ConnectAdmin(global);
    if (!admin.ok()) {
      *rc = Fail("fs status", admin.status());
      return;
    }
    Result<nlohmann::json> status = (*admin)->FilesystemStatus(*name);
    if (!status.ok()) {
      *rc = Fail("fs status " + *name, status.status());
      return;
    }
    if (*json) {
      PrintJson(*status);
    } else {
      const auto& s = *status;
      std::printf("filesystem %s (id %llu): %s, stripe %s\n", name->c_str(),
                  static_cast<unsigned long long>(s.value("id", 0ull)), Summary(s).c_str(),
                  ExactBytes(s.value("stripe_bytes", 0ull)).c_str());
      std::printf("placement: %s\n", PlacementLine(s).c_str());
      std::printf(
          "PGs: %d degraded (a member's node is not up), %d unavailable (fewer than %d "
          "members up); %d member slots down\n",
          s.value("pgs_degraded", 0), s.value("pgs_unavailable", 0), s.value("data_cells", 0),
          s.value("members_down", 0));
    }
    *rc = Healthy(*status) ? kExitOk : kExitUnhealthy;
  });
}

}  // namespace

void RegisterFsCommands(CLI::App& app, GlobalOptions& global, int* rc) {
  CLI::App* fs = app.add_subcommand("fs", "filesystems: create, list, status");
  fs->require_subcommand(1);
  RegisterFsCreate(*fs, global, rc);
  RegisterFsList(*fs, global, rc);
  RegisterFsStatus(*fs, global, rc);
}

}  // namespace cvfs::cli
