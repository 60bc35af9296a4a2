#include "tests/slurm/slurm_testbed.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <regex>
#include <thread>

#include "tests/cluster/child_process.h"

namespace cvfs::testing {

namespace {

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

std::string Quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string TestbedScript(const std::string& name) {
  return std::string(CVFS_SOURCE_DIR) + "/tests/slurm/testbed/" + name;
}

}  // namespace

bool CanRunSlurm(std::string* why) {
  if (geteuid() != 0) {
    *why = "skipped: the Slurm tests need root (slurmd runs jobs as their users)";
    return false;
  }
  return true;
}

Result<std::unique_ptr<SlurmTestbed>> SlurmTestbed::Start(const SlurmTestbedOptions& options) {
  auto bed = std::unique_ptr<SlurmTestbed>(new SlurmTestbed());
  bed->options_ = options;
  if (bed->options_.dir.empty()) {
    CVFS_ASSIGN_OR_RETURN(bed->options_.dir, MakeTempDir("cvfs-slurm"));
    chmod(bed->options_.dir.c_str(), 0755);
  }
  bed->conf_ = bed->options_.dir + "/etc/slurm.conf";
  std::string env = "CVFS_SLURM_DIR=" + Quote(bed->options_.dir) +
                    " CVFS_SLURM_NODES=" + std::to_string(options.nodes) +
                    " CVFS_SLURM_RESUME_TIMEOUT=" + std::to_string(options.resume_timeout_s);
  if (!options.prolog.empty()) env += " CVFS_SLURM_PROLOG=" + Quote(options.prolog);
  if (!options.epilog.empty()) env += " CVFS_SLURM_EPILOG=" + Quote(options.epilog);
  if (!options.reboot_program.empty()) {
    env += " CVFS_SLURM_REBOOT_PROGRAM=" + Quote(options.reboot_program);
  }
  if (options.core_spec_count > 0) {
    env += " CVFS_SLURM_CORE_SPEC=" + std::to_string(options.core_spec_count);
  }
  if (options.cgroup) env += " CVFS_SLURM_CGROUP=1";
  if (options.mem_spec_mb > 0)
    env += " CVFS_SLURM_MEM_SPEC_MB=" + std::to_string(options.mem_spec_mb);
  // Ports: a few bases spread by pid, since other tests may run beside this one.
  std::string out;
  for (int attempt = 0; attempt < 4; ++attempt) {
    const int base = 20000 + static_cast<int>((getpid() * 7 + attempt * 131) % 900) * 40;
    const int rc = RunCommand(env + " CVFS_SLURM_PORT=" + std::to_string(base) + " bash " +
                                  TestbedScript("up.sh") + " 2>&1",
                              &out);
    if (rc == 0) {
      bed->started_ = true;
      return bed;
    }
    if (out.find("is in use") == std::string::npos) break;
  }
  bed->started_ = true;  // whatever up.sh started, down.sh stops
  return Status::Unavailable("tests/slurm/testbed/up.sh failed:\n" + out + bed->DumpLogs());
}

SlurmTestbed::~SlurmTestbed() {
  if (!started_) return;
  std::string env = "CVFS_SLURM_DIR=" + Quote(options_.dir);
  if (getenv("CVFS_KEEP_TEST_DIR") != nullptr) env += " CVFS_SLURM_KEEP=1";
  RunCommand(env + " bash " + TestbedScript("down.sh") + " >/dev/null 2>&1");
}

int SlurmTestbed::Run(const std::string& command, std::string* out) const {
  return RunCommand("SLURM_CONF=" + Quote(conf_) + " " + command, out);
}

std::string SlurmTestbed::NodeState(const std::string& node) const {
  std::string out;
  if (Run("sinfo -h -N -n " + node + " -o %T 2>/dev/null", &out) != 0) return "";
  return Trim(out);
}

std::string SlurmTestbed::NodeField(const std::string& node, const std::string& field) const {
  std::string out;
  if (Run("scontrol show node " + node + " 2>/dev/null", &out) != 0) return "";
  // Reason runs to the end of its line; other fields are single words.
  const std::regex re(field == "Reason" ? "(^|\\s)Reason=([^\\n]*)"
                                        : "(^|\\s)" + field + "=(\\S*)");
  std::smatch m;
  if (!std::regex_search(out, m, re)) return "";
  return Trim(m[2].str());
}

std::string SlurmTestbed::NodeFlags(const std::string& node) const {
  return NodeField(node, "State");
}

std::string SlurmTestbed::NodeReason(const std::string& node) const {
  return NodeField(node, "Reason");
}

Result<std::string> SlurmTestbed::Submit(const std::string& args) const {
  std::string out;
  const int rc = Run("sbatch --parsable " + args + " 2>&1", &out);
  out = Trim(out);
  if (rc != 0) return Status::Internal("sbatch " + args + " failed: " + out);
  return out.substr(0, out.find(';'));
}

std::string SlurmTestbed::JobState(const std::string& job) const {
  std::string out;
  if (Run("scontrol show job " + job + " 2>/dev/null", &out) != 0) return "";
  std::smatch m;
  if (!std::regex_search(out, m, std::regex("JobState=(\\S+)"))) return "";
  return m[1].str();
}

Status SlurmTestbed::WaitFor(const std::function<bool()>& pred, std::chrono::milliseconds timeout,
                             const std::string& what) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= deadline) {
      return Status::DeadlineExceeded(what + ": not within " + std::to_string(timeout.count()) +
                                      " ms");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return Status::Ok();
}

std::string SlurmTestbed::DumpLogs(const std::vector<std::string>& nodes, int lines) const {
  std::string out = "---- slurmctld\n" + TailFile(dir() + "/log/slurmctld.log", lines);
  for (const auto& n : nodes) {
    out += "---- slurmd " + n + "\n" + TailFile(dir() + "/log/slurmd-" + n + ".log", lines);
  }
  std::string sinfo = "(no slurm.conf)\n";
  if (std::filesystem::exists(conf_)) Run("timeout 10 sinfo -N -o '%N %T %E' 2>&1", &sinfo);
  return out + "---- sinfo\n" + sinfo;
}

}  // namespace cvfs::testing
