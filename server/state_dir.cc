#include "server/state_dir.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

namespace cvfs::server {

namespace {

std::string ErrnoText(int err) { return std::strerror(err); }

Status EnsureDirectory(const std::string& path) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) {
    return Status(ErrorCode::kIoError,
                  "cannot create state directory " + path + ": " + ec.message());
  }
  if (!std::filesystem::is_directory(path, ec)) {
    return Status(ErrorCode::kConfigError, "state_dir " + path + " is not a directory");
  }
  ::chmod(path.c_str(), 0700);
  return Status::Ok();
}

// Writes `text` to `path` atomically (temp file, fsync, rename).
Status WriteFileAtomically(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Status::IoError("cannot write " + tmp + ": " + ErrnoText(errno));
  const ssize_t n = ::write(fd, text.data(), text.size());
  const int write_errno = errno;
  const bool synced = ::fsync(fd) == 0;
  ::close(fd);
  if (n != static_cast<ssize_t>(text.size()) || !synced) {
    ::unlink(tmp.c_str());
    return Status::IoError("cannot write " + tmp + ": " + ErrnoText(write_errno));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    return Status::IoError("cannot rename " + tmp + ": " + ErrnoText(errno));
  }
  return Status::Ok();
}

// Checks (or on first start writes) the identity file. Sets *created when it wrote it.
Status CheckIdentity(const std::string& dir, const std::string& cluster, const std::string& node_id,
                     bool* created) {
  const std::string path = dir + "/identity";
  std::ifstream in(path);
  if (!in) {
    *created = true;
    nlohmann::json identity = {{"format", 1}, {"cluster", cluster}, {"node_id", node_id}};
    return WriteFileAtomically(path, identity.dump() + "\n");
  }
  *created = false;
  std::stringstream text;
  text << in.rdbuf();
  const auto identity = nlohmann::json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  if (!identity.is_object() || !identity.contains("cluster") || !identity.contains("node_id") ||
      !identity["cluster"].is_string() || !identity["node_id"].is_string()) {
    return Status(ErrorCode::kConfigError,
                  path +
                      " is not a ConvergeFS identity file; move it away if the directory "
                      "may be reused");
  }
  const std::string had_cluster = identity["cluster"];
  const std::string had_node = identity["node_id"];
  if (had_cluster != cluster || had_node != node_id) {
    return Status(ErrorCode::kConfigError,
                  "state directory " + dir + " belongs to node '" + had_node + "' of cluster '" +
                      had_cluster + "', not node '" + node_id + "' of cluster '" + cluster + "'");
  }
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<StateDir>> StateDir::Open(const std::string& path,
                                                 const std::string& cluster,
                                                 const std::string& node_id) {
  CVFS_RETURN_IF_ERROR(EnsureDirectory(path));
  const std::string lock_path = path + "/lock";
  const int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return Status::IoError("cannot open " + lock_path + ": " + ErrnoText(errno));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    char holder[32] = {0};
    const ssize_t n = ::pread(fd, holder, sizeof(holder) - 1, 0);
    ::close(fd);
    if (err == EWOULDBLOCK) {
      std::string pid = n > 0 ? std::string(holder, static_cast<size_t>(n)) : "?";
      while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
      return Status::Conflict("state directory " + path + " is in use by another cvfsd (pid " +
                              pid + ")");
    }
    return Status::IoError("cannot lock " + lock_path + ": " + ErrnoText(err));
  }
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, pid.data(), pid.size(), 0) < 0) {
    ::close(fd);
    return Status::IoError("cannot write " + lock_path + ": " + ErrnoText(errno));
  }
  bool created = false;
  if (Status st = CheckIdentity(path, cluster, node_id, &created); !st.ok()) {
    ::close(fd);
    return st;
  }
  return std::unique_ptr<StateDir>(new StateDir(path, fd, created));
}

StateDir::~StateDir() {
  if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the flock
}

}  // namespace cvfs::server
