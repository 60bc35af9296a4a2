// SlurmTestbed: a real Slurm cluster on this machine for tests (munged, slurmctld and nodes
// n1..nN, each its own slurmd), started by tests/slurm/testbed/up.sh and stopped by down.sh
// (by PID) in the destructor. The node names match TestCluster's (n1..n8), so node nI of
// Slurm is node nI of ConvergeFS. Needs root. Every query is a real Slurm command
// (sinfo, scontrol, sbatch) run with this testbed's SLURM_CONF.
// Thread-safety: one owner thread.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"

namespace cvfs::testing {

struct SlurmTestbedOptions {
  int nodes = 8;
  // Scratch directory (wiped by up.sh). "": a new one under $TMPDIR. munged insists that
  // every directory above its socket be searchable by all, which a test's private
  // (mode 0700) directory is not, so the testbed does not live inside one.
  std::string dir;
  std::string prolog;          // Prolog program ("": the testbed's logging stub)
  std::string epilog;          // Epilog program
  std::string reboot_program;  // RebootProgram ("": the testbed's fake-reboot)
  int resume_timeout_s = 60;
  int core_spec_count = 0;  // CoreSpecCount per node (0: none)
  int mem_spec_mb = 0;      // MemSpecLimit per node (0: none)
  // TaskPlugin=task/affinity,task/cgroup with ConstrainCores/ConstrainRAMSpace (cgroup v1,
  // as mounted here); false: task/none.
  bool cgroup = false;
};

class SlurmTestbed {
 public:
  static Result<std::unique_ptr<SlurmTestbed>> Start(const SlurmTestbedOptions& options);
  ~SlurmTestbed();  // down.sh; keeps the directory when CVFS_KEEP_TEST_DIR is set

  const std::string& dir() const { return options_.dir; }
  // The testbed's stand-in for /sbin/reboot (see up.sh): `fake-reboot NODE`.
  std::string fake_reboot() const { return dir() + "/bin/fake-reboot"; }
  // Runs a shell command with this testbed's SLURM_CONF; exit code, output (+stderr) in *out.
  int Run(const std::string& command, std::string* out = nullptr) const;
  // Node state as sinfo says it ("idle", "drained", "down*", "reboot^", ...), "" if unknown.
  std::string NodeState(const std::string& node) const;
  // The node's full state flags and reason from `scontrol show node` ("" when none).
  std::string NodeFlags(const std::string& node) const;
  std::string NodeReason(const std::string& node) const;
  // One field ("CoreSpecCount", "MemSpecLimit", ...) of `scontrol show node`.
  std::string NodeField(const std::string& node, const std::string& field) const;
  // sbatch --parsable ARGS; the job id.
  Result<std::string> Submit(const std::string& args) const;
  // JobState of `scontrol show job` ("COMPLETED", "PENDING", ...; "" once forgotten).
  std::string JobState(const std::string& job) const;
  // Polls `pred` every 200 ms until true or `timeout` (kDeadlineExceeded naming `what`).
  Status WaitFor(const std::function<bool()>& pred, std::chrono::milliseconds timeout,
                 const std::string& what) const;
  // The last lines of slurmctld's and the named nodes' slurmd logs, for failure output.
  std::string DumpLogs(const std::vector<std::string>& nodes = {}, int lines = 15) const;

 private:
  SlurmTestbed() = default;
  SlurmTestbedOptions options_;
  std::string conf_;
  bool started_ = false;
};

// True when this process may run the Slurm tests (root). Tests print `why` and end early
// otherwise ("skipped: ...", which ctest reports as a skip).
bool CanRunSlurm(std::string* why);

}  // namespace cvfs::testing
