// Acceptance (issue #5) of the MPI-IO adapter, libcvfs_mpiio.so: the datatype and semantics
// suite tests/mpiio/mpiio_semantics.c run with 1, 2, 4 and 7 ranks. Its output on a local
// directory under Open MPI's own MPI-IO, ompio (--mca io ompio) and ROMIO (--mca io romio321),
// must be the same: that is the reference. The same program with the adapter preloaded on
// cvfs:/run-N of a 6-node 4+2 cluster must print it line for line, and so must a job with the
// adapter preloaded on a local directory (non-ConvergeFS paths go through Open MPI untouched).
// mpi4py (/usr/bin/python3, python3-mpi4py) writes and reads a subarray view collectively from
// 4 ranks, on a local directory and through the adapter; the outputs must match.
//
// The reference case runs on its own (no cluster, no adapter):
//   bin/mpiio_test "mpiio_semantics prints the same under ompio and ROMIO on a local dir"
// The adapter cases FAIL (never pass) while <build>/lib/libcvfs_mpiio.so does not exist
// (CVFS_MPIIO_LIBRARY=/path/libcvfs_mpiio.so points them at another build of the adapter).
// Every mpirun runs under `timeout`, so a hung job fails the test instead of hanging it.
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "cvfs/cvfs.h"
#include "tests/cluster/datapath_support.h"
#include "tests/cluster/libcvfs_cluster.h"

using namespace cvfs;
using namespace cvfs::testing;

namespace {

constexpr const char* kFsName = "mpiio";
constexpr int kMpirunTimeoutS = 300;
const std::vector<int> kRankCounts = {1, 2, 4, 7};

std::string BuildDir() { return std::filesystem::path(CVFS_BIN_DIR).parent_path().string(); }
std::string SemanticsProgram() { return std::string(CVFS_BIN_DIR) + "/mpiio_semantics"; }
// CVFS_MPIIO_LIBRARY overrides the adapter's location (to try another build of it).
std::string AdapterLibrary() {
  const char* other = std::getenv("CVFS_MPIIO_LIBRARY");
  return other != nullptr ? std::string(other) : BuildDir() + "/lib/libcvfs_mpiio.so";
}
std::string Mpi4pyScript() {
  return std::string(CVFS_SOURCE_DIR) + "/tests/mpiio/mpi4py_subarray.py";
}

std::string Quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'')
      out += "'\\''";
    else
      out += c;
  }
  return out + "'";
}

std::string ReadWhole(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::string Tail(const std::string& text, size_t max_lines = 30) {
  auto lines = Lines(text);
  std::string out;
  const size_t from = lines.size() > max_lines ? lines.size() - max_lines : 0;
  for (size_t i = from; i < lines.size(); ++i) out += "  " + lines[i] + "\n";
  return out;
}

struct MpiJob {
  int np = 1;
  std::string io;                // "ompio", "romio321" or "" (Open MPI's default)
  std::vector<std::string> env;  // KEY=VALUE exported to the ranks (-x)
  std::vector<std::string> argv;
  std::string log_dir;  // stdout and stderr files go here
  std::string tag;      // file name stem
};

struct MpiRun {
  int rc = -1;
  std::string out;
  std::string err;
  double seconds = 0;
  std::string command;
};

// mpirun under `timeout`; stdout (rank 0's observations) and stderr are kept apart.
MpiRun Mpirun(const MpiJob& job) {
  std::string cmd = "timeout -k 10 " + std::to_string(kMpirunTimeoutS) +
                    " mpirun --oversubscribe --allow-run-as-root -np " + std::to_string(job.np);
  if (!job.io.empty()) cmd += " --mca io " + job.io;
  for (const auto& e : job.env) cmd += " -x " + Quote(e);
  for (const auto& a : job.argv) cmd += " " + Quote(a);
  const std::string out_path = job.log_dir + "/" + job.tag + ".out";
  const std::string err_path = job.log_dir + "/" + job.tag + ".err";
  MpiRun run;
  run.command = cmd;
  const auto start = std::chrono::steady_clock::now();
  const int status = std::system(
      (cmd + " > " + Quote(out_path) + " 2> " + Quote(err_path) + " < /dev/null").c_str());
  run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  run.rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  run.out = ReadWhole(out_path);
  run.err = ReadWhole(err_path);
  return run;
}

std::string Describe(const MpiRun& run) {
  std::ostringstream s;
  s << run.command << "\n  exit " << run.rc << (run.rc == 124 ? " (timeout)" : "") << " after "
    << run.seconds << " s\n  stdout (tail):\n"
    << Tail(run.out) << "  stderr (tail):\n"
    << Tail(run.err);
  return s.str();
}

// "" when equal; otherwise the first differing lines of both, with a little context.
std::string FirstDifference(const std::string& reference_name, const std::string& reference,
                            const std::string& target_name, const std::string& target) {
  const auto a = Lines(reference);
  const auto b = Lines(target);
  size_t i = 0;
  while (i < a.size() && i < b.size() && a[i] == b[i]) ++i;
  if (i == a.size() && i == b.size()) return "";
  std::ostringstream s;
  s << "outputs differ from line " << i + 1 << " (" << reference_name << " " << a.size()
    << " lines, " << target_name << " " << b.size() << " lines):\n";
  const size_t from = i >= 2 ? i - 2 : 0;
  for (size_t k = from; k < i; ++k) s << "    same:  " << a[k] << "\n";
  int shown = 0;
  for (size_t k = i; k < std::max(a.size(), b.size()) && shown < 8; ++k, ++shown) {
    const std::string ra = k < a.size() ? a[k] : "<end of output>";
    const std::string rb = k < b.size() ? b[k] : "<end of output>";
    s << "  " << reference_name << ": " << ra << "\n  " << target_name << ": " << rb << "\n";
  }
  return s.str();
}

bool KeepDirs() { return std::getenv("CVFS_KEEP_TEST_DIR") != nullptr; }

// A fresh local directory for one job's files, under the test's work directory.
std::string LocalDir(const std::string& work, const std::string& name) {
  const std::string dir = work + "/" + name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

// The work directory shared by the test cases (logs and local file trees); removed at exit
// unless CVFS_KEEP_TEST_DIR is set.
struct WorkDirHolder {
  std::string path;
  ~WorkDirHolder() {
    if (!path.empty() && !KeepDirs()) std::filesystem::remove_all(path);
  }
};
const std::string& WorkDir() {
  static WorkDirHolder holder;
  if (holder.path.empty()) {
    auto made = MakeTempDir("mpiio-test");
    INFO((made.ok() ? std::string() : made.status().ToString()));
    REQUIRE(made.ok());
    holder.path = *made;
  }
  return holder.path;
}

// The reference output for N ranks: ompio and ROMIO on local directories, required equal.
// Computed once per N (the adapter case reuses it).
struct Reference {
  std::string out;
  double ompio_s = 0;
  double romio_s = 0;
};
std::map<int, Reference>& References() {
  static std::map<int, Reference> refs;
  return refs;
}

const Reference& ReferenceFor(int np) {
  auto& refs = References();
  if (auto it = refs.find(np); it != refs.end()) return it->second;
  const std::string& work = WorkDir();
  MpiJob job;
  job.np = np;
  job.log_dir = work;
  Reference ref;
  std::string outputs[2];
  const char* ios[2] = {"ompio", "romio321"};
  for (int k = 0; k < 2; ++k) {
    job.io = ios[k];
    job.tag = "ref-" + job.io + "-" + std::to_string(np);
    const std::string dir = LocalDir(work, job.tag);
    job.argv = {SemanticsProgram(), dir};
    MpiRun run = Mpirun(job);
    INFO(Describe(run));
    REQUIRE(run.rc == 0);
    REQUIRE(run.out.find("mpiio_semantics done") != std::string::npos);
    outputs[k] = run.out;
    (k == 0 ? ref.ompio_s : ref.romio_s) = run.seconds;
    if (!KeepDirs()) std::filesystem::remove_all(dir);
  }
  const std::string diff = FirstDifference("ompio", outputs[0], "romio", outputs[1]);
  INFO(np << " ranks: ompio and ROMIO disagree on a local dir; " << diff);
  REQUIRE(diff.empty());
  ref.out = outputs[0];
  std::printf("mpiio reference, %d ranks: %zu lines, ompio %.1f s, ROMIO %.1f s\n", np,
              Lines(ref.out).size(), ref.ompio_s, ref.romio_s);
  std::fflush(stdout);
  return refs.emplace(np, std::move(ref)).first->second;
}

using Shared = MountedCluster;

// The cluster and the mount every test case uses (started by the first one).
Shared& Env() {
  auto env = SharedMountedCluster(kFsName);
  INFO((env.ok() ? std::string() : env.status().ToString()));
  REQUIRE(env.ok());
  return **env;
}

// The -x environment of a job with the adapter preloaded, pointed at the test cluster.
std::vector<std::string> AdapterEnv(const Shared& env) {
  const TestCluster& cluster = *env.started.cluster;
  return {"LD_PRELOAD=" + AdapterLibrary(), "CVFS_MPIIO_FS=" + env.spec,
          "CVFS_ETCD=" + cluster.etcd_endpoint(), "CVFS_MUNGE_SOCKET=" + cluster.munge_socket(),
          "CVFS_PROVIDER=" + cluster.provider()};
}

void RequireAdapter() {
  if (!std::filesystem::exists(AdapterLibrary())) {
    FAIL("the MPI-IO adapter library is missing: " << AdapterLibrary()
                                                   << " does not exist (build the mpi-io/ "
                                                      "target); the adapter runs cannot pass");
  }
}

}  // namespace

TEST_CASE("mpiio_semantics prints the same under ompio and ROMIO on a local dir",
          "[mpiio][reference]") {
  for (int np : kRankCounts) {
    INFO(np << " ranks");
    const Reference& ref = ReferenceFor(np);
    CHECK(Lines(ref.out).size() > 100);
  }
}

TEST_CASE("mpiio_semantics through libcvfs_mpiio.so matches the reference", "[mpiio][adapter]") {
  RequireAdapter();
  Shared& env = Env();
  const std::string& work = WorkDir();
  for (int np : kRankCounts) {
    INFO(np << " ranks");
    const Reference& ref = ReferenceFor(np);
    // On ConvergeFS: cvfs:/run-N, created through the C API.
    const std::string dir = "/run-" + std::to_string(np);
    const int mk = cvfs_mkdir(env.fs, dir.c_str(), 0755);
    INFO("cvfs_mkdir " << dir << ": " << cvfs_strerror(mk));
    REQUIRE(mk == 0);
    MpiJob job;
    job.np = np;
    job.log_dir = work;
    job.env = AdapterEnv(env);
    job.tag = "cvfs-" + std::to_string(np);
    job.argv = {SemanticsProgram(), "cvfs:" + dir};
    MpiRun run = Mpirun(job);
    std::printf("mpiio adapter on cvfs:%s, %d ranks: exit %d, %.1f s\n", dir.c_str(), np, run.rc,
                run.seconds);
    std::fflush(stdout);
    {
      INFO(Describe(run));
      const std::string diff = FirstDifference("reference", ref.out, "cvfs", run.out);
      INFO(diff);
      CHECK(run.rc == 0);
      CHECK(diff.empty());
    }
    // A mixed job: the adapter preloaded, files on a local directory (Open MPI's own path).
    job.tag = "mixed-" + std::to_string(np);
    const std::string local = LocalDir(work, job.tag);
    job.argv = {SemanticsProgram(), local};
    MpiRun mixed = Mpirun(job);
    std::printf("mpiio adapter preloaded on a local dir, %d ranks: exit %d, %.1f s\n", np, mixed.rc,
                mixed.seconds);
    std::fflush(stdout);
    {
      INFO("adapter preloaded, local directory\n" << Describe(mixed));
      const std::string diff = FirstDifference("reference", ref.out, "mixed", mixed.out);
      INFO(diff);
      CHECK(mixed.rc == 0);
      CHECK(diff.empty());
    }
    if (!KeepDirs()) std::filesystem::remove_all(local);
  }
}

TEST_CASE("mpi4py subarray views through the adapter match a local run", "[mpiio][mpi4py]") {
  const std::string& work = WorkDir();
  std::string probe;
  const int probe_rc =
      RunCommand("/usr/bin/python3 -c 'import mpi4py, numpy; print(mpi4py.__version__)'", &probe);
  INFO("/usr/bin/python3 with mpi4py and numpy (python3-mpi4py): " << probe);
  REQUIRE(probe_rc == 0);
  MpiJob job;
  job.np = 4;
  job.log_dir = work;
  job.io = "ompio";
  job.tag = "mpi4py-local";
  const std::string local = LocalDir(work, job.tag);
  job.argv = {"/usr/bin/python3", Mpi4pyScript(), local};
  MpiRun ref = Mpirun(job);
  std::printf("mpi4py on a local dir (ompio), 4 ranks: exit %d, %.1f s\n", ref.rc, ref.seconds);
  {
    INFO(Describe(ref));
    REQUIRE(ref.rc == 0);
    REQUIRE(ref.out.find("mpi4py_subarray file size=") != std::string::npos);
  }
  if (!KeepDirs()) std::filesystem::remove_all(local);

  RequireAdapter();
  Shared& env = Env();
  const int mk = cvfs_mkdir(env.fs, "/py", 0755);
  INFO("cvfs_mkdir /py: " << cvfs_strerror(mk));
  REQUIRE(mk == 0);
  job.io.clear();
  job.env = AdapterEnv(env);
  job.tag = "mpi4py-cvfs";
  job.argv = {"/usr/bin/python3", Mpi4pyScript(), "cvfs:/py"};
  MpiRun run = Mpirun(job);
  std::printf("mpi4py through the adapter on cvfs:/py, 4 ranks: exit %d, %.1f s\n", run.rc,
              run.seconds);
  std::fflush(stdout);
  INFO(Describe(run));
  const std::string diff = FirstDifference("local", ref.out, "cvfs", run.out);
  INFO(diff);
  CHECK(run.rc == 0);
  CHECK(diff.empty());
}
