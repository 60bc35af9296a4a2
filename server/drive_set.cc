#include "server/drive_set.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

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

Result<std::unique_ptr<DriveSet>> DriveSet::Open(const std::vector<std::string>& paths,
                                                 const std::string& cluster,
                                                 const std::string& node_id) {
  std::vector<DriveInfo> drives;
  std::set<dev_t> devices;
  for (size_t i = 0; i < paths.size(); ++i) {
    const std::string& path = paths[i];
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
      return Status(ErrorCode::kConfigError, "drive " + path + " does not exist (" +
                                                 std::strerror(errno) +
                                                 "): create and mount it first");
    }
    if (!S_ISDIR(st.st_mode)) {
      return Status(ErrorCode::kConfigError, "drive " + path + " is not a directory");
    }
    if (::access(path.c_str(), W_OK) != 0) {
      return Status(ErrorCode::kConfigError, "drive " + path + " is not writable");
    }
    if (!devices.insert(st.st_dev).second) {
      LOG_WARN(
          "drive.shared_filesystem path={} (another configured drive is on the same file "
          "system; capacity is counted twice)",
          path);
    }
    CVFS_RETURN_IF_ERROR(CheckOrWriteLabel(path, cluster, node_id, i));
    CVFS_ASSIGN_OR_RETURN(DriveInfo info, MeasureDrive(path));
    drives.push_back(std::move(info));
  }
  return std::unique_ptr<DriveSet>(new DriveSet(std::move(drives)));
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
  std::lock_guard lock(mu_);
  drives_ = std::move(fresh);
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
