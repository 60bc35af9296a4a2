// Workloads for the failure and rebuild tests (rebuild_test, drive_test): clients that
// create, write, fsync and read back files through FileSystem, on the test's thread or in the
// background, and remember every acknowledged byte to verify later.
#pragma once

#include <fcntl.h>

#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tests/cluster/datapath_support.h"

namespace cvfs::testing {

using Clock_ = std::chrono::steady_clock;

struct FileRecord {
  std::string name;
  std::vector<std::byte> bytes;
};

// One client's workload: creates files, writes them, reads each back and compares.
class Workload {
 public:
  Workload(FileSystem& fs, std::string prefix, uint64_t seed)
      : fs_(fs), prefix_(std::move(prefix)), random_(seed) {}

  // One file: create, write `size` random bytes, fsync, release, reopen, read, compare.
  Status WriteAndVerify(size_t size) {
    const std::string name = prefix_ + "-" + std::to_string(files_.size());
    auto bytes = RandomBytes(random_, size);
    bool created = false;
    CVFS_ASSIGN_OR_RETURN(FileAttr attr,
                          fs_.Create(nullptr, kRootInode, name, 0644, true, &created));
    CVFS_ASSIGN_OR_RETURN(uint64_t handle, fs_.OpenCreated(nullptr, attr, O_RDWR));
    Status st = fs_.Write(handle, 0, bytes);
    if (st.ok()) st = fs_.Fsync(handle);
    Status released = fs_.Release(handle);
    CVFS_RETURN_IF_ERROR(st.WithContext("write " + name));
    CVFS_RETURN_IF_ERROR(released.WithContext("release " + name));
    files_.push_back({name, bytes});
    return Verify(files_.back());
  }

  Status Verify(const FileRecord& file) {
    CVFS_ASSIGN_OR_RETURN(FileAttr attr, fs_.Lookup(nullptr, kRootInode, file.name));
    if (attr.size != file.bytes.size()) {
      return Status::Corruption(file.name + ": size " + std::to_string(attr.size) + ", wrote " +
                                std::to_string(file.bytes.size()));
    }
    CVFS_ASSIGN_OR_RETURN(uint64_t handle, fs_.Open(nullptr, attr.inode, O_RDONLY, nullptr));
    std::vector<std::byte> got(file.bytes.size());
    auto read = fs_.Read(handle, 0, got);
    (void)fs_.Release(handle);
    CVFS_RETURN_IF_ERROR(read.status().WithContext("read " + file.name));
    if (*read != got.size() || FirstDifference(got, file.bytes) != -1) {
      return Status::Corruption(file.name + ": content differs at byte " +
                                std::to_string(FirstDifference(got, file.bytes)));
    }
    return Status::Ok();
  }

  Status VerifyAll() {
    for (const auto& f : files_) CVFS_RETURN_IF_ERROR(Verify(f));
    return Status::Ok();
  }
  size_t files() const { return files_.size(); }
  uint64_t bytes() const {
    uint64_t total = 0;
    for (const auto& f : files_) total += f.bytes.size();
    return total;
  }

 private:
  FileSystem& fs_;
  const std::string prefix_;
  Random random_;
  std::vector<FileRecord> files_;
};

// Runs workloads on their own threads until stopped; collects the first error of each.
class BackgroundWorkload {
 public:
  // `pause`: between two files of one client (a lighter load).
  BackgroundWorkload(std::vector<Workload*> workloads, size_t file_bytes,
                     std::chrono::milliseconds pause = std::chrono::milliseconds(0)) {
    for (Workload* w : workloads) {
      threads_.emplace_back([this, w, file_bytes, pause] {
        while (!stop_) {
          if (pause.count() > 0) std::this_thread::sleep_for(pause);
          Status st = w->WriteAndVerify(file_bytes);
          if (!st.ok()) {
            std::lock_guard lock(mu_);
            errors_.push_back(st.ToString());
            return;
          }
          ops_++;
        }
      });
    }
  }
  ~BackgroundWorkload() { Stop(); }
  void Stop() {
    stop_ = true;
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
  }
  std::vector<std::string> errors() {
    std::lock_guard lock(mu_);
    return errors_;
  }
  uint64_t ops() const { return ops_; }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> ops_{0};
  std::mutex mu_;
  std::vector<std::string> errors_;
  std::vector<std::thread> threads_;
};

// The state of filesystem "scratch" in a status JSON (full, degraded, critical, ...).
inline std::string FsState(const nlohmann::json& status) {
  for (const auto& fs : status.value("filesystems", nlohmann::json::array())) {
    if (fs.value("name", "") == "scratch") return fs.value("state", "");
  }
  return "";
}

}  // namespace cvfs::testing
