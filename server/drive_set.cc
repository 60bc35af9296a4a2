#include "server/drive_set.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/clock.h"
#include "core/logging.h"

namespace cvfs::server {

namespace {

constexpr const char* kLabelFile = "/.cvfs-drive";
constexpr const char* kProbeFile = "/.cvfs-probe";

// 16 hex digits from the kernel's random source: a new drive's serial.
std::string NewSerial() {
  uint64_t bits = 0;
  std::ifstream random("/dev/urandom", std::ios::binary);
  random.read(reinterpret_cast<char*>(&bits), sizeof(bits));
  if (!random) bits = static_cast<uint64_t>(::getpid()) ^ static_cast<uint64_t>(::time(nullptr));
  char text[17];
  std::snprintf(text, sizeof(text), "%016llx", static_cast<unsigned long long>(bits));
  return text;
}

// Reads the label of the drive at `path`: its serial ("" for a label without one);
// kNotFound without a label, kConfigError for a label of another node or cluster.
Result<std::string> ReadLabel(const std::string& path, const std::string& cluster,
                              const std::string& node_id) {
  const std::string label_path = path + kLabelFile;
  std::ifstream in(label_path);
  if (!in) return Status::NotFound("no drive label " + label_path);
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
  return label.contains("serial") && label["serial"].is_string()
             ? label["serial"].get<std::string>()
             : std::string();
}

// Checks the label of the drive at `path` (see ReadLabel), or writes a new one with a new
// serial. Returns the serial.
Result<std::string> CheckOrWriteLabel(const std::string& path, const std::string& cluster,
                                      const std::string& node_id, size_t index) {
  const std::string label_path = path + kLabelFile;
  auto existing = ReadLabel(path, cluster, node_id);
  if (existing.ok() || existing.status().code() != ErrorCode::kNotFound) return existing;
  const std::string serial = NewSerial();
  const nlohmann::json label = {{"format", 1},
                                {"cluster", cluster},
                                {"node_id", node_id},
                                {"index", index},
                                {"serial", serial}};
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
  return serial;
}

// The health check of one drive: it answers statvfs, still carries its label (a drive whose
// mount vanished shows the empty mount point), and takes a small synced write.
Status ProbeDrive(const DriveInfo& drive, const std::string& cluster, const std::string& node_id) {
  struct statvfs fs {};
  if (::statvfs(drive.path.c_str(), &fs) != 0) {
    return Status::IoError("statvfs: " + std::string(std::strerror(errno)));
  }
  auto serial = ReadLabel(drive.path, cluster, node_id);
  if (!serial.ok()) return Status::IoError("label: " + std::string(serial.status().message()));
  if (*serial != drive.serial) {
    return Status::IoError("label serial " + *serial + " is not the drive's " + drive.serial);
  }
  const std::string probe = drive.path + kProbeFile;
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Status::IoError("write probe: " + std::string(std::strerror(errno)));
  char block[4096];
  std::memset(block, 0xc5, sizeof(block));
  const bool written = ::write(fd, block, sizeof(block)) == static_cast<ssize_t>(sizeof(block));
  const int write_errno = errno;
  const bool synced = written && ::fsync(fd) == 0;
  const int sync_errno = errno;
  ::close(fd);
  ::unlink(probe.c_str());
  if (!written) return Status::IoError("write probe: " + std::string(std::strerror(write_errno)));
  if (!synced)
    return Status::IoError("write probe fsync: " + std::string(std::strerror(sync_errno)));
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
  CVFS_ASSIGN_OR_RETURN(std::string serial, CheckOrWriteLabel(path, cluster, node_id, index));
  CVFS_ASSIGN_OR_RETURN(DriveInfo info, MeasureDrive(path));
  info.serial = std::move(serial);
  return info;
}

// Field `field` of the JSON object in `<state_dir>/<name>`: null when the file does not exist,
// kConfigError when it cannot be read, is not JSON or lacks the field.
Result<nlohmann::json> ReadStateField(const std::string& state_dir, const char* name,
                                      const char* field) {
  const std::string file = state_dir + "/" + name;
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0 && errno == ENOENT) return nlohmann::json();
  std::ifstream in(file);
  if (!in) return Status(ErrorCode::kConfigError, "cannot read " + file);
  std::stringstream text;
  text << in.rdbuf();
  auto json = nlohmann::json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  if (!json.is_object() || !json.contains(field) || json[field].is_null()) {
    return Status(ErrorCode::kConfigError, file + " has no '" + field + "'");
  }
  return std::move(json[field]);
}

Result<std::vector<std::string>> LoadAdded(const std::string& state_dir) {
  const std::string file = state_dir + "/" + kAddedDrivesFile;
  CVFS_ASSIGN_OR_RETURN(nlohmann::json drives,
                        ReadStateField(state_dir, kAddedDrivesFile, "drives"));
  std::vector<std::string> paths;
  if (drives.is_null()) return paths;
  if (!drives.is_array()) {
    return Status(ErrorCode::kConfigError, file + " is not a list of added drives");
  }
  for (const auto& d : drives) {
    if (!d.is_string() || d.get_ref<const std::string&>().empty()) {
      return Status(ErrorCode::kConfigError, file + " holds a drive that is not a path");
    }
    paths.push_back(d.get<std::string>());
  }
  return paths;
}

// `<state_dir>/drives.serials`: the serial of each drive index this node has used, so that
// a drive missing at start (its mount absent: a bare, unlabelled mount point) is known as
// failed instead of being labelled as a new, empty drive on the wrong file system.
constexpr const char* kSerialsFile = "drives.serials";

Result<std::map<size_t, std::string>> LoadIndexedPaths(const std::string& state_dir,
                                                       const char* name, const char* field) {
  const std::string file = state_dir + "/" + name;
  CVFS_ASSIGN_OR_RETURN(nlohmann::json entries_json, ReadStateField(state_dir, name, field));
  std::map<size_t, std::string> entries;
  if (entries_json.is_null()) return entries;
  if (!entries_json.is_object()) {
    return Status(ErrorCode::kConfigError, file + " is not a map of drive indexes");
  }
  const nlohmann::json* list = &entries_json;
  for (const auto& [key, value] : list->items()) {
    char* end = nullptr;
    const unsigned long index = std::strtoul(key.c_str(), &end, 10);
    if (key.empty() || *end != '\0' || index >= kMaxDrivesPerNode || !value.is_string() ||
        value.get_ref<const std::string&>().empty()) {
      return Status(ErrorCode::kConfigError, file + " holds a bad entry '" + key + "'");
    }
    entries[index] = value.get<std::string>();
  }
  return entries;
}

Status WriteFileDurably(const std::string& dir, const std::string& name, const std::string& text);

Status PersistIndexed(const std::string& state_dir, const char* name, const char* field,
                      const std::map<size_t, std::string>& entries) {
  nlohmann::json list = nlohmann::json::object();
  for (const auto& [index, value] : entries) list[std::to_string(index)] = value;
  return WriteFileDurably(state_dir, name,
                          nlohmann::json{{"format", 1}, {field, list}}.dump() + "\n");
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
  std::map<size_t, std::string> replaced;
  if (!state_dir.empty()) {
    CVFS_ASSIGN_OR_RETURN(replaced, LoadIndexedPaths(state_dir, kReplacedDrivesFile, "replaced"));
  }
  std::vector<std::string> all = paths;
  for (const auto& path : added) {
    if (std::find(all.begin(), all.end(), path) == all.end()) all.push_back(path);
  }
  for (const auto& [index, path] : replaced) {
    if (index >= all.size()) continue;
    LOG_INFO("drive.replaced_earlier index={} configured={} path={}", index, all[index], path);
    all[index] = path;
  }
  std::map<size_t, std::string> serials;
  if (!state_dir.empty()) {
    CVFS_ASSIGN_OR_RETURN(serials, LoadIndexedPaths(state_dir, kSerialsFile, "serials"));
  }
  const auto known_serials = serials;
  std::vector<DriveInfo> drives;
  std::set<dev_t> devices;
  std::set<std::pair<dev_t, ino_t>> identities;
  for (size_t i = 0; i < all.size(); ++i) {
    const std::string& path = all[i];
    struct stat st {};
    auto known = serials.find(i);
    if (known != serials.end()) {
      // A drive this node used before must still carry its label: a missing or different
      // one means the drive failed or was swapped while the node was down.
      auto label = ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)
                       ? ReadLabel(path, cluster, node_id)
                       : Result<std::string>(Status::NotFound("drive directory missing"));
      if (!label.ok() && label.status().code() == ErrorCode::kConfigError) return label.status();
      if (!label.ok() || *label != known->second) {
        DriveInfo failed;
        failed.path = path;
        failed.state = DriveState::kFailed;
        failed.failed_ms = Clock::System().WallMillis();
        failed.serial = known->second;
        LOG_ERROR(
            "drive.failed index={} path={} error=\"{}\" (found at start; `cvfs drive replace` "
            "puts a new drive in its place)",
            i, path,
            label.ok() ? "label serial " + *label + " is not the drive's " + known->second
                       : std::string(label.status().message()));
        drives.push_back(std::move(failed));
        continue;
      }
    }
    CVFS_ASSIGN_OR_RETURN(DriveInfo info, PrepareDrive(path, cluster, node_id, i, &st));
    if (!info.serial.empty()) serials[i] = info.serial;
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
  if (!state_dir.empty() && serials != known_serials) {
    CVFS_RETURN_IF_ERROR(PersistIndexed(state_dir, kSerialsFile, "serials", serials));
  }
  auto set = std::unique_ptr<DriveSet>(new DriveSet(std::move(drives), std::move(identities),
                                                    std::move(added), cluster, node_id, state_dir));
  set->replaced_ = std::move(replaced);
  set->serials_ = std::move(serials);
  return set;
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
    if (!info.serial.empty()) {
      std::map<size_t, std::string> serials = serials_;
      serials[index] = info.serial;
      CVFS_RETURN_IF_ERROR(PersistIndexed(state_dir_, kSerialsFile, "serials", serials));
      serials_ = std::move(serials);
    }
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

namespace {

// Writes `text` to `<dir>/<name>` atomically and durably (temp file, fsync, rename, dir fsync).
Status WriteFileDurably(const std::string& dir, const std::string& name, const std::string& text) {
  const std::string file = dir + "/" + name;
  const std::string tmp = file + ".tmp";
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
  if (const int d = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); d >= 0) {
    (void)::fsync(d);
    ::close(d);
  }
  return Status::Ok();
}

}  // namespace

Status DriveSet::PersistAdded(const std::vector<std::string>& added) const {
  return WriteFileDurably(state_dir_, kAddedDrivesFile,
                          nlohmann::json{{"format", 1}, {"drives", added}}.dump() + "\n");
}

Status DriveSet::Refresh() {
  std::vector<DriveInfo> fresh;
  {
    std::lock_guard lock(mu_);
    fresh = drives_;
  }
  for (auto& drive : fresh) {
    if (drive.state != DriveState::kOk) continue;  // keeps its last figures
    CVFS_ASSIGN_OR_RETURN(DriveInfo info, MeasureDrive(drive.path));
    drive.capacity_bytes = info.capacity_bytes;
    drive.free_bytes = info.free_bytes;
  }
  // An Add may have appended a drive while we measured: update the measured ones in place
  // and keep the rest (indexes only ever grow at the end).
  std::lock_guard lock(mu_);
  for (size_t i = 0; i < fresh.size() && i < drives_.size(); ++i) {
    if (drives_[i].path == fresh[i].path && drives_[i].state == DriveState::kOk) {
      drives_[i].capacity_bytes = fresh[i].capacity_bytes;
      drives_[i].free_bytes = fresh[i].free_bytes;
    }
  }
  return Status::Ok();
}

std::vector<size_t> DriveSet::Probe(int64_t now_ms) {
  std::vector<DriveInfo> drives = Snapshot();
  std::vector<size_t> failed;
  for (size_t i = 0; i < drives.size(); ++i) {
    if (drives[i].state != DriveState::kOk) continue;
    Status st = ProbeDrive(drives[i], cluster_, node_id_);
    if (st.ok()) continue;
    std::lock_guard lock(mu_);
    // Only the drive that was probed (a Replace may have put another one at this index).
    if (i >= drives_.size() || drives_[i].serial != drives[i].serial ||
        drives_[i].state != DriveState::kOk) {
      continue;
    }
    drives_[i].state = DriveState::kFailed;
    drives_[i].failed_ms = now_ms;
    LOG_ERROR(
        "drive.failed index={} path={} error=\"{}\" (its cells are lost; the manager moves "
        "its slots after [rebuild] drive_grace_s unless `cvfs drive replace` comes first)",
        i, drives[i].path, st.ToString());
    failed.push_back(i);
  }
  return failed;
}

Result<AddedDrive> DriveSet::Replace(size_t index, const std::string& path) {
  if (path.empty() || path[0] != '/') {
    return Status::InvalidArgument("drive path '" + path + "' must be absolute");
  }
  std::lock_guard add_lock(add_mu_);
  std::string old_path;
  {
    std::lock_guard lock(mu_);
    if (index >= drives_.size()) {
      return Status::InvalidArgument("drive index " + std::to_string(index) + " out of range: " +
                                     "the node has " + std::to_string(drives_.size()) + " drives");
    }
    for (size_t i = 0; i < drives_.size(); ++i) {
      // The failed drive's own path may take the new drive (mounted where the old one was).
      const bool own = i == index && drives_[i].state == DriveState::kFailed;
      if (drives_[i].path == path && !own) {
        return Status::AlreadyExists("drive " + path + " is in use already");
      }
    }
    old_path = drives_[index].path;
  }
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) {
    std::lock_guard lock(mu_);
    if (identities_.contains({st.st_dev, st.st_ino})) {
      return Status::AlreadyExists("drive " + path + " is the directory of a drive in use already");
    }
  }
  // A replacement starts empty: a label from earlier use on this node would carry its serial
  // (and the planner would not see a new drive), so it is refused.
  if (auto label = ReadLabel(path, cluster_, node_id_); label.ok()) {
    return Status(ErrorCode::kConfigError, "drive " + path + " is labelled already (serial " +
                                               *label + "): give a new, empty directory");
  } else if (label.status().code() != ErrorCode::kNotFound) {
    return label.status();
  }
  CVFS_ASSIGN_OR_RETURN(DriveInfo info, PrepareDrive(path, cluster_, node_id_, index, &st));
  if (!state_dir_.empty()) {
    std::map<size_t, std::string> serials = serials_;
    serials[index] = info.serial;
    CVFS_RETURN_IF_ERROR(PersistIndexed(state_dir_, kSerialsFile, "serials", serials));
    serials_ = std::move(serials);
    std::map<size_t, std::string> replaced = replaced_;
    replaced[index] = path;
    CVFS_RETURN_IF_ERROR(PersistIndexed(state_dir_, kReplacedDrivesFile, "replaced", replaced));
    replaced_ = std::move(replaced);
  }
  {
    std::lock_guard lock(mu_);
    identities_.emplace(st.st_dev, st.st_ino);
    drives_[index] = info;
  }
  LOG_INFO("drive.replaced index={} old_path={} path={} serial={} capacity_bytes={}", index,
           old_path, path, info.serial, info.capacity_bytes);
  return AddedDrive{index, std::move(info)};
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
