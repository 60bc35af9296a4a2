#include "server/drive_set.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/logging.h"

namespace cvfs::server {

namespace {

constexpr const char* kLabelFile = "/.cvfs-drive";

Status CheckOrWriteLabel(const std::string& path, const std::string& cluster,
                         const std::string& node_id, size_t index) {
  const std::string label_path = path + kLabelFile;
  std::ifstream in(label_path);
  if (in) {
    std::stringstream text;
    text << in.rdbuf();
    const auto label = nlohmann::json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
    if (!label.is_object() || !label.contains("cluster") || !label.contains("node_id") ||
        !label["cluster"].is_string() || !label["node_id"].is_string()) {
      return Status(ErrorCode::kConfigError, label_path + " is not a ConvergeFS drive label");
    }
    if (label["cluster"] != cluster || label["node_id"] != node_id) {
      return Status(ErrorCode::kConfigError,
                    "drive " + path + " belongs to node '" + label["node_id"].get<std::string>() +
                        "' of cluster '" + label["cluster"].get<std::string>() + "'");
    }
    return Status::Ok();
  }
  const nlohmann::json label = {
      {"format", 1}, {"cluster", cluster}, {"node_id", node_id}, {"index", index}};
  const std::string tmp = label_path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << label.dump() << "\n";
    out.flush();
    if (!out) return Status::IoError("cannot write drive label " + tmp);
  }
  if (::rename(tmp.c_str(), label_path.c_str()) != 0) {
    return Status::IoError("cannot write drive label " + label_path + ": " + std::strerror(errno));
  }
  return Status::Ok();
}

}  // namespace

Result<DriveInfo> MeasureDrive(const std::string& path) {
  struct statvfs fs {};
  if (::statvfs(path.c_str(), &fs) != 0) {
    return Status::IoError("statvfs " + path + ": " + std::strerror(errno));
  }
  DriveInfo info;
  info.path = path;
  info.capacity_bytes = static_cast<uint64_t>(fs.f_blocks) * fs.f_frsize;
  info.free_bytes = static_cast<uint64_t>(fs.f_bavail) * fs.f_frsize;
  return info;
}

namespace {

// Checks that `path` is an existing, writable directory, labels it (index `index`) and
// measures it. `st` receives its stat.
Result<DriveInfo> PrepareDrive(const std::string& path, const std::string& cluster,
                               const std::string& node_id, size_t index, struct stat* st) {
  if (::stat(path.c_str(), st) != 0) {
    return Status(ErrorCode::kConfigError, "drive " + path + " does not exist (" +
                                               std::strerror(errno) +
                                               "): create and mount it first");
  }
  if (!S_ISDIR(st->st_mode)) {
    return Status(ErrorCode::kConfigError, "drive " + path + " is not a directory");
  }
  if (::access(path.c_str(), W_OK) != 0) {
    return Status(ErrorCode::kConfigError, "drive " + path + " is not writable");
  }
  CVFS_RETURN_IF_ERROR(CheckOrWriteLabel(path, cluster, node_id, index));
  return MeasureDrive(path);
}

Result<std::vector<std::string>> LoadAdded(const std::string& state_dir) {
  const std::string file = state_dir + "/" + kAddedDrivesFile;
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0 && errno == ENOENT) return std::vector<std::string>();
  std::ifstream in(file);
  if (!in) return Status(ErrorCode::kConfigError, "cannot read " + file);
  std::stringstream text;
  text << in.rdbuf();
  const auto json = nlohmann::json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  const auto* drives = json.is_object() && json.contains("drives") ? &json["drives"] : nullptr;
  if (drives == nullptr || !drives->is_array()) {
    return Status(ErrorCode::kConfigError, file + " is not a list of added drives");
  }
  std::vector<std::string> paths;
  for (const auto& d : *drives) {
    if (!d.is_string() || d.get_ref<const std::string&>().empty()) {
      return Status(ErrorCode::kConfigError, file + " holds a drive that is not a path");
    }
    paths.push_back(d.get<std::string>());
  }
  return paths;
}

}  // namespace

DriveSet::DriveSet(std::vector<DriveInfo> drives, std::set<std::pair<dev_t, ino_t>> identities,
                   std::vector<std::string> added, std::string cluster, std::string node_id,
                   std::string state_dir)
    : cluster_(std::move(cluster)),
      node_id_(std::move(node_id)),
      state_dir_(std::move(state_dir)),
      added_(std::move(added)),
      drives_(std::move(drives)),
      identities_(std::move(identities)) {}

Result<std::unique_ptr<DriveSet>> DriveSet::Open(const std::vector<std::string>& paths,
                                                 const std::string& cluster,
                                                 const std::string& node_id,
                                                 const std::string& state_dir) {
  std::vector<std::string> added;
  if (!state_dir.empty()) {
    CVFS_ASSIGN_OR_RETURN(added, LoadAdded(state_dir));
  }
  std::vector<std::string> all = paths;
  for (const auto& path : added) {
    if (std::find(all.begin(), all.end(), path) == all.end()) all.push_back(path);
  }
  std::vector<DriveInfo> drives;
  std::set<dev_t> devices;
  std::set<std::pair<dev_t, ino_t>> identities;
  for (size_t i = 0; i < all.size(); ++i) {
    const std::string& path = all[i];
    struct stat st {};
    CVFS_ASSIGN_OR_RETURN(DriveInfo info, PrepareDrive(path, cluster, node_id, i, &st));
    if (!devices.insert(st.st_dev).second) {
      LOG_WARN(
          "drive.shared_filesystem path={} (another configured drive is on the same file "
          "system; capacity is counted twice)",
          path);
    }
    identities.emplace(st.st_dev, st.st_ino);
    if (i >= paths.size()) LOG_INFO("drive.added_earlier path={} index={}", path, i);
    drives.push_back(std::move(info));
  }
  return std::unique_ptr<DriveSet>(new DriveSet(std::move(drives), std::move(identities),
                                                std::move(added), cluster, node_id, state_dir));
}

Result<AddedDrive> DriveSet::Add(const std::string& path) {
  if (path.empty() || path[0] != '/') {
    return Status::InvalidArgument("drive path '" + path + "' must be absolute");
  }
  std::lock_guard add_lock(add_mu_);
  size_t index = 0;
  {
    std::lock_guard lock(mu_);
    for (const auto& d : drives_) {
      if (d.path == path) return Status::AlreadyExists("drive " + path + " is in use already");
    }
    if (drives_.size() >= kMaxDrivesPerNode) {
      return Status::ResourceExhausted("node has " + std::to_string(drives_.size()) +
                                       " drives, the most it may have");
    }
    index = drives_.size();  // only Add appends, and Adds are serialized
  }
  struct stat st {};
  {
    // Check identity before labelling, so the same directory under another name keeps its
    // label and is refused.
    if (::stat(path.c_str(), &st) == 0) {
      std::lock_guard lock(mu_);
      if (identities_.contains({st.st_dev, st.st_ino})) {
        return Status::AlreadyExists("drive " + path +
                                     " is the directory of a drive in use already");
      }
    }
  }
  CVFS_ASSIGN_OR_RETURN(DriveInfo info, PrepareDrive(path, cluster_, node_id_, index, &st));
  if (!state_dir_.empty()) {
    std::vector<std::string> added = added_;
    added.push_back(path);
    CVFS_RETURN_IF_ERROR(PersistAdded(added));
    added_ = std::move(added);
  }
  {
    std::lock_guard lock(mu_);
    identities_.emplace(st.st_dev, st.st_ino);
    drives_.push_back(info);
  }
  LOG_INFO("drive.added path={} index={} capacity_bytes={} free_bytes={}", path, index,
           info.capacity_bytes, info.free_bytes);
  return AddedDrive{index, std::move(info)};
}

Status DriveSet::PersistAdded(const std::vector<std::string>& added) const {
  const std::string file = state_dir_ + "/" + kAddedDrivesFile;
  const std::string tmp = file + ".tmp";
  const std::string text = nlohmann::json{{"format", 1}, {"drives", added}}.dump() + "\n";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Status::IoError("cannot write " + tmp + ": " + std::strerror(errno));
  const bool written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  const int saved = errno;
  const bool synced = written && ::fsync(fd) == 0;
  ::close(fd);
  if (!written || !synced) {
    ::unlink(tmp.c_str());
    return Status::IoError("cannot write " + tmp + ": " + std::strerror(written ? errno : saved));
  }
  if (::rename(tmp.c_str(), file.c_str()) != 0) {
    return Status::IoError("cannot rename " + tmp + ": " + std::strerror(errno));
  }
  // The rename is durable once the directory is synced.
  if (const int dir = ::open(state_dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dir >= 0) {
    (void)::fsync(dir);
    ::close(dir);
  }
  return Status::Ok();
}

Status DriveSet::Refresh() {
  std::vector<DriveInfo> fresh;
  {
    std::lock_guard lock(mu_);
    fresh = drives_;
  }
  for (auto& drive : fresh) {
    CVFS_ASSIGN_OR_RETURN(DriveInfo info, MeasureDrive(drive.path));
    drive = std::move(info);
  }
  // An Add may have appended a drive while we measured: update the measured ones in place
  // and keep the rest (indexes only ever grow at the end).
  std::lock_guard lock(mu_);
  for (size_t i = 0; i < fresh.size() && i < drives_.size(); ++i) {
    if (drives_[i].path == fresh[i].path) drives_[i] = std::move(fresh[i]);
  }
  return Status::Ok();
}

std::vector<DriveInfo> DriveSet::Snapshot() const {
  std::lock_guard lock(mu_);
  return drives_;
}

uint64_t DriveSet::capacity_bytes() const {
  std::lock_guard lock(mu_);
  uint64_t total = 0;
  for (const auto& d : drives_) total += d.capacity_bytes;
  return total;
}

uint64_t DriveSet::free_bytes() const {
  std::lock_guard lock(mu_);
  uint64_t total = 0;
  for (const auto& d : drives_) total += d.free_bytes;
  return total;
}

}  // namespace cvfs::server
