// Fault-injection suite (issue #6): seeded, replayable fault runs on one long-lived cluster
// of real cvfsd processes (8 backends, one failure domain each, filesystems 4+2).
//
// A run is a seed. The seed draws a schedule (core/random.h): a few fault events at random
// times of a few seconds of I/O. The I/O is two FileSystem clients creating, writing,
// fsyncing and reading back files (metadata and data), deleting old ones, and one
// ObjectClient overwriting and reading random ranges of a few objects. The events: kill -9 of
// a backend, SIGSTOP of a backend (resumed later), kill -9 of the current manager, a network
// partition of a backend (network namespaces, when this runs as root), a byte flipped in a
// data cell of an acknowledged file on its holder's drive, and the recovery of one faulted
// node (restart, SIGCONT, heal). At no time are more than P (= 2) failure domains unavailable:
// a node counts from its fault until it is back, up and no longer recovering, and a
// corrupted cell counts as one domain until the end of the run.
// After the I/O every node is recovered, the suite waits until the cluster reports every
// node up and every filesystem "full", then verifies every acknowledged write of every run
// so far, that the corrupted cell was detected (its holder logged the checksum mismatch)
// and repaired. Any error returned to a client, any acknowledged byte lost and any cluster
// that does not return to full fails the run; the seed is printed with the replay command.
//
//   fault_suite                              CI slice: CVFS_FAULT_RUNS (default 5) runs
//   CVFS_FAULT_RUNS=1000 fault_suite         the acceptance count
//   fault_suite --seed 17                    replays run 17 alone (= CVFS_FAULT_SEED=17
//                                            CVFS_FAULT_RUNS=1)
// More in docs/design/fault-injection.md.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/cluster/datapath_support.h"

using namespace cvfs;
using namespace cvfs::testing;
using Clock_ = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

// ---------------------------------------------------------------------------------------
// Options.

struct SuiteOptions {
  uint64_t first_seed = 12;  // seeds 12..16 (the CI slice) apply every kind of fault
  int runs = 5;
  int io_ms = 5000;         // I/O (and fault) phase of a run
  int max_down = 2;         // failure domains unavailable at once (P); >P shows the suite fail
  bool netns = true;        // partitions through network namespaces (needs root)
  bool keep_going = true;   // after a failed run (the cluster still heals), go on
  int live_files = 150;     // acknowledged files kept; older ones are deleted by the workload
  bool print_only = false;  // --print-schedules: print the runs' schedules, start nothing
};

uint64_t EnvU64(const char* name, uint64_t fallback) {
  const char* v = getenv(name);
  return v && *v ? std::strtoull(v, nullptr, 10) : fallback;
}

SuiteOptions ParseOptions(int argc, char** argv) {
  SuiteOptions o;
  o.first_seed = EnvU64("CVFS_FAULT_SEED", o.first_seed);
  o.runs = static_cast<int>(EnvU64("CVFS_FAULT_RUNS", getenv("CVFS_FAULT_SEED") ? 1 : o.runs));
  o.io_ms = static_cast<int>(EnvU64("CVFS_FAULT_IO_MS", o.io_ms));
  o.max_down = static_cast<int>(EnvU64("CVFS_FAULT_MAX_DOWN", o.max_down));
  o.netns = EnvU64("CVFS_FAULT_NETNS", geteuid() == 0 ? 1 : 0) != 0;
  o.keep_going = EnvU64("CVFS_FAULT_KEEP_GOING", 1) != 0;
  bool runs_given = getenv("CVFS_FAULT_RUNS") != nullptr;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> uint64_t {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", a.c_str());
        std::exit(2);
      }
      return std::strtoull(argv[++i], nullptr, 10);
    };
    if (a == "--seed") {
      o.first_seed = next();
      if (!runs_given) o.runs = 1;
    } else if (a == "--runs") {
      o.runs = static_cast<int>(next());
      runs_given = true;
    } else if (a == "--io-ms") {
      o.io_ms = static_cast<int>(next());
    } else if (a == "--max-down") {
      o.max_down = static_cast<int>(next());
    } else if (a == "--no-netns") {
      o.netns = false;
    } else if (a == "--print-schedules") {
      o.print_only = true;
    } else {
      std::fprintf(stderr,
                   "usage: fault_suite [--seed N] [--runs N] [--io-ms MS] [--max-down K] "
                   " [--no-netns] [--print-schedules]\n(env: CVFS_FAULT_SEED, CVFS_FAULT_RUNS, "
                   "CVFS_FAULT_IO_MS, "
                   "CVFS_FAULT_MAX_DOWN, CVFS_FAULT_NETNS, CVFS_FAULT_KEEP_GOING)\n");
      std::exit(2);
    }
  }
  return o;
}

// ---------------------------------------------------------------------------------------
// The schedule: a pure function of the seed.

enum class Kind { kKill, kPause, kKillManager, kPartition, kCorrupt, kRecover };
constexpr int kKinds = 6;
const char* KindName(Kind k) {
  switch (k) {
    case Kind::kKill:
      return "kill";
    case Kind::kPause:
      return "pause";
    case Kind::kKillManager:
      return "kill-manager";
    case Kind::kPartition:
      return "partition";
    case Kind::kCorrupt:
      return "corrupt";
    case Kind::kRecover:
      return "recover";
  }
  return "?";
}

struct Event {
  int at_ms = 0;
  Kind kind = Kind::kKill;
  uint64_t pick = 0;  // chooses the node / file / cell among those eligible at that time
};

std::vector<Event> MakeSchedule(uint64_t seed, int io_ms, bool partitions) {
  Random random(seed * 0x9e3779b97f4a7c15ULL + 1);
  // Weights: kill, pause, kill-manager, partition, corrupt, recover.
  const int weights[kKinds] = {3, 2, 2, partitions ? 2 : 0, 1, 3};
  int total = 0;
  for (int w : weights) total += w;
  const int n = static_cast<int>(random.Range(2, 6));
  std::vector<Event> events(n);
  for (auto& e : events) {
    e.at_ms = static_cast<int>(random.Range(200, std::max(300, io_ms - 500)));
    int r = static_cast<int>(random.Uniform(total));
    int k = 0;
    while (r >= weights[k]) r -= weights[k++];
    e.kind = static_cast<Kind>(k);
    e.pick = random.Next64();
  }
  std::stable_sort(events.begin(), events.end(),
                   [](const Event& a, const Event& b) { return a.at_ms < b.at_ms; });
  return events;
}

std::string ScheduleString(const std::vector<Event>& events) {
  std::string out;
  for (const auto& e : events) {
    if (!out.empty()) out += ", ";
    out += std::to_string(e.at_ms) + "ms " + KindName(e.kind);
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// What the clients were told succeeded.

struct AckedFile {
  std::string name;
  uint64_t inode = 0;
  uint64_t seed = 0;  // the client seed that wrote it (run seed * 1000 + client)
  std::vector<std::byte> bytes;
  std::atomic<bool> pinned{false};  // a corrupted cell of it awaits its check: not deleted
};

class AckedFiles {
 public:
  void Clear() {
    std::lock_guard lock(mu_);
    files_.clear();
  }
  void Add(std::shared_ptr<AckedFile> f) {
    std::lock_guard lock(mu_);
    files_.push_back(std::move(f));
  }
  // The oldest unpinned file when more than `keep` exist (taken out: the caller deletes it).
  std::shared_ptr<AckedFile> TakeOldestBeyond(size_t keep) {
    std::lock_guard lock(mu_);
    if (files_.size() <= keep) return nullptr;
    for (auto it = files_.begin(); it != files_.end(); ++it) {
      if ((*it)->pinned) continue;
      auto f = *it;
      files_.erase(it);
      return f;
    }
    return nullptr;
  }
  std::vector<std::shared_ptr<AckedFile>> All() const {
    std::lock_guard lock(mu_);
    return {files_.begin(), files_.end()};
  }
  std::shared_ptr<AckedFile> Pick(uint64_t pick, uint64_t min_bytes) const {
    std::lock_guard lock(mu_);
    std::vector<std::shared_ptr<AckedFile>> big;
    for (const auto& f : files_) {
      if (f->bytes.size() >= min_bytes) big.push_back(f);
    }
    if (big.empty()) return nullptr;
    auto f = big[pick % big.size()];
    f->pinned = true;
    return f;
  }

 private:
  mutable std::mutex mu_;
  std::deque<std::shared_ptr<AckedFile>> files_;
};

// Errors seen by the run (any one fails it).
class RunErrors {
 public:
  explicit RunErrors(Clock_::time_point t0) : t0_(t0) {}
  void Add(const std::string& what) {
    std::lock_guard lock(mu_);
    errors_.push_back("[" + std::to_string(static_cast<int>(SecondsSince(t0_) * 1000)) + "ms] " +
                      what);
  }
  std::vector<std::string> Get() const {
    std::lock_guard lock(mu_);
    return errors_;
  }

 private:
  const Clock_::time_point t0_;
  mutable std::mutex mu_;
  std::vector<std::string> errors_;
};

// ---------------------------------------------------------------------------------------
// Workloads.

Status ReadWholeFile(FileSystem& fs, const AckedFile& file) {
  CVFS_ASSIGN_OR_RETURN(FileAttr attr, fs.Lookup(nullptr, kRootInode, file.name));
  if (attr.inode != file.inode) {
    return Status::Corruption(file.name + ": inode " + std::to_string(attr.inode) + ", was " +
                              std::to_string(file.inode));
  }
  if (attr.size != file.bytes.size()) {
    return Status::Corruption(file.name + ": size " + std::to_string(attr.size) + ", wrote " +
                              std::to_string(file.bytes.size()));
  }
  CVFS_ASSIGN_OR_RETURN(uint64_t handle, fs.Open(nullptr, attr.inode, O_RDONLY, nullptr));
  std::vector<std::byte> got(file.bytes.size());
  auto read = fs.Read(handle, 0, got);
  (void)fs.Release(handle);
  CVFS_RETURN_IF_ERROR(read.status().WithContext("read " + file.name));
  if (*read != got.size() || FirstDifference(got, file.bytes) != -1) {
    size_t differing = 0, zeros = 0;
    for (size_t i = 0; i < got.size(); ++i) {
      if (got[i] == file.bytes[i]) continue;
      ++differing;
      zeros += got[i] == std::byte{0};
    }
    return Status::Corruption(file.name + " (inode " + std::to_string(file.inode) +
                              "): content differs at byte " +
                              std::to_string(FirstDifference(got, file.bytes)) + " (read " +
                              std::to_string(*read) + " bytes; " + std::to_string(differing) +
                              " differ, " + std::to_string(zeros) + " of them zeros)");
  }
  return Status::Ok();
}

struct WorkloadCounts {
  std::atomic<uint64_t> files_written{0}, bytes_written{0}, files_deleted{0}, reads{0};
  std::atomic<uint64_t> object_writes{0}, object_reads{0};
  std::atomic<int64_t> slowest_ms{0};  // one file (create to read back) or object call
  void Took(Clock_::time_point t0) {
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock_::now() - t0);
    int64_t seen = slowest_ms;
    while (ms.count() > seen && !slowest_ms.compare_exchange_weak(seen, ms.count())) {
    }
  }
};

// One FileSystem client: create, write, fsync, release (then acknowledged), read back; now
// and then delete the oldest acknowledged file beyond the live-set bound.
void FileWorker(FileSystem& fs, const std::string& prefix, uint64_t seed, size_t live_files,
                AckedFiles& acked, RunErrors& errors, WorkloadCounts& counts,
                const std::atomic<bool>& stop) {
  Random random(seed);
  for (int k = 0; !stop; ++k) {
    // Beyond the live set, each new file first retires the oldest (verified, then unlinked),
    // so the data every run verifies stays bounded.
    if (auto old = acked.TakeOldestBeyond(live_files)) {
      Status st = ReadWholeFile(fs, *old);
      if (!st.ok()) errors.Add("verify before delete: " + st.ToString());
      st = fs.Unlink(nullptr, kRootInode, old->name);
      if (!st.ok()) errors.Add("unlink " + old->name + ": " + st.ToString());
      counts.files_deleted++;
    }
    auto owned = std::make_shared<AckedFile>();
    AckedFile& file = *owned;
    file.name = prefix + "-" + std::to_string(k);
    file.seed = seed;
    // Sizes from a few bytes to several 128 KiB stripes, most with a partial stripe.
    const size_t size = random.OneIn(8) ? static_cast<size_t>(random.Range(1, 4096))
                                        : static_cast<size_t>(random.Range(4096, 400 * 1024));
    file.bytes = RandomBytes(random, size);
    bool created = false;
    const auto t0 = Clock_::now();
    auto attr = fs.Create(nullptr, kRootInode, file.name, 0644, true, &created);
    if (!attr.ok()) {
      errors.Add("create " + file.name + ": " + attr.status().ToString());
      std::this_thread::sleep_for(100ms);
      continue;
    }
    file.inode = attr->inode;
    auto handle = fs.OpenCreated(nullptr, *attr, O_RDWR);
    if (!handle.ok()) {
      errors.Add("open " + file.name + ": " + handle.status().ToString());
      std::this_thread::sleep_for(100ms);
      continue;
    }
    Status st = fs.Write(*handle, 0, file.bytes);
    if (st.ok()) st = fs.Fsync(*handle);
    Status released = fs.Release(*handle);
    if (!st.ok() || !released.ok()) {
      errors.Add("write " + file.name + ": " + (st.ok() ? released : st).ToString());
      std::this_thread::sleep_for(100ms);
      continue;
    }
    counts.files_written++;
    counts.bytes_written += size;
    Status verified = ReadWholeFile(fs, file);
    counts.reads++;
    counts.Took(t0);
    if (!verified.ok()) errors.Add("read back " + file.name + ": " + verified.ToString());
    acked.Add(std::move(owned));
  }
}

// Objects overwritten in random ranges by one ObjectClient, with a byte-exact model. A write
// that returns an error leaves its range uncertain until the next verification.
struct ModelObject {
  uint64_t inode = 0;
  ObjectModel model;
  std::vector<std::pair<uint64_t, uint64_t>> uncertain;  // [offset, end) of failed writes
  // The content before each of the last writes (newest first): tells a stale read (an older
  // acknowledged content) from garbage when a read differs.
  std::deque<std::vector<std::byte>> history;
  void Wrote(uint64_t offset, const std::vector<std::byte>& bytes) {
    history.push_front(model.Read(0, model.size()));
    if (history.size() > 16) history.pop_back();
    model.Write(offset, bytes);
  }
  // What a read of [offset, offset + got.size()) that differs from the model returned.
  std::string Explain(uint64_t offset, const std::vector<std::byte>& got) const {
    const auto want = model.Read(offset, got.size());
    size_t differing = 0;
    bool zeros = true;
    for (size_t i = 0; i < got.size(); ++i) {
      if (got[i] == want[i]) continue;
      ++differing;
      zeros = zeros && got[i] == std::byte{0};
    }
    std::string out = std::to_string(differing) + " bytes differ" + (zeros ? " (zeros)" : "");
    for (size_t k = 0; k < history.size(); ++k) {
      const auto& old = history[k];
      if (offset + got.size() > old.size()) continue;
      if (std::equal(got.begin(), got.end(), old.begin() + static_cast<int64_t>(offset))) {
        return out + "; the range reads as it was before the last " + std::to_string(k + 1) +
               " acknowledged write(s) of this object: STALE";
      }
    }
    return out + "; matches none of the last " + std::to_string(history.size()) +
           " contents of the range";
  }
};

constexpr uint64_t kObjectBytes = 768 * 1024;

void ObjectWorker(ObjectClient& client, std::vector<ModelObject>& objects, uint64_t seed,
                  RunErrors& errors, WorkloadCounts& counts, const std::atomic<bool>& stop) {
  Random random(seed);
  while (!stop) {
    ModelObject& o = objects[random.Uniform(objects.size())];
    const uint64_t offset = random.Uniform(kObjectBytes - 1);
    const uint64_t length = 1 + random.Uniform(std::min<uint64_t>(kObjectBytes - offset, 300000));
    if (random.OneIn(3)) {
      if (!o.uncertain.empty()) continue;
      std::vector<std::byte> got(length);
      const auto t0 = Clock_::now();
      Status st = client.Read(o.inode, offset, got);
      counts.Took(t0);
      counts.object_reads++;
      if (!st.ok()) {
        errors.Add("object read " + std::to_string(o.inode) + ": " + st.ToString());
      } else if (auto want = o.model.Read(offset, length); FirstDifference(got, want) != -1) {
        errors.Add("object " + std::to_string(o.inode) + " [" + std::to_string(offset) + ", +" +
                   std::to_string(length) + "): DATA DIFFERS at byte " +
                   std::to_string(offset + FirstDifference(got, want)) + ", " +
                   o.Explain(offset, got));
      }
      continue;
    }
    auto bytes = RandomBytes(random, length);
    const auto t0 = Clock_::now();
    Status st = client.Write(o.inode, offset, bytes);
    counts.Took(t0);
    counts.object_writes++;
    if (st.ok()) {
      o.Wrote(offset, bytes);
    } else {
      errors.Add("object write " + std::to_string(o.inode) + ": " + st.ToString());
      o.uncertain.emplace_back(offset, offset + length);
      o.model.Write(offset, bytes);  // either content is allowed there (checked later)
    }
  }
}

// ---------------------------------------------------------------------------------------
// The cluster and the faults.

bool NodeRecovering(const nlohmann::json& status, const std::string& id) {
  const auto& rebuild = status.value("rebuild", nlohmann::json::object());
  for (const auto& fs : rebuild.value("filesystems", nlohmann::json::array())) {
    for (const auto& slot : fs.value("slots", nlohmann::json::array())) {
      if (slot.value("node", "") == id) return true;
    }
  }
  return false;
}

bool AllFull(const nlohmann::json& s, int nodes) {
  int up = 0;
  for (const auto& n : s.value("nodes", nlohmann::json::array()))
    up += n.value("state", "") == "up";
  if (up != nodes || s.value("manager", "").empty()) return false;
  for (const auto& fs : s.value("filesystems", nlohmann::json::array())) {
    if (fs.value("state", "") != "full") return false;
  }
  return !s.value("rebuild", nlohmann::json::object()).value("active", true);
}

enum class NodeFault { kNone, kKilled, kPaused, kPartitioned, kReturning };

struct Corruption {
  std::shared_ptr<AckedFile> file;
  uint64_t stripe = 0;
  int cell = 0;
  int holder = -1;
  int log_hits_before = 0;
  std::string where;
};

struct Totals {
  std::map<std::string, uint64_t> injected, skipped;
  uint64_t files_written = 0, bytes_written = 0, files_deleted = 0, object_writes = 0;
  uint64_t verified_files = 0, verified_bytes = 0;
  int runs = 0, failed = 0;
  std::vector<uint64_t> failed_seeds;
  double run_s_sum = 0, run_s_max = 0, heal_s_max = 0;
};

class FaultSuite {
 public:
  explicit FaultSuite(SuiteOptions options) : options_(options) {}

  // With network namespaces when asked and possible (the data path must work through
  // them: a probe file proves it), else without (no partitions).
  Status Start();
  // " n1=pid n2=pid ...": the backends' processes, for a developer to attach to.
  std::string Pids() const {
    std::string out;
    for (int i = 0; i < cluster_->size(); ++i) {
      out += " " + cluster_->node_id(i) + "=" + std::to_string(cluster_->pid(i));
    }
    return out;
  }
  // One run; false when it failed. Sets *fatal when the cluster did not heal.
  bool Run(uint64_t seed, bool* fatal);
  void PrintSummary(double total_s) const;
  const Totals& totals() const { return totals_; }
  bool partitions() const { return partitions_; }

 private:
  Status StartCluster(bool netns);
  int Unavailable() const;
  // Drops returning nodes that are back, up and no longer recovering from the count.
  void RefreshReturning(bool wait_for_budget);
  std::string Apply(const Event& e, RunErrors& errors);
  std::string Corrupt(uint64_t pick);
  Status HealAll(double* seconds);
  void VerifyAll(RunErrors& errors, uint64_t* files, uint64_t* bytes);
  void VerifyObjects(RunErrors& errors);
  void CheckCorruption(const Corruption& c, RunErrors& errors);
  std::vector<int> Eligible() const;

  SuiteOptions options_;
  std::unique_ptr<TestCluster> cluster_;
  bool partitions_ = false;
  FilesystemInfo scratch_;
  std::unique_ptr<FileSystem> mount_a_, mount_b_;
  std::unique_ptr<ObjectClient> objects_client_;
  std::vector<ModelObject> objects_;
  AckedFiles acked_;
  std::vector<NodeFault> node_fault_;
  std::vector<Clock_::time_point> returning_since_;
  std::vector<Corruption> corruptions_;  // this run's
  Totals totals_;
};

constexpr int kNodes = 8;

Status FaultSuite::Start() {
  if (options_.netns) {
    Status st = StartCluster(/*netns=*/true);
    if (st.ok()) return st;
    std::printf(
        "fault_suite: with network namespaces: %s\nfault_suite: partitions disabled, "
        "starting without network namespaces\n",
        st.ToString().c_str());
    objects_.clear();
    objects_client_.reset();
    mount_b_.reset();
    mount_a_.reset();
    cluster_.reset();
    acked_.Clear();
  }
  return StartCluster(/*netns=*/false);
}

Status FaultSuite::StartCluster(bool netns) {
  ClusterOptions options;
  options.nodes = kNodes;
  options.lease_ttl_s = 2;
  // Long grace: a faulted node comes back within the run, so its slots are resynced, not
  // rebuilt elsewhere (rebuild_test covers rebuild after the grace period).
  options.extra_config = {"[rebuild]", "node_grace_s = 3600", "bandwidth_mib = 0"};
  options.network_namespaces = netns;
  auto started = TestCluster::Start(options);
  CVFS_RETURN_IF_ERROR(started.status());
  cluster_ = std::move(*started);
  partitions_ = netns;
  CVFS_RETURN_IF_ERROR(cluster_->CreateFilesystem("scratch", "4+2", "32K", "--pgs 32"));
  CVFS_RETURN_IF_ERROR(cluster_->CreateFilesystem("objects", "4+2", "32K", "--pgs 16"));
  CVFS_ASSIGN_OR_RETURN(scratch_, WaitFilesystemPlaced(*cluster_, "scratch"));
  CVFS_RETURN_IF_ERROR(WaitFilesystemPlaced(*cluster_, "objects").status());
  CVFS_ASSIGN_OR_RETURN(mount_a_, MountFileSystem(*cluster_, "scratch", "fault-a"));
  CVFS_ASSIGN_OR_RETURN(mount_b_, MountFileSystem(*cluster_, "scratch", "fault-b"));
  CVFS_ASSIGN_OR_RETURN(objects_client_, OpenObjectClient(*cluster_, "objects", "fault-obj"));
  // The objects start fully written, so every range has known content.
  Random random(4242);
  for (uint64_t i = 0; i < 4; ++i) {
    ModelObject o;
    o.inode = 1000 + i;
    auto bytes = RandomBytes(random, kObjectBytes);
    CVFS_RETURN_IF_ERROR(objects_client_->Write(o.inode, 0, bytes));
    o.model.Write(0, bytes);
    objects_.push_back(std::move(o));
  }
  // A first file through each client proves the data path works in this setup (e.g. the
  // clients reach backends in their network namespaces).
  auto owned = std::make_shared<AckedFile>();
  AckedFile& probe = *owned;
  probe.name = "probe";
  probe.bytes = RandomBytes(random, 200000);
  bool created = false;
  CVFS_ASSIGN_OR_RETURN(FileAttr attr,
                        mount_a_->Create(nullptr, kRootInode, probe.name, 0644, true, &created));
  probe.inode = attr.inode;
  CVFS_ASSIGN_OR_RETURN(uint64_t h, mount_a_->OpenCreated(nullptr, attr, O_RDWR));
  CVFS_RETURN_IF_ERROR(mount_a_->Write(h, 0, probe.bytes));
  CVFS_RETURN_IF_ERROR(mount_a_->Fsync(h));
  CVFS_RETURN_IF_ERROR(mount_a_->Release(h));
  CVFS_RETURN_IF_ERROR(ReadWholeFile(*mount_b_, probe));
  acked_.Add(std::move(owned));
  node_fault_.assign(kNodes, NodeFault::kNone);
  returning_since_.assign(kNodes, Clock_::time_point{});
  return Status::Ok();
}

int FaultSuite::Unavailable() const {
  int n = static_cast<int>(corruptions_.size());
  for (auto f : node_fault_) n += f != NodeFault::kNone;
  return n;
}

std::vector<int> FaultSuite::Eligible() const {
  std::vector<int> out;
  for (int i = 0; i < kNodes; ++i) {
    if (node_fault_[i] == NodeFault::kNone) out.push_back(i);
  }
  return out;
}

void FaultSuite::RefreshReturning(bool wait_for_budget) {
  const auto deadline = Clock_::now() + 6s;
  while (true) {
    bool any = false;
    for (auto f : node_fault_) any |= f == NodeFault::kReturning;
    if (!any) return;
    auto status = cluster_->StatusJson();
    if (status.ok()) {
      for (int i = 0; i < kNodes; ++i) {
        if (node_fault_[i] != NodeFault::kReturning) continue;
        // Past the lease TTL (a restart within it is noticed by its new registration), up,
        // and no slot of it still recovering.
        if (Clock_::now() - returning_since_[i] < 3s) continue;
        const std::string id = cluster_->node_id(i);
        if (TestCluster::NodeState(*status, id) == "up" && !NodeRecovering(*status, id)) {
          node_fault_[i] = NodeFault::kNone;
        }
      }
    }
    if (!wait_for_budget || Unavailable() < options_.max_down || Clock_::now() > deadline) return;
    std::this_thread::sleep_for(200ms);
  }
}

std::string FaultSuite::Apply(const Event& e, RunErrors& errors) {
  if (e.kind == Kind::kRecover) {
    std::vector<int> faulted;
    for (int i = 0; i < kNodes; ++i) {
      const auto f = node_fault_[i];
      if (f == NodeFault::kKilled || f == NodeFault::kPaused || f == NodeFault::kPartitioned) {
        faulted.push_back(i);
      }
    }
    if (faulted.empty()) return "";
    const int i = faulted[e.pick % faulted.size()];
    std::string what;
    switch (node_fault_[i]) {
      case NodeFault::kKilled: {
        Status st = cluster_->StartNode(i);
        if (!st.ok()) errors.Add("restart " + cluster_->node_id(i) + ": " + st.ToString());
        what = "restart ";
        break;
      }
      case NodeFault::kPaused:
        cluster_->ResumeNode(i);
        what = "SIGCONT ";
        break;
      default: {
        Status st = cluster_->HealNode(i);
        if (!st.ok()) errors.Add("heal " + cluster_->node_id(i) + ": " + st.ToString());
        what = "heal ";
        break;
      }
    }
    node_fault_[i] = NodeFault::kReturning;
    returning_since_[i] = Clock_::now();
    return what + cluster_->node_id(i);
  }
  // A new fault: only within the budget of unavailable failure domains.
  RefreshReturning(/*wait_for_budget=*/true);
  if (Unavailable() + 1 > options_.max_down) return "";
  if (e.kind == Kind::kCorrupt) return Corrupt(e.pick);
  int victim = -1;
  if (e.kind == Kind::kKillManager) {
    auto status = cluster_->StatusJson();
    if (!status.ok()) return "";
    victim = IndexOfNode(*cluster_, status->value("manager", ""));
    // A manager just faulted and not replaced yet: nothing to do.
    if (victim < 0 || node_fault_[victim] != NodeFault::kNone) return "";
  } else {
    const auto eligible = Eligible();
    if (eligible.empty()) return "";
    victim = eligible[e.pick % eligible.size()];
  }
  const std::string id = cluster_->node_id(victim);
  switch (e.kind) {
    case Kind::kKill:
    case Kind::kKillManager:
      cluster_->KillNode(victim);
      node_fault_[victim] = NodeFault::kKilled;
      return std::string("kill -9 ") + id + (e.kind == Kind::kKillManager ? " (manager)" : "");
    case Kind::kPause:
      cluster_->PauseNode(victim);
      node_fault_[victim] = NodeFault::kPaused;
      return "SIGSTOP " + id;
    case Kind::kPartition: {
      Status st = cluster_->PartitionNode(victim);
      if (!st.ok()) {
        errors.Add("partition " + id + ": " + st.ToString());
        return "";
      }
      node_fault_[victim] = NodeFault::kPartitioned;
      return "partition " + id;
    }
    default:
      return "";
  }
}

// Flips one byte inside a data cell of an acknowledged file on the cell holder's drive.
std::string FaultSuite::Corrupt(uint64_t pick) {
  const uint64_t cell_bytes = scratch_.geometry.cell_bytes;
  const uint64_t stripe_bytes = scratch_.geometry.stripe_bytes();
  auto file = acked_.Pick(pick, 8192);
  if (!file) return "";
  // A 4 KiB block of file data wholly inside one cell.
  Random random(pick);
  const uint64_t blocks = file->bytes.size() / 4096;
  const uint64_t at = random.Uniform(blocks) * 4096;
  Corruption c;
  c.file = file;
  c.stripe = at / stripe_bytes;
  c.cell = static_cast<int>((at % stripe_bytes) / cell_bytes);
  auto map = ReadMap(*cluster_);
  if (!map.ok() || !map->filesystems.count("scratch")) {
    file->pinned = false;
    return "";
  }
  c.holder = CellHolder(*cluster_, map->filesystems.at("scratch"), file->inode, c.stripe, c.cell);
  if (c.holder < 0) {
    file->pinned = false;
    return "";
  }
  const std::vector<std::byte> needle(file->bytes.begin() + static_cast<int64_t>(at),
                                      file->bytes.begin() + static_cast<int64_t>(at + 4096));
  // Every copy on the holder's drive (stale copies in freed extents do no harm).
  int flipped = 0;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(cluster_->drive_path(c.holder), ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (!it->is_regular_file()) continue;
    const int fd = ::open(it->path().c_str(), O_RDWR);
    if (fd < 0) continue;
    std::vector<std::byte> buf(8 << 20);
    off_t base = 0;
    while (true) {
      const ssize_t n = ::pread(fd, buf.data(), buf.size(), base);
      if (n <= 0) break;
      auto begin = buf.begin();
      const auto end = buf.begin() + n;
      while (true) {
        auto found = std::search(begin, end, needle.begin(), needle.end());
        if (found == end) break;
        const off_t off = base + (found - buf.begin()) + static_cast<off_t>(random.Uniform(4096));
        char b = 0;
        if (::pread(fd, &b, 1, off) == 1) {
          b = static_cast<char>(b ^ 0x5a);
          if (::pwrite(fd, &b, 1, off) == 1) ++flipped;
        }
        begin = found + 1;
      }
      if (n < static_cast<ssize_t>(buf.size())) break;
      base += n - static_cast<off_t>(needle.size());  // overlap: a block across chunks
    }
    ::fsync(fd);
    ::close(fd);
  }
  if (flipped == 0) {
    file->pinned = false;
    return "";
  }
  c.log_hits_before = CountInFile(cluster_->log_path(c.holder), "checksum mismatch");
  c.where = file->name + " stripe " + std::to_string(c.stripe) + " cell " + std::to_string(c.cell) +
            " on " + cluster_->node_id(c.holder) +
            (flipped > 1 ? " (" + std::to_string(flipped) + " copies)" : "");
  corruptions_.push_back(c);
  return "corrupt " + c.where;
}

Status FaultSuite::HealAll(double* seconds) {
  const auto t0 = Clock_::now();
  std::string notes;
  for (int i = 0; i < kNodes; ++i) {
    switch (node_fault_[i]) {
      case NodeFault::kPaused:
        cluster_->ResumeNode(i);
        break;
      case NodeFault::kPartitioned:
        CVFS_RETURN_IF_ERROR(cluster_->HealNode(i));
        break;
      default:
        break;
    }
    if (!cluster_->running(i)) {
      if (node_fault_[i] != NodeFault::kKilled) {
        // Not killed by us: the daemon died by itself.
        notes += cluster_->node_id(i) + " exited by itself (wait status " +
                 std::to_string(cluster_->wait_status(i).value_or(-1)) + "); ";
      }
      CVFS_RETURN_IF_ERROR(cluster_->StartNode(i));
    }
    node_fault_[i] = NodeFault::kNone;
  }
  auto full =
      cluster_->WaitForStatus([](const nlohmann::json& s) { return AllFull(s, kNodes); }, 60s);
  *seconds = SecondsSince(t0);
  if (!full.ok()) {
    // What was left, and what the daemons said last, for a failure seen only in CI.
    auto status = cluster_->StatusJson();
    std::string left = status.ok() ? status->value("rebuild", nlohmann::json::object()).dump()
                                   : status.status().ToString();
    return full.status().WithContext(
        "the cluster did not return to every node up and every filesystem full; rebuild: " + left +
        "\n" + cluster_->DumpLogs(12));
  }
  if (!notes.empty()) return Status::Internal(notes);
  return Status::Ok();
}

void FaultSuite::VerifyAll(RunErrors& errors, uint64_t* files, uint64_t* bytes) {
  int k = 0;
  for (const auto& f : acked_.All()) {
    FileSystem& fs = (k++ % 2) ? *mount_a_ : *mount_b_;
    Status st = ReadWholeFile(fs, *f);
    if (!st.ok()) {
      errors.Add("ACKNOWLEDGED FILE (run seed " + std::to_string(f->seed / 1000) +
                 "): " + st.ToString());
    }
    ++*files;
    *bytes += f->bytes.size();
  }
}

void FaultSuite::VerifyObjects(RunErrors& errors) {
  for (auto& o : objects_) {
    std::vector<std::byte> got(kObjectBytes);
    Status st = objects_client_->Read(o.inode, 0, got);
    if (!st.ok()) {
      errors.Add("verify object " + std::to_string(o.inode) + ": " + st.ToString());
      continue;
    }
    auto want = o.model.Read(0, kObjectBytes);
    // Outside the ranges of failed writes the model is exact.
    for (uint64_t i = 0; i < kObjectBytes; ++i) {
      bool uncertain = false;
      for (const auto& [b, e] : o.uncertain) uncertain |= i >= b && i < e;
      if (!uncertain && got[i] != want[i]) {
        errors.Add("ACKNOWLEDGED OBJECT DATA LOST: object " + std::to_string(o.inode) + " byte " +
                   std::to_string(i) + ", " + o.Explain(0, got));
        break;
      }
    }
    if (!o.uncertain.empty()) {
      o.model = ObjectModel();
      o.model.Write(0, got);
      o.uncertain.clear();
      o.history.clear();
    }
  }
}

void FaultSuite::CheckCorruption(const Corruption& c, RunErrors& errors) {
  // The verification read the file, but a long-lived client may have read around the holder
  // (still held unresponsive after a stop or a partition). A fresh reader reads every cell
  // of the stripe: the CRC must catch the flip (the holder logs it), and the primary must
  // repair the cell (a later fresh reader finds no bad cell there).
  const uint64_t stripe_bytes = scratch_.geometry.stripe_bytes();
  const uint64_t begin = c.stripe * stripe_bytes;
  const uint64_t len = std::min<uint64_t>(stripe_bytes, c.file->bytes.size() - begin);
  const std::vector<std::byte> want(c.file->bytes.begin() + static_cast<int64_t>(begin),
                                    c.file->bytes.begin() + static_cast<int64_t>(begin + len));
  bool detected = false;
  for (int attempt = 0; attempt < 50; ++attempt) {
    auto fresh = OpenObjectClient(*cluster_, "scratch", "fault-check");
    if (!fresh.ok()) {
      errors.Add("open checker: " + fresh.status().ToString());
      return;
    }
    std::vector<std::byte> got(len);
    Status st = (*fresh)->Read(c.file->inode, begin, got);
    if (!st.ok() || FirstDifference(got, want) != -1) {
      errors.Add("re-read of corrupted stripe " + c.where + ": " +
                 (st.ok() ? std::string("content differs") : st.ToString()));
      return;
    }
    detected = detected ||
               CountInFile(cluster_->log_path(c.holder), "checksum mismatch") > c.log_hits_before;
    if (!detected && attempt >= 2) break;  // read three times through every cell: not caught
    if (detected && (*fresh)->stats().checksum_failures == 0) return;
    std::this_thread::sleep_for(100ms);
  }
  errors.Add(detected ? "corrupted cell not repaired within 5 s: " + c.where
                      : "corrupted cell not detected: " + c.where +
                            " (no new checksum mismatch in " + cluster_->log_path(c.holder) + ")");
}

bool FaultSuite::Run(uint64_t seed, bool* fatal) {
  const auto t0 = Clock_::now();
  const auto schedule = MakeSchedule(seed, options_.io_ms, partitions_);
  RunErrors errors(t0);
  WorkloadCounts counts;
  std::vector<std::string> applied;
  corruptions_.clear();
  {
    std::atomic<bool> stop{false};
    // Client seeds derive from the run seed (seed * 1000 + client), so files name their run.
    std::thread a(FileWorker, std::ref(*mount_a_), "s" + std::to_string(seed) + "a",
                  seed * 1000 + 1, static_cast<size_t>(options_.live_files), std::ref(acked_),
                  std::ref(errors), std::ref(counts), std::cref(stop));
    std::thread b(FileWorker, std::ref(*mount_b_), "s" + std::to_string(seed) + "b",
                  seed * 1000 + 2, static_cast<size_t>(options_.live_files), std::ref(acked_),
                  std::ref(errors), std::ref(counts), std::cref(stop));
    std::thread o(ObjectWorker, std::ref(*objects_client_), std::ref(objects_), seed * 1000 + 3,
                  std::ref(errors), std::ref(counts), std::cref(stop));
    for (const auto& e : schedule) {
      std::this_thread::sleep_until(t0 + std::chrono::milliseconds(e.at_ms));
      const std::string what = Apply(e, errors);
      const int at = static_cast<int>(SecondsSince(t0) * 1000);
      if (what.empty()) {
        totals_.skipped[KindName(e.kind)]++;
        applied.push_back(std::to_string(at) + "ms " + KindName(e.kind) + " (skipped)");
      } else {
        totals_.injected[KindName(e.kind)]++;
        applied.push_back(std::to_string(at) + "ms " + what);
      }
    }
    std::this_thread::sleep_until(t0 + std::chrono::milliseconds(options_.io_ms));
    stop = true;
    a.join();
    b.join();
    o.join();
  }
  const double io_s = SecondsSince(t0);
  double heal_s = 0;
  Status healed = HealAll(&heal_s);
  if (!healed.ok()) {
    errors.Add("heal: " + healed.ToString());
    if (healed.code() == ErrorCode::kDeadlineExceeded) *fatal = true;
  }
  uint64_t files = 0, bytes = 0;
  const auto t_verify = Clock_::now();
  if (!*fatal) {
    VerifyAll(errors, &files, &bytes);
    VerifyObjects(errors);
    for (const auto& c : corruptions_) CheckCorruption(c, errors);
  }
  for (const auto& c : corruptions_) c.file->pinned = false;
  corruptions_.clear();
  const double verify_s = SecondsSince(t_verify);
  const double run_s = SecondsSince(t0);

  std::string faults;
  for (const auto& a : applied) faults += (faults.empty() ? "" : "; ") + a;
  const auto errs = errors.Get();
  std::printf("run seed %" PRIu64 ": %s | %" PRIu64 " files (%.1f MiB) written, %" PRIu64
              " deleted, %" PRIu64
              " object writes, slowest op %.1f s | io %.1f s, heal %.1f s, verify %.1f s (%" PRIu64
              " files, %.1f MiB) | %s\n",
              seed, faults.empty() ? "no faults" : faults.c_str(), counts.files_written.load(),
              counts.bytes_written.load() / 1048576.0, counts.files_deleted.load(),
              counts.object_writes.load(), counts.slowest_ms.load() / 1000.0, io_s, heal_s,
              verify_s, files, bytes / 1048576.0, errs.empty() ? "OK" : "FAILED");
  if (!errs.empty()) {
    std::printf("  FAILED seed %" PRIu64 " (schedule: %s); %zu errors:\n", seed,
                ScheduleString(schedule).c_str(), errs.size());
    for (size_t i = 0; i < errs.size() && i < 20; ++i) std::printf("    %s\n", errs[i].c_str());
    std::printf("  replay: CVFS_FAULT_SEED=%" PRIu64
                " fault_suite   (or fault_suite --seed %" PRIu64 ")\n",
                seed, seed);
    std::printf("%s\n", cluster_->DumpLogs(15).c_str());
  }
  std::fflush(stdout);
  totals_.runs++;
  totals_.files_written += counts.files_written;
  totals_.bytes_written += counts.bytes_written;
  totals_.files_deleted += counts.files_deleted;
  totals_.object_writes += counts.object_writes;
  totals_.verified_files += files;
  totals_.verified_bytes += bytes;
  totals_.run_s_sum += run_s;
  totals_.run_s_max = std::max(totals_.run_s_max, run_s);
  totals_.heal_s_max = std::max(totals_.heal_s_max, heal_s);
  if (!errs.empty()) {
    totals_.failed++;
    totals_.failed_seeds.push_back(seed);
  }
  return errs.empty();
}

void FaultSuite::PrintSummary(double total_s) const {
  std::string injected, skipped;
  uint64_t n = 0;
  for (const auto& [k, v] : totals_.injected) {
    injected += (injected.empty() ? "" : ", ") + k + " " + std::to_string(v);
    n += v;
  }
  for (const auto& [k, v] : totals_.skipped) {
    skipped += (skipped.empty() ? "" : ", ") + k + " " + std::to_string(v);
  }
  std::string failed;
  for (auto s : totals_.failed_seeds) failed += " " + std::to_string(s);
  const auto live = acked_.All();
  uint64_t live_bytes = 0;
  for (const auto& f : live) live_bytes += f->bytes.size();
  std::printf("\nfault_suite summary: %d runs (seeds %" PRIu64 "..%" PRIu64
              "), %d failed%s%s\n"
              "  faults injected: %" PRIu64
              " (%s); skipped (over the %d-domain budget or nothing to "
              "act on): %s\n"
              "  partitions: %s\n"
              "  files written and acknowledged: %" PRIu64 " (%.1f MiB), deleted %" PRIu64
              ", object writes %" PRIu64
              "\n"
              "  verifications: %" PRIu64
              " file reads (%.1f MiB); %zu files (%.1f MiB) live at the end\n"
              "  time: %.1f s total, %.1f s per run mean, %.1f s max; heal max %.1f s\n",
              totals_.runs, options_.first_seed, options_.first_seed + totals_.runs - 1,
              totals_.failed, failed.empty() ? "" : ": seeds", failed.c_str(), n, injected.c_str(),
              options_.max_down, skipped.empty() ? "none" : skipped.c_str(),
              partitions_ ? "network namespaces" : "disabled (no network namespaces)",
              totals_.files_written, totals_.bytes_written / 1048576.0, totals_.files_deleted,
              totals_.object_writes, totals_.verified_files, totals_.verified_bytes / 1048576.0,
              live.size(), live_bytes / 1048576.0, total_s,
              totals_.runs ? totals_.run_s_sum / totals_.runs : 0.0, totals_.run_s_max,
              totals_.heal_s_max);
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  const SuiteOptions options = ParseOptions(argc, argv);
  if (options.print_only) {
    std::map<std::string, int> kinds;
    for (int i = 0; i < options.runs; ++i) {
      const uint64_t seed = options.first_seed + static_cast<uint64_t>(i);
      const auto events = MakeSchedule(seed, options.io_ms, options.netns);
      for (const auto& e : events) kinds[KindName(e.kind)]++;
      std::printf("seed %" PRIu64 ": %s\n", seed, ScheduleString(events).c_str());
    }
    for (const auto& [k, n] : kinds) std::printf("%s %d\n", k.c_str(), n);
    return 0;
  }
  std::printf("fault_suite: %d runs from seed %" PRIu64
              ", %d ms of I/O each, at most %d "
              "failure domains down\n",
              options.runs, options.first_seed, options.io_ms, options.max_down);
  std::fflush(stdout);
  const auto t0 = Clock_::now();
  FaultSuite suite(options);
  Status started = suite.Start();
  if (!started.ok()) {
    std::printf("fault_suite: cannot start the cluster: %s\n", started.ToString().c_str());
    return 1;
  }
  std::printf(
      "fault_suite: cluster up in %.1f s (8 backends, scratch and objects 4+2, "
      "partitions %s)\n",
      SecondsSince(t0), suite.partitions() ? "on" : "off");
  std::fflush(stdout);
  for (int i = 0; i < options.runs; ++i) {
    bool fatal = false;
    const bool ok = suite.Run(options.first_seed + static_cast<uint64_t>(i), &fatal);
    if (fatal) {
      std::printf("fault_suite: the cluster did not heal; stopping\n");
      // CVFS_FAULT_HOLD_S=N keeps the unhealed cluster for N seconds (attach gdb to a cvfsd).
      if (const uint64_t hold = EnvU64("CVFS_FAULT_HOLD_S", 0); hold > 0) {
        std::printf("fault_suite: holding the cluster for %" PRIu64 " s:%s\n", hold,
                    suite.Pids().c_str());
        std::fflush(stdout);
        std::this_thread::sleep_for(std::chrono::seconds(hold));
      }
      break;
    }
    if (!ok && !options.keep_going) break;
  }
  suite.PrintSummary(SecondsSince(t0));
  return suite.totals().failed == 0 && suite.totals().runs == options.runs ? 0 : 1;
}
