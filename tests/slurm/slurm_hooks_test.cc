// Acceptance (issue #7, the Slurm side): real Slurm (tests/slurm/testbed: slurmctld and
// slurmd n1..n8 on this machine), real cvfsd n1..n8 (TestCluster, 4+2), the hooks of slurm/
// as Prolog, Epilog and RebootProgram. Nothing is mocked; the only stand-in is the reboot
// itself: the testbed's fake-reboot stops the node's slurmd, asks this test (through a file)
// to take the node's cvfsd down and back as a real reboot would, then restarts slurmd with
// `-b` so that slurmctld sees the node rebooted.
//  - an sbatch job runs cvfs-prolog and cvfs-epilog on its nodes (their per-job records, the
//    job's data written through each node's mount readable elsewhere afterwards); with a
//    node's cvfsd stopped, or its mount missing, the prolog fails and the node drains with
//    our reason; the slurm.conf core and memory specialization the docs describe holds.
//  - `scontrol reboot ASAP nextstate=RESUME` of two nodes in different failure domains: the
//    storage grants them one after the other, a write+verify workload sees no error, each
//    node returns to IDLE and leaves maintenance, and resyncs only what it missed.
//  - a reboot asked while a PG is degraded: not granted within a short wait (never
//    rebooted; Slurm shows the reason, is asked again after the retry delay, and the node
//    stays drained with the reason after the last try), and with a long wait granted only
//    once the rebuild completed.
//  - a node that does not come back within its maintenance window is failed and rebuilt.
// The reboot cases need `cvfs maintenance` (the manager's side of issue #7).
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "tests/cluster/datapath_support.h"
#include "tests/cluster/fuse_mount.h"
#include "tests/cluster/workload_support.h"
#include "tests/slurm/slurm_testbed.h"

using namespace cvfs;
using namespace cvfs::testing;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void WriteFile(const std::string& path, const std::string& text, bool executable = false) {
  std::ofstream(path) << text;
  if (executable) chmod(path.c_str(), 0755);
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The hooks as a site installs them, pointed at this test's settings through tiny wrappers
// (a site uses /etc/cvfs/slurm-hooks.conf).
struct Hooks {
  explicit Hooks(const std::string& dir) : dir(dir), conf(dir + "/slurm-hooks.conf") {
    fs::create_directories(dir);
    for (const char* name : {"prolog", "epilog", "reboot"}) {
      WriteFile(dir + "/" + name,
                "#!/bin/sh\nCVFS_SLURM_HOOKS_CONF=" + conf +
                    " exec " CVFS_SOURCE_DIR "/slurm/cvfs-" + std::string(name) + " \"$@\"\n",
                true);
    }
  }
  // Settings every case shares (where cvfs is, each node's cvfsd config; the cluster's etcd
  // and munged come from that config), then `more` lines.
  void WriteConf(const TestCluster& cluster, const std::vector<std::string>& more) const {
    std::string text = "CVFS_BIN=" + BinPath("cvfs") + "\nCVFSD_CONFIG=" + cluster.dir() +
                       "/%n/cvfsd.toml\nCVFS_HOOK_LOG=" + log() +
                       "\nCVFS_HOOK_STATE_DIR=" + state() + "\nCVFS_CHECK_TIMEOUT_S=15\n";
    for (const auto& line : more) text += line + "\n";
    WriteFile(conf, text);
  }
  std::string prolog() const { return dir + "/prolog"; }
  std::string epilog() const { return dir + "/epilog"; }
  std::string reboot() const { return dir + "/reboot"; }
  std::string log() const { return dir + "/hooks.log"; }
  std::string state() const { return dir + "/state"; }
  std::string record(const std::string& job, const std::string& node,
                     const std::string& kind) const {
    return ReadFile(state() + "/jobs/" + job + "." + node + "." + kind);
  }

  std::string dir;
  std::string conf;
};

// The test's side of the fake reboot: the testbed's fake-reboot runs
// $bed/etc/fake-reboot.hook NODE after stopping NODE's slurmd; the hook touches NODE.down
// here and waits for NODE.up. Step() stops the node's cvfsd when asked, starts it again
// `away` later (unless the node is to stay down), and answers.
class RebootResponder {
 public:
  RebootResponder(TestCluster& cluster, const SlurmTestbed& bed, std::string dir,
                  std::chrono::milliseconds away)
      : cluster_(cluster), dir_(std::move(dir)), away_(away) {
    fs::create_directories(dir_);
    WriteFile(bed.dir() + "/etc/fake-reboot.hook",
              "#!/bin/sh\n# Written by slurm_hooks_test: the node's storage goes down and up.\n"
              ": > " +
                  dir_ + "/\"$1\".down\ni=0\nwhile [ ! -e " + dir_ +
                  "/\"$1\".up ]; do\n  i=$((i + 1)); [ \"$i\" -gt 1500 ] && exit 1\n"
                  "  sleep 0.1\ndone\nrm -f " +
                  dir_ + "/\"$1\".up " + dir_ + "/\"$1\".down\n",
              true);
  }
  void KeepDown(const std::string& node) { keep_down_.insert(node); }

  void Step() {
    for (const auto& entry : fs::directory_iterator(dir_)) {
      if (entry.path().extension() != ".down") continue;
      const std::string node = entry.path().stem().string();
      if (active_.count(node)) continue;
      const int i = IndexOfNode(cluster_, node);
      if (i < 0) continue;
      cluster_.StopNode(i);  // a reboot shuts cvfsd down cleanly
      active_[node] = {std::chrono::steady_clock::now(), false};
      stopped_ms_[node] = NowMs();
    }
    for (auto it = active_.begin(); it != active_.end();) {
      auto& [node, reboot] = *it;
      if (!reboot.answered && std::chrono::steady_clock::now() - reboot.stopped >= away_) {
        if (!keep_down_.count(node)) {
          Status st = cluster_.StartNode(IndexOfNode(cluster_, node));
          if (!st.ok()) errors_.push_back(node + ": " + st.ToString());
        }
        WriteFile(dir_ + "/" + node + ".up", "");
        reboot.answered = true;
        reboots_[node]++;
      }
      if (reboot.answered && !fs::exists(dir_ + "/" + node + ".down")) {
        it = active_.erase(it);
      } else {
        ++it;
      }
    }
  }
  int reboots(const std::string& node) const {
    auto it = reboots_.find(node);
    return it == reboots_.end() ? 0 : it->second;
  }
  int64_t stopped_ms(const std::string& node) const {
    auto it = stopped_ms_.find(node);
    return it == stopped_ms_.end() ? 0 : it->second;
  }
  const std::vector<std::string>& errors() const { return errors_; }

 private:
  struct Reboot {
    std::chrono::steady_clock::time_point stopped;
    bool answered;
  };
  TestCluster& cluster_;
  const std::string dir_;
  const std::chrono::milliseconds away_;
  std::set<std::string> keep_down_;
  std::map<std::string, Reboot> active_;
  std::map<std::string, int> reboots_;
  std::map<std::string, int64_t> stopped_ms_;
  std::vector<std::string> errors_;
};

// `cvfs maintenance list --json`, parsed; a discarded value when the command failed.
nlohmann::json MaintenanceList(const TestCluster& cluster, std::string* raw = nullptr) {
  std::string out;
  const int rc = cluster.RunCli("maintenance list --json 2>&1", &out);
  if (raw != nullptr) *raw = out;
  if (rc != 0) return nlohmann::json(nlohmann::json::value_t::discarded);
  return nlohmann::json::parse(out, nullptr, /*allow_exceptions=*/false);
}

// The entry of `node` in list[key] ("granted", "queue", "recent"; the last one for recent).
nlohmann::json Entry(const nlohmann::json& list, const std::string& key, const std::string& node) {
  nlohmann::json found;
  if (!list.is_object()) return found;
  for (const auto& e : list.value(key, nlohmann::json::array())) {
    if (e.value("node", "") == node) found = e;
  }
  return found;
}

// When a grant ended (the contract's "exited_ms"; "ended_ms" in the first implementation).
int64_t EndedMs(const nlohmann::json& recent) {
  return recent.value("exited_ms", recent.value("ended_ms", int64_t{0}));
}

// Fails the case with a clear message when this build has no `cvfs maintenance`.
void RequireMaintenanceCli(const TestCluster& cluster) {
  std::string raw;
  auto list = MaintenanceList(cluster, &raw);
  INFO(
      "`cvfs maintenance list --json` is the storage side of issue #7 (the manager's "
      "maintenance grants); this build answered: "
      << raw);
  REQUIRE(list.is_object());
}

// Bytes the workload acknowledged by wall-clock time, to tell what was written meanwhile.
class WrittenBytes {
 public:
  void Sample(uint64_t bytes) { samples_.push_back({NowMs(), bytes}); }
  // Bytes written between two wall-clock times (ms), from the nearest samples outside them.
  uint64_t Between(int64_t from_ms, int64_t to_ms) const {
    uint64_t at_from = 0, at_to = samples_.empty() ? 0 : samples_.back().second;
    for (const auto& [ms, bytes] : samples_) {
      if (ms <= from_ms) at_from = bytes;
    }
    for (auto it = samples_.rbegin(); it != samples_.rend(); ++it) {
      if (it->first >= to_ms) at_to = it->second;
    }
    return at_to > at_from ? at_to - at_from : 0;
  }

 private:
  std::vector<std::pair<int64_t, uint64_t>> samples_;
};

// Lines of `text` containing `needle`.
int CountLines(const std::string& text, const std::string& needle) {
  int n = 0;
  std::stringstream in(text);
  for (std::string line; std::getline(in, line);) n += line.find(needle) != std::string::npos;
  return n;
}

// The content the test job writes: "job J node N\n" repeated to `size` bytes (what
// `yes "job J node N" | head -c SIZE` prints).
std::vector<std::byte> JobContent(const std::string& job, const std::string& node, size_t size) {
  const std::string line = "job " + job + " node " + node + "\n";
  std::vector<std::byte> out(size);
  for (size_t i = 0; i < size; ++i) out[i] = static_cast<std::byte>(line[i % line.size()]);
  return out;
}

// "0-2,5" -> {0, 1, 2, 5}
std::set<int> CpuList(const std::string& text) {
  std::set<int> cpus;
  std::stringstream in(text);
  for (std::string part; std::getline(in, part, ',');) {
    int lo = 0, hi = 0;
    if (std::sscanf(part.c_str(), "%d-%d", &lo, &hi) == 2) {
      for (int c = lo; c <= hi; ++c) cpus.insert(c);
    } else if (std::sscanf(part.c_str(), "%d", &lo) == 1) {
      cpus.insert(lo);
    }
  }
  return cpus;
}

Result<std::vector<std::byte>> ReadWholeFile(FileSystem& fs, const std::string& name) {
  CVFS_ASSIGN_OR_RETURN(FileAttr attr, fs.Lookup(nullptr, kRootInode, name));
  CVFS_ASSIGN_OR_RETURN(uint64_t handle, fs.Open(nullptr, attr.inode, O_RDONLY, nullptr));
  std::vector<std::byte> bytes(attr.size);
  auto read = fs.Read(handle, 0, bytes);
  (void)fs.Release(handle);
  CVFS_RETURN_IF_ERROR(read.status());
  bytes.resize(*read);
  return bytes;
}

// Last finish time (ms) of the rebuild of lost slots (not resyncs), from the daemons' logs.
int64_t LastRebuildFinishedMs(const TestCluster& cluster) {
  int64_t last = 0;
  const std::regex re("rebuild\\.pg_done .*slots=(\\S+).* finished_ms=(\\d+)");
  for (int i = 0; i < cluster.size(); ++i) {
    std::ifstream in(cluster.log_path(i));
    for (std::string line; std::getline(in, line);) {
      std::smatch m;
      if (!std::regex_search(line, m, re)) continue;
      if (m[1].str().find(":resync") != std::string::npos) continue;
      last = std::max<int64_t>(last, std::stoll(m[2]));
    }
  }
  return last;
}

}  // namespace

TEST_CASE("the hooks answer --help, refuse unknown arguments and pass shellcheck", "[slurm]") {
  for (const std::string hook : {"cvfs-prolog", "cvfs-epilog", "cvfs-reboot"}) {
    const std::string path = std::string(CVFS_SOURCE_DIR) + "/slurm/" + hook;
    std::string out;
    CHECK(RunCommand(path + " --help 2>&1", &out) == 0);
    CHECK(out.find("Usage: " + hook) != std::string::npos);
    CHECK(out.find("shellcheck") == std::string::npos);
    CHECK(RunCommand(path + " --no-such-flag >/dev/null 2>&1") == 2);
  }
  std::string out;
  if (RunCommand("command -v shellcheck >/dev/null 2>&1") != 0) {
    WARN("shellcheck not installed: not run");
    return;
  }
  const int rc = RunCommand("cd " CVFS_SOURCE_DIR
                            " && shellcheck -x slurm/cvfs-prolog "
                            "slurm/cvfs-epilog slurm/cvfs-reboot slurm/cvfs-slurm-common.sh "
                            "tests/slurm/testbed/up.sh tests/slurm/testbed/down.sh 2>&1",
                            &out);
  INFO(out);
  CHECK(rc == 0);
}

TEST_CASE(
    "sbatch runs cvfs-prolog and cvfs-epilog; a node without its cvfsd drains with the "
    "reason",
    "[slurm]") {
  std::string why;
  if (!CanRunSlurm(&why)) {
    WARN(why);
    return;
  }
  ClusterOptions options;
  options.nodes = 8;
  auto started = StartWithFilesystem(options, "scratch", "4+2", "128K --pgs 32");
  INFO((started.ok() ? std::string() : started.status().ToString()));
  REQUIRE(started.ok());
  TestCluster& cluster = *started->cluster;
  const std::string dir = cluster.dir() + "/slurm";
  Hooks hooks(dir + "/hooks");
  // Mounts on n1..n3 (the job's two nodes and the one whose cvfsd stops); n4 has none.
  std::vector<std::unique_ptr<ForegroundMount>> mounts;
  for (int i = 1; i <= 4; ++i) fs::create_directories(dir + "/mnt/n" + std::to_string(i));
  for (int i = 1; i <= 3; ++i) {
    const std::string n = "n" + std::to_string(i);
    mounts.push_back(std::make_unique<ForegroundMount>(cluster, "scratch", dir + "/mnt/" + n, "",
                                                       dir + "/mount-" + n + ".log"));
    INFO(mounts.back()->error());
    REQUIRE(mounts.back()->error().empty());
  }
  hooks.WriteConf(cluster, {"CVFS_MOUNTS=" + dir + "/mnt/%n"});
  SlurmTestbedOptions bed_options;
  bed_options.prolog = hooks.prolog();
  bed_options.epilog = hooks.epilog();
  bed_options.core_spec_count = 1;  // the knobs docs/admin/slurm.md gives cvfsd
  bed_options.mem_spec_mb = 512;
  // Slurm's cgroup v1 plugins need the v1 cpuset and memory hierarchies (mounted here).
  bed_options.cgroup = fs::exists("/sys/fs/cgroup/cpuset/cgroup.procs") &&
                       fs::exists("/sys/fs/cgroup/memory/cgroup.procs");
  auto bed_or = SlurmTestbed::Start(bed_options);
  INFO((bed_or.ok() ? std::string() : bed_or.status().ToString()));
  REQUIRE(bed_or.ok());
  SlurmTestbed& bed = **bed_or;

  // A job on n1 and n2: one task per node writes a file through that node's mount.
  constexpr size_t kJobFileBytes = 1000 * 1000 + 17;
  WriteFile(dir + "/job.sh",
            "#!/bin/bash\nsrun -N2 -n2 bash -c 'yes \"job $SLURM_JOB_ID node $SLURMD_NODENAME\" "
            "| head -c " +
                std::to_string(kJobFileBytes) + " > " + dir +
                "/mnt/$SLURMD_NODENAME/job-$SLURM_JOB_ID-$SLURMD_NODENAME.dat'\n",
            true);
  const auto t0 = std::chrono::steady_clock::now();
  auto job = bed.Submit("-N2 -w n1,n2 -o " + dir + "/job-%j.out " + dir + "/job.sh");
  INFO((job.ok() ? *job : job.status().ToString()));
  REQUIRE(job.ok());
  const std::string j = *job;
  Status done = bed.WaitFor(
      [&] {
        return fs::exists(hooks.state() + "/jobs/" + j + ".n1.epilog") &&
               fs::exists(hooks.state() + "/jobs/" + j + ".n2.epilog");
      },
      90s, "job " + j + " ran and its epilogs finished");
  INFO(ReadFile(hooks.log()) << ReadFile(dir + "/job-" + j + ".out") << bed.DumpLogs({"n1", "n2"}));
  REQUIRE(done.ok());
  CHECK(bed.JobState(j) == "COMPLETED");
  WARN("job " << j << " on n1,n2: prolog, job and epilog done in " << SecondsSince(t0) << " s");
  for (const std::string n : {"n1", "n2"}) {
    const std::string mount = dir + "/mnt/" + n;
    const std::string prolog = hooks.record(j, n, "prolog");
    const std::string epilog = hooks.record(j, n, "epilog");
    INFO(n << " prolog record:\n" << prolog << "epilog record:\n" << epilog);
    CHECK(prolog.find("result=ok") != std::string::npos);
    CHECK(prolog.find("mounts=" + mount + "\n") != std::string::npos);
    CHECK(epilog.find("result=ok") != std::string::npos);
    CHECK(epilog.find("flushed=" + mount + "\n") != std::string::npos);
    // The log says what ran where, prolog before epilog.
    const std::string log = ReadFile(hooks.log());
    const auto p =
        log.find("cvfs-prolog node=" + n + " cvfs_node=" + n + " job=" + j + " event=healthy");
    const auto e = log.find("cvfs-epilog node=" + n + " cvfs_node=" + n + " job=" + j +
                            " event=flushed mount=" + mount);
    CHECK(p != std::string::npos);
    CHECK(e != std::string::npos);
    CHECK(p < e);
  }
  // The job's data, written through each node's mount, reads back through another client.
  {
    auto reader = MountFileSystem(cluster, "scratch", "checker");
    REQUIRE(reader.ok());
    for (const std::string n : {"n1", "n2"}) {
      auto bytes = ReadWholeFile(**reader, "job-" + j + "-" + n + ".dat");
      INFO(n << ": " << (bytes.ok() ? std::string("read") : bytes.status().ToString()));
      REQUIRE(bytes.ok());
      CHECK(bytes->size() == kJobFileBytes);
      CHECK(FirstDifference(*bytes, JobContent(j, n, kJobFileBytes)) == -1);
    }
  }

  // Core and memory specialization as configured (CoreSpecCount=1, MemSpecLimit=512): Slurm
  // reports it and allocates around it.
  CHECK(bed.NodeField("n1", "CoreSpecCount") == "1");
  CHECK(bed.NodeField("n1", "MemSpecLimit") == "512");
  {
    std::string out;
    const int rc = bed.Run("sbatch --test-only -N1 -w n5 -c $(nproc) --wrap true 2>&1", &out);
    INFO(out);
    CHECK(rc != 0);  // every core of the node: one is cvfsd's
    CHECK(out.find("Requested node configuration is not available") != std::string::npos);
  }

  if (bed_options.cgroup) {
    // Enforced too: a job's tasks run only on the cores left to jobs.
    // (on n1: its prolog passes; n5 has no mount, so its prolog would drain it)
    const std::string spec = bed.NodeField("n1", "CPUSpecList");
    std::string out;
    const int rc = bed.Run("srun -w n1 -n1 grep Cpus_allowed_list /proc/self/status 2>&1", &out);
    INFO(out);
    REQUIRE(rc == 0);
    const std::set<int> allowed = CpuList(out.substr(out.find(':') + 1));
    WARN("CoreSpecCount=1 on n1: CPUSpecList=" << spec
                                               << ", a job task's Cpus_allowed_list: " << out);
    CHECK(!allowed.empty());
    for (int cpu : CpuList(spec)) CHECK(!allowed.count(cpu));
  } else {
    WARN(
        "no cgroup v1 cpuset/memory hierarchy here: core specialization checked at "
        "allocation only");
  }

  // n3's cvfsd stops: a job sent there fails its prolog and n3 drains with our reason.
  cluster.StopNode(2);
  auto n3_down = cluster.WaitForStatus(
      [&](const nlohmann::json& s) { return TestCluster::NodeState(s, "n3") == "down"; }, 30s);
  REQUIRE(n3_down.ok());
  auto job3 = bed.Submit("-w n3 -o /dev/null --wrap 'sleep 1'");
  auto job4 = bed.Submit("-w n4 -o /dev/null --wrap 'sleep 1'");  // n4: its mount is missing
  REQUIRE(job3.ok());
  REQUIRE(job4.ok());
  for (const std::string n : {"n3", "n4"}) {
    Status drained = bed.WaitFor(
        [&] { return bed.NodeFlags(n).find("DRAIN") != std::string::npos; }, 60s, n + " drained");
    INFO(ReadFile(hooks.log()) << bed.DumpLogs({n}));
    REQUIRE(drained.ok());
  }
  const std::string reason3 = bed.NodeReason("n3");
  const std::string reason4 = bed.NodeReason("n4");
  WARN("drain reasons: n3 \"" << reason3 << "\"; n4 \"" << reason4 << "\"");
  CHECK(reason3.rfind("cvfs: cvfsd of node n3 is not registered", 0) == 0);
  CHECK(reason4.rfind("cvfs: " + dir + "/mnt/n4 is not a ConvergeFS mount", 0) == 0);
  CHECK(hooks.record(*job3, "n3", "prolog").find("result=failed") != std::string::npos);
  // Slurm requeued the job, held: it never ran on the broken node.
  CHECK(bed.JobState(*job3) == "PENDING");
}

namespace {

// What the reboot cases share: an 8-node 4+2 cluster with data on it, the testbed with the
// hooks as Prolog/Epilog/RebootProgram, and the responder standing in for the reboots.
struct RebootBed {
  std::unique_ptr<TestCluster> cluster;
  std::unique_ptr<Hooks> hooks;
  std::unique_ptr<SlurmTestbed> bed;
  std::unique_ptr<RebootResponder> responder;
  std::unique_ptr<FileSystem> fs;
  std::unique_ptr<Workload> preload;

  // Hook settings for cvfs-reboot: the grant wait and the retries.
  void WriteRebootConf(int wait_s, int retries) const {
    hooks->WriteConf(
        *cluster,
        {"CVFS_REBOOT_COMMAND=" + bed->fake_reboot(),
         "CVFS_REBOOT_WAIT_S=" + std::to_string(wait_s), "CVFS_REBOOT_BOOT_S=20",
         "CVFS_REBOOT_RETRIES=" + std::to_string(retries), "CVFS_REBOOT_RETRY_DELAY_S=5"});
  }
  // Polls the responder, the maintenance list and `stop` until `stop` is true or timeout.
  Status Drive(const std::function<bool(const nlohmann::json& list)>& stop,
               std::chrono::milliseconds timeout, const std::string& what) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    nlohmann::json list;
    while (std::chrono::steady_clock::now() < deadline) {
      responder->Step();
      list = MaintenanceList(*cluster);
      if (stop(list)) return Status::Ok();
      std::this_thread::sleep_for(150ms);
    }
    return Status::DeadlineExceeded(what + " not within " + std::to_string(timeout.count()) +
                                    " ms; maintenance: " + list.dump());
  }
  std::string Logs(const std::vector<std::string>& nodes) const {
    return ReadFile(hooks->log()) + "---- fake-reboot\n" +
           ReadFile(bed->dir() + "/hooks/fake-reboot.log") + bed->DumpLogs(nodes) +
           cluster->DumpLogs(10);
  }
};

Result<RebootBed> StartRebootBed(const std::vector<std::string>& extra_config, int resume_timeout_s,
                                 std::chrono::milliseconds away, size_t preload_files) {
  RebootBed r;
  ClusterOptions options;
  options.nodes = 8;
  options.extra_config = extra_config;
  CVFS_ASSIGN_OR_RETURN(auto started,
                        StartWithFilesystem(options, "scratch", "4+2", "32K --pgs 64"));
  r.cluster = std::move(started.cluster);
  const std::string dir = r.cluster->dir() + "/slurm";
  r.hooks = std::make_unique<Hooks>(dir + "/hooks");
  SlurmTestbedOptions bed_options;
  bed_options.prolog = r.hooks->prolog();
  bed_options.epilog = r.hooks->epilog();
  bed_options.reboot_program = r.hooks->reboot();
  bed_options.resume_timeout_s = resume_timeout_s;
  CVFS_ASSIGN_OR_RETURN(r.bed, SlurmTestbed::Start(bed_options));
  r.responder = std::make_unique<RebootResponder>(*r.cluster, *r.bed, dir + "/reboots", away);
  CVFS_ASSIGN_OR_RETURN(r.fs, MountFileSystem(*r.cluster, "scratch", "preload"));
  r.preload = std::make_unique<Workload>(*r.fs, "preload", 7);
  for (size_t i = 0; i < preload_files; ++i) {
    CVFS_RETURN_IF_ERROR(r.preload->WriteAndVerify(1024 * 1024));
  }
  return r;
}

bool SlurmBackInService(const SlurmTestbed& bed, const std::string& node) {
  return bed.NodeFlags(node) == "IDLE";
}

}  // namespace

TEST_CASE(
    "scontrol reboot of two nodes in different failure domains: granted one after the "
    "other, a workload sees no error, each node resyncs only what it missed",
    "[slurm][maintenance]") {
  std::string why;
  if (!CanRunSlurm(&why)) {
    WARN(why);
    return;
  }
  auto started = StartRebootBed({}, /*resume_timeout_s=*/150, /*away=*/3s, /*preload_files=*/32);
  INFO((started.ok() ? std::string() : started.status().ToString()));
  REQUIRE(started.ok());
  RebootBed& r = *started;
  TestCluster& cluster = *r.cluster;
  RequireMaintenanceCli(cluster);
  r.WriteRebootConf(/*wait_s=*/100, /*retries=*/0);
  const std::vector<std::string> nodes = {"n2", "n5"};  // failure domains fd2 and fd5
  // A node's share of what the filesystem holds: 64 PGs of 6 cells over 8 nodes, so each
  // node holds about (N+P)/N / 8 of the bytes written (drive usage says nothing: cells.dat
  // is preallocated).
  const uint64_t preload_bytes = r.preload->bytes();

  auto client = MountFileSystem(cluster, "scratch", "workload");
  REQUIRE(client.ok());
  Workload work(**client, "work", 11);
  constexpr size_t kFileBytes = 128 * 1024;
  WrittenBytes written;
  int max_granted = 0;
  std::set<std::string> seen_granted;
  const auto t0 = std::chrono::steady_clock::now();
  {
    BackgroundWorkload workload({&work}, kFileBytes, 200ms);
    std::string out;
    REQUIRE(r.bed->Run("scontrol reboot ASAP nextstate=RESUME reason='cvfs test' n2,n5 2>&1",
                       &out) == 0);
    Status st = r.Drive(
        [&](const nlohmann::json& list) {
          written.Sample(workload.ops() * kFileBytes);
          if (list.is_object()) {
            const int granted =
                static_cast<int>(list.value("granted", nlohmann::json::array()).size());
            max_granted = std::max(max_granted, granted);
            for (const auto& g : list.value("granted", nlohmann::json::array())) {
              seen_granted.insert(g.value("node", ""));
            }
          }
          for (const auto& n : nodes) {
            const auto recent = Entry(list, "recent", n);
            if (recent.is_null() || !Entry(list, "granted", n).is_null()) return false;
            if (!SlurmBackInService(*r.bed, n)) return false;
          }
          return true;
        },
        150s, "both nodes rebooted, back in Slurm and out of maintenance");
    workload.Stop();
    written.Sample(workload.ops() * kFileBytes);
    INFO(r.Logs(nodes));
    REQUIRE(st.ok());
    const auto errors = workload.errors();
    INFO("workload errors: " << (errors.empty() ? std::string("none") : errors.front()));
    CHECK(errors.empty());
    CHECK(r.responder->errors().empty());
    WARN("two reboots done in " << SecondsSince(t0) << " s; " << workload.ops()
                                << " files written and verified meanwhile");
  }
  REQUIRE(work.VerifyAll().ok());
  REQUIRE(r.preload->VerifyAll().ok());

  // Never both at once: at most one granted in any poll, and the grants' intervals apart.
  CHECK(max_granted == 1);
  CHECK(seen_granted == std::set<std::string>(nodes.begin(), nodes.end()));
  auto list = MaintenanceList(cluster);
  REQUIRE(list.is_object());
  const auto a = Entry(list, "recent", "n2");
  const auto b = Entry(list, "recent", "n5");
  INFO(list.dump(1));
  const bool a_first = a.value("granted_ms", int64_t{0}) < b.value("granted_ms", int64_t{0});
  const auto& first = a_first ? a : b;
  const auto& second = a_first ? b : a;
  CHECK(EndedMs(first) > 0);
  CHECK(EndedMs(first) <= second.value("granted_ms", int64_t{0}));
  CHECK(list.value("queue", nlohmann::json::array()).empty());
  CHECK(list.value("granted", nlohmann::json::array()).empty());

  auto status = cluster.StatusJson();
  REQUIRE(status.ok());
  for (const auto& n : nodes) {
    const auto e = Entry(list, "recent", n);
    CHECK(e.value("outcome", "") == "resynced");
    CHECK(TestCluster::NodeState(*status, n) == "up");
    CHECK(r.bed->NodeFlags(n) == "IDLE");
    CHECK(r.responder->reboots(n) == 1);
    // Resynced: what was written while the node was away, never its whole share.
    const uint64_t resynced = e.value("resynced_bytes", uint64_t{0});
    const uint64_t meanwhile = written.Between(e.value("granted_ms", int64_t{0}), EndedMs(e));
    const uint64_t bound = meanwhile * 6 / 4 + 1024 * 1024;  // (N+P)/N, + metadata
    const uint64_t before = preload_bytes + written.Between(0, e.value("granted_ms", int64_t{0}));
    const uint64_t share = before * 6 / 4 / 8;
    WARN(n << ": resynced " << resynced << " bytes; the workload wrote " << meanwhile
           << " bytes while it was in maintenance (x (N+P)/N = " << meanwhile * 6 / 4
           << "); the node held about " << share << " bytes (" << before
           << " bytes written before, x (N+P)/N / 8 nodes)");
    CHECK(resynced > 0);
    CHECK(resynced <= bound);
    CHECK(resynced * 3 < share);
  }
  CHECK(WaitFilesystemFull(cluster, "scratch").ok());
}

TEST_CASE("a reboot asked while a PG is degraded is not granted until the rebuild completes",
          "[slurm][maintenance]") {
  std::string why;
  if (!CanRunSlurm(&why)) {
    WARN(why);
    return;
  }
  auto started = StartRebootBed({"[rebuild]", "node_grace_s = 30", "bandwidth_mib = 0"},
                                /*resume_timeout_s=*/150, /*away=*/2s, /*preload_files=*/8);
  INFO((started.ok() ? std::string() : started.status().ToString()));
  REQUIRE(started.ok());
  RebootBed& r = *started;
  TestCluster& cluster = *r.cluster;
  RequireMaintenanceCli(cluster);

  // n7 crashes: its PGs are degraded, and rebuilt elsewhere after the 30 s grace.
  const auto t_kill = std::chrono::steady_clock::now();
  cluster.KillNode(6);
  REQUIRE(cluster
              .WaitForStatus(
                  [](const nlohmann::json& s) { return TestCluster::NodeState(s, "n7") == "down"; },
                  30s)
              .ok());

  // A short wait, one retry: not granted, so n1 is never rebooted. Slurm shows why, the
  // hook asks Slurm for the reboot again after the retry delay, and after the second
  // refusal the node stays drained with the reason; no request is left behind.
  r.WriteRebootConf(/*wait_s=*/3, /*retries=*/1);
  std::string out;
  REQUIRE(r.bed->Run("scontrol reboot ASAP nextstate=RESUME reason='cvfs test' n1 2>&1", &out) ==
          0);
  std::set<std::string> reasons;
  Status refused = r.bed->WaitFor(
      [&] {
        std::string reason = r.bed->NodeReason("n1");
        reason = reason.substr(0, reason.find(" ["));  // drop "[root@time]"
        reasons.insert(reason);
        return reason.rfind("cvfs: reboot not done", 0) == 0;
      },
      60s, "n1 drained with the reason the grant did not come");
  INFO(r.Logs({"n1"}));
  REQUIRE(refused.ok());
  std::string seen;
  bool postponed = false;
  for (const auto& reason : reasons) {
    seen += "\n  \"" + reason + "\"";
    if (reason.rfind("cvfs: reboot postponed (try 1 of 2): storage did not grant", 0) == 0) {
      postponed = true;
    }
  }
  WARN("n1 asked to reboot while n7 is down; Slurm reasons seen:" << seen);
  CHECK(postponed);
  CHECK(r.bed->NodeReason("n1").find("(after 2 tries)") != std::string::npos);
  const std::string hook_log = ReadFile(r.hooks->log());
  CHECK(CountLines(hook_log, "cvfs-reboot node=n1 cvfs_node=n1 job=- event=request ") == 2);
  CHECK(CountLines(hook_log, "node=n1 cvfs_node=n1 job=- event=reboot_requeued try=2") == 1);
  CHECK(r.bed->NodeFlags("n1").find("REBOOT") == std::string::npos);
  CHECK(ReadFile(r.bed->dir() + "/hooks/fake-reboot.log").find("node=n1") == std::string::npos);
  auto list = MaintenanceList(cluster);
  CHECK(Entry(list, "granted", "n1").is_null());
  CHECK(Entry(list, "queue", "n1").is_null());
  CHECK(cluster.running(0));

  // Asked again with time to wait: queued while the rebuild runs, granted after it ended.
  REQUIRE(r.bed->Run("scontrol update nodename=n1 state=resume 2>&1", &out) == 0);
  r.WriteRebootConf(/*wait_s=*/100, /*retries=*/0);
  REQUIRE(r.bed->Run("scontrol reboot ASAP nextstate=RESUME reason='cvfs test' n1 2>&1", &out) ==
          0);
  std::string waiting_for;
  Status st = r.Drive(
      [&](const nlohmann::json& l) {
        const auto queued = Entry(l, "queue", "n1");
        if (!queued.is_null()) waiting_for = queued.value("waiting_for", "");
        return !Entry(l, "recent", "n1").is_null() && Entry(l, "granted", "n1").is_null() &&
               SlurmBackInService(*r.bed, "n1");
      },
      150s, "n1 rebooted after the rebuild");
  INFO(r.Logs({"n1"}));
  REQUIRE(st.ok());
  list = MaintenanceList(cluster);
  const auto done = Entry(list, "recent", "n1");
  const int64_t rebuilt_ms = LastRebuildFinishedMs(cluster);
  WARN("n1 queued while n7's PGs were rebuilt (waiting for: \""
       << waiting_for << "\"); rebuild finished at " << rebuilt_ms << ", granted at "
       << done.value("granted_ms", int64_t{0}) << "; " << SecondsSince(t_kill)
       << " s since n7 died");
  CHECK(!waiting_for.empty());
  CHECK(rebuilt_ms > 0);
  CHECK(done.value("granted_ms", int64_t{0}) >= rebuilt_ms);
  CHECK(done.value("outcome", "") == "resynced");
  CHECK(r.responder->reboots("n1") == 1);
  CHECK(r.preload->VerifyAll().ok());
}

TEST_CASE("a node that does not come back within its maintenance window is failed and rebuilt",
          "[slurm][maintenance]") {
  std::string why;
  if (!CanRunSlurm(&why)) {
    WARN(why);
    return;
  }
  auto started = StartRebootBed(
      {"[maintenance]", "window_s = 8", "[rebuild]", "node_grace_s = 2", "bandwidth_mib = 0"},
      /*resume_timeout_s=*/120, /*away=*/1s, /*preload_files=*/8);
  INFO((started.ok() ? std::string() : started.status().ToString()));
  REQUIRE(started.ok());
  RebootBed& r = *started;
  TestCluster& cluster = *r.cluster;
  RequireMaintenanceCli(cluster);
  r.WriteRebootConf(/*wait_s=*/60, /*retries=*/0);
  r.responder->KeepDown("n3");  // its slurmd comes back, its storage does not

  const auto t0 = std::chrono::steady_clock::now();
  std::string out;
  REQUIRE(r.bed->Run("scontrol reboot ASAP nextstate=RESUME reason='cvfs test' n3 2>&1", &out) ==
          0);
  Status st = r.Drive(
      [&](const nlohmann::json& l) {
        const auto e = Entry(l, "recent", "n3");
        return e.is_object() && e.value("outcome", "") == "expired";
      },
      90s, "n3's maintenance window expired");
  INFO(r.Logs({"n3"}));
  REQUIRE(st.ok());
  auto full = cluster.WaitForStatus(
      [](const nlohmann::json& s) {
        return TestCluster::NodeState(s, "n3") == "down" && FsState(s) == "full";
      },
      90s);
  INFO((full.ok() ? full->dump(1) : full.status().ToString()));
  REQUIRE(full.ok());
  WARN("n3 never came back: window 8 s expired, rebuilt on the other seven, fully protected "
       << SecondsSince(t0) << " s after the reboot was asked");
  CHECK(r.responder->reboots("n3") == 1);
  CHECK(r.bed->NodeFlags("n3") == "IDLE");  // Slurm has the node back; storage rebuilt without it
  CHECK(r.preload->VerifyAll().ok());
}
