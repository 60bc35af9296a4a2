// `cvfs fsck FS [--repair] [--json]`: the namespace consistency check (docs/admin/fsck.md).
// The CLI only finds the filesystem in the map and sends one kMetaFsck to the metadata
// primary of its PG 0; that cvfsd walks every PG and (with --repair) fixes what it found.
// Exit codes: 0 clean (with --repair: every problem found was repaired), 1 problems found
// (left), 2 bad arguments, 3 the cluster cannot be reached, 4 unknown filesystem, 6 the
// check did not finish within --timeout, 7 not root (the server accepts fsck only from
// uid 0), 10 anything else.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>

#include "client/cli/commands.h"
#include "client/session/client_session.h"
#include "core/meta_routing.h"
#include "net/wire/meta_messages.h"
#include "net/wire/methods.h"

namespace cvfs::cli {
namespace {

struct FsckArgs {
  std::string filesystem;
  bool repair = false;
  bool json = false;
  std::string provider = "tcp;ofi_rxm";
  int timeout_s = 600;
};

// The report JSON from the metadata primary of PG 0.
Result<nlohmann::json> RunFsck(const GlobalOptions& global, const FsckArgs& args) {
  InitCommandLogging(global);
  if (global.cluster.empty()) {
    return Status::InvalidArgument("no cluster named (--cluster or CVFS_CLUSTER)");
  }
  if (::geteuid() != 0) return Status::PermissionDenied("cvfs fsck must run as root");
  client::ClientSessionOptions options;
  options.etcd_endpoints = global.EtcdEndpoints();
  options.cluster = global.cluster;
  options.filesystem = args.filesystem;
  options.provider = args.provider;
  options.munge_socket = global.munge_socket;
  options.name = "cvfs-fsck";
  options.registered_buffers = 1;
  CVFS_ASSIGN_OR_RETURN(auto session, client::ClientSession::Open(options));
  const client::MapSnapshot snapshot = session->Snapshot();
  CVFS_ASSIGN_OR_RETURN(MetaRoute route, RouteMetaPg(*snapshot.map, *snapshot.fs, 0));
  CVFS_RETURN_IF_ERROR(route.CheckAvailable());
  const TimePoint deadline = Clock::System().Now() + std::chrono::seconds(args.timeout_s);
  CVFS_ASSIGN_OR_RETURN(net::PeerId peer,
                        session->PeerOf(snapshot, route.member(route.primary).node, deadline));
  net::wire::PartRequest request;
  request.header.fs_id = snapshot.fs->id;
  request.header.epoch = snapshot.map->epoch.value;
  request.body = args.repair ? "repair" : "check";
  CVFS_ASSIGN_OR_RETURN(
      std::string reply,
      session->endpoint().Call(peer, net::Method::kMetaFsck, net::wire::EncodePartRequest(request),
                               std::chrono::seconds(args.timeout_s)));
  CVFS_ASSIGN_OR_RETURN(net::wire::PartReply decoded, net::wire::DecodePartReply(reply));
  auto report = nlohmann::json::parse(decoded.body, nullptr, /*allow_exceptions=*/false);
  if (report.is_discarded() || !report.is_object()) {
    return Status::MalformedMessage("fsck reply is not a JSON report");
  }
  return report;
}

uint64_t Total(const nlohmann::json& report, const char* list) {
  return report.value(std::string(list) + "_total", uint64_t{0});
}

void PrintList(const nlohmann::json& report, const char* list, const char* title) {
  const uint64_t total = Total(report, list);
  std::printf("  %-24s %llu\n", title, static_cast<unsigned long long>(total));
  const auto& items = report.value(list, nlohmann::json::array());
  for (const auto& item : items) {
    std::string line;
    for (const auto& [k, v] : item.items()) {
      line += " " + k + "=" + (v.is_string() ? v.get<std::string>() : v.dump());
    }
    std::printf("    -%s\n", line.c_str());
  }
  if (items.size() < total) {
    std::printf("    ... %llu more (see --json)\n",
                static_cast<unsigned long long>(total - items.size()));
  }
}

void PrintHuman(const nlohmann::json& report) {
  std::printf("fsck of %s: %llu PGs, %llu inodes, %llu entries, %d pass(es)\n",
              report.value("filesystem", "").c_str(),
              static_cast<unsigned long long>(report.value("pgs_checked", uint64_t{0})),
              static_cast<unsigned long long>(report.value("inodes", uint64_t{0})),
              static_cast<unsigned long long>(report.value("entries", uint64_t{0})),
              report.value("passes", 0));
  if (report.value("clean", false)) {
    std::printf("clean: no dangling entries, no orphans, every link count right\n");
    return;
  }
  PrintList(report, "dangling_entries", "dangling entries:");
  PrintList(report, "orphans", "orphan inodes:");
  PrintList(report, "nlink_mismatches", "link count mismatches:");
  PrintList(report, "entry_count_mismatches", "entry count mismatches:");
  PrintList(report, "parent_mismatches", "parent mismatches:");
  const uint64_t undecodable = report.value("undecodable_records", uint64_t{0});
  if (undecodable != 0) {
    std::printf("  %-24s %llu\n",
                "undecodable records:", static_cast<unsigned long long>(undecodable));
  }
  if (report.value("transient", uint64_t{0}) != 0) {
    std::printf("  (%llu more went away between the two passes: operations in flight)\n",
                static_cast<unsigned long long>(report.value("transient", uint64_t{0})));
  }
  const uint64_t left = report.value("unrepaired", uint64_t{0});
  if (report.value("repair", false)) {
    const auto& r = report.value("repaired", nlohmann::json::object());
    std::printf(
        "repaired: %llu dangling entries removed, %llu orphans dropped, %llu link counts and "
        "%llu parents fixed, %llu failed; %llu problems left\n",
        static_cast<unsigned long long>(r.value("dangling_entries", uint64_t{0})),
        static_cast<unsigned long long>(r.value("orphans", uint64_t{0})),
        static_cast<unsigned long long>(r.value("nlink", uint64_t{0})),
        static_cast<unsigned long long>(r.value("parents", uint64_t{0})),
        static_cast<unsigned long long>(r.value("failed", uint64_t{0})),
        static_cast<unsigned long long>(left));
  } else {
    std::printf("%llu problems found; run with --repair to fix them\n",
                static_cast<unsigned long long>(left));
  }
}

}  // namespace

void RegisterFsckCommand(CLI::App& app, GlobalOptions& global, int* rc) {
  CLI::App* cmd = app.add_subcommand(
      "fsck",
      "check a filesystem's namespace (dangling entries, orphan inodes, link counts) and, with "
      "--repair, fix it; run as root. Exit 0 clean (or all repaired), 1 problems left");
  auto args = std::make_shared<FsckArgs>();
  cmd->add_option("filesystem", args->filesystem, "filesystem name")->required();
  cmd->add_flag("--repair", args->repair,
                "remove dangling entries, drop orphans (empty directories, files, symlinks), fix "
                "link counts and parent pointers found in two passes 2 s apart");
  cmd->add_flag("--json", args->json, "print the report as JSON");
  cmd->add_option("--provider", args->provider, "fabric provider (default tcp;ofi_rxm)");
  cmd->add_option("--timeout", args->timeout_s, "seconds the whole check may take (default 600)")
      ->check(CLI::Range(1, 86400));
  cmd->callback([&global, rc, args] {
    auto report = RunFsck(global, *args);
    if (!report.ok()) {
      *rc = Fail("fsck " + args->filesystem, report.status());
      return;
    }
    if (args->json) {
      std::printf("%s\n",
                  report->dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    } else {
      PrintHuman(*report);
    }
    const bool clean = report->value("clean", false);
    const bool all_repaired =
        report->value("repair", false) && report->value("unrepaired", uint64_t{1}) == 0;
    *rc = clean || all_repaired ? kExitOk : kExitUnhealthy;
  });
}

}  // namespace cvfs::cli
