// posix_suite: runs the POSIX cases on a reference directory (a local filesystem) and on a
// target directory (the ConvergeFS FUSE mount) and compares the traces call by call.
// Exit status: 0 every case the same, 1 any difference or error, 2 bad arguments.

#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/posix/cases.h"
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
  app.add_option("--reference", reference, "reference directory (a local filesystem)");
  app.add_option("--target", target, "target directory (e.g. /mnt/cvfs/sub)");
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
  for (const auto& dir : {reference, target}) {
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
    CaseResult r =
        cvfs::posix::RunAndCompare(*c, reference, MakePosixDir, target, MakePosixDir, keep);
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
  return ok ? 0 : 1;
}
