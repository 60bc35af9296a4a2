// posix_suite: runs the POSIX cases on a reference directory (a local filesystem) and on a
// target directory (the ConvergeFS FUSE mount, or `cvfs://CLUSTER:FS/subdir` through the
// libcvfs C API) and compares the traces call by call.
// Exit status: 0 every case the same, 1 any difference or error, 2 bad arguments.

#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cvfs/cvfs.h"
#include "tests/posix/cases.h"
#include "tests/posix/cvfs_api.h"
#include "tests/posix/fs_api.h"

namespace {

using cvfs::posix::CaseResult;

bool IsDirectory(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

std::unique_ptr<cvfs::posix::FsApi> MakePosixDir(const std::string& root) {
  return std::make_unique<cvfs::posix::PosixDirApi>(root);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "Runs the POSIX conformance cases on a reference directory and a target directory "
      "(e.g. a local dir and a ConvergeFS mount) and compares the call-by-call traces."};
  std::string reference;
  std::string target;
  std::vector<std::string> only;
  bool list = false;
  bool json = false;
  bool keep = false;
  bool verbose = false;
  std::string etcd;
  std::string munge_socket;
  std::string provider;
  app.add_option("--reference", reference, "reference directory (a local filesystem)");
  app.add_option("--target", target,
                 "target directory (e.g. /mnt/cvfs/sub), or cvfs://CLUSTER:FS/subdir for the "
                 "libcvfs C API");
  app.add_option("--etcd", etcd, "with a cvfs:// target: etcd URLs (default $CVFS_ETCD)");
  app.add_option("--munge-socket", munge_socket, "with a cvfs:// target: munged's socket");
  app.add_option("--provider", provider, "with a cvfs:// target: fabric provider");
  app.add_option("--case", only, "run only this case (repeatable)");
  app.add_flag("--list", list, "list the cases and exit");
  app.add_flag("--json", json, "print the results as JSON");
  app.add_flag("--keep", keep, "keep the per-case directories");
  app.add_flag("--verbose", verbose,
               "print both traces of each case that is not PASS (all cases with --all-traces)");
  bool all_traces = false;
  app.add_flag("--all-traces", all_traces, "with --verbose: print the traces of every case");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }

  const auto& all = cvfs::posix::AllCases();
  if (list) {
    if (json) {
      nlohmann::json out = nlohmann::json::array();
      for (const auto& c : all) {
        out.push_back({{"name", c.name}, {"summary", c.summary}, {"needs_root", c.needs_root}});
      }
      std::cout << out.dump(2) << "\n";
    } else {
      for (const auto& c : all) {
        std::printf("%-30s %s%s\n", c.name.c_str(), c.summary.c_str(),
                    c.needs_root ? " [root]" : "");
      }
    }
    return 0;
  }
  if (reference.empty() || target.empty()) {
    std::cerr << "posix_suite: --reference and --target are required (see --help)\n";
    return 2;
  }
  // A cvfs://CLUSTER:FS/subdir target: mounted through the C API for the whole run.
  cvfs_fs* fs = nullptr;
  std::string target_root = target;
  cvfs::posix::FsFactory target_fs = MakePosixDir;
  cvfs::posix::DirOps target_dirs = cvfs::posix::LocalDirOps();
  const std::string scheme = "cvfs://";
  if (target.rfind(scheme, 0) == 0) {
    const std::string rest = target.substr(scheme.size());
    const size_t slash = rest.find('/');
    const std::string spec = rest.substr(0, slash);
    target_root = slash == std::string::npos ? "/" : rest.substr(slash);
    while (target_root.size() > 1 && target_root.back() == '/') target_root.pop_back();
    cvfs_mount_options options{};
    options.etcd_endpoints = etcd.empty() ? nullptr : etcd.c_str();
    options.munge_socket = munge_socket.empty() ? nullptr : munge_socket.c_str();
    options.provider = provider.empty() ? nullptr : provider.c_str();
    if (int rc = cvfs_mount(spec.c_str(), &options, &fs); rc != 0) {
      std::cerr << "posix_suite: cvfs_mount " << spec << ": " << cvfs_strerror(rc) << "\n";
      return 2;
    }
    struct stat st;
    if (cvfs_stat(fs, target_root.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      std::cerr << "posix_suite: not a directory in " << spec << ": " << target_root << "\n";
      cvfs_unmount(fs);
      return 2;
    }
    target_fs = [fs](const std::string& root) {
      return std::make_unique<cvfs::posix::CvfsApi>(fs, root);
    };
    target_dirs = cvfs::posix::CvfsDirOps(fs);
  }
  for (const auto& dir : {reference, target_root}) {
    if (fs != nullptr && dir == target_root) continue;
    if (!IsDirectory(dir)) {
      std::cerr << "posix_suite: not a directory: " << dir << "\n";
      return 2;
    }
  }
  std::vector<const cvfs::posix::Case*> selected;
  for (const auto& name : only) {
    const auto* c = cvfs::posix::FindCase(name);
    if (c == nullptr) {
      std::cerr << "posix_suite: no case named " << name << " (see --list)\n";
      return 2;
    }
    selected.push_back(c);
  }
  if (selected.empty()) {
    for (const auto& c : all) selected.push_back(&c);
  }

  int same = 0, diff = 0, error = 0, skipped = 0;
  nlohmann::json cases = nlohmann::json::array();
  for (const auto* c : selected) {
    CaseResult r = cvfs::posix::RunAndCompare(*c, reference, MakePosixDir, target_root, target_fs,
                                              target_dirs, keep);
    switch (r.outcome) {
      case CaseResult::Outcome::kSame:
        ++same;
        break;
      case CaseResult::Outcome::kDiff:
        ++diff;
        break;
      case CaseResult::Outcome::kError:
        ++error;
        break;
      case CaseResult::Outcome::kSkipped:
        ++skipped;
        break;
    }
    if (json) {
      nlohmann::json j = {{"name", r.name},
                          {"result", cvfs::posix::OutcomeName(r.outcome)},
                          {"reference_lines", r.reference.size()},
                          {"target_lines", r.target.size()}};
      if (!r.message.empty()) j["message"] = r.message;
      if (r.diff) {
        j["diff"] = {{"line", r.diff->line + 1},
                     {"reference", r.diff->reference},
                     {"target", r.diff->target}};
      }
      if (verbose && (all_traces || r.outcome != CaseResult::Outcome::kSame)) {
        j["reference_trace"] = r.reference;
        j["target_trace"] = r.target;
      }
      cases.push_back(std::move(j));
      continue;
    }
    std::printf("%-5s %s", cvfs::posix::OutcomeName(r.outcome), r.name.c_str());
    if (!r.message.empty()) std::printf(": %s", r.message.c_str());
    std::printf("\n");
    if (r.diff && r.outcome != CaseResult::Outcome::kSkipped) {
      std::printf("      line %zu\n      reference: %s\n      target:    %s\n", r.diff->line + 1,
                  r.diff->reference.c_str(), r.diff->target.c_str());
    }
    if (verbose && (all_traces || r.outcome != CaseResult::Outcome::kSame)) {
      for (const auto& [label, trace] :
           {std::pair{"reference", &r.reference}, std::pair{"target", &r.target}}) {
        std::printf("      --- %s trace\n", label);
        for (const auto& line : *trace) std::printf("      %s\n", line.c_str());
      }
    }
  }
  const bool ok = diff == 0 && error == 0;
  if (json) {
    nlohmann::json out = {
        {"reference", reference},
        {"target", target},
        {"cases", cases},
        {"summary", {{"pass", same}, {"diff", diff}, {"error", error}, {"skip", skipped}}},
        {"ok", ok}};
    std::cout << out.dump(2) << "\n";
  } else {
    std::printf("%d cases: %d pass, %d diff, %d error, %d skipped\n",
                static_cast<int>(selected.size()), same, diff, error, skipped);
  }
  if (fs != nullptr) cvfs_unmount(fs);
  return ok ? 0 : 1;
}
