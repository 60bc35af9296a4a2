#include "tests/posix/fs_api.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <functional>
#include <future>
#include <mutex>
#include <thread>

namespace cvfs::posix {

const char* FileTypeName(FileType type) {
  switch (type) {
    case FileType::kRegular:
      return "file";
    case FileType::kDirectory:
      return "dir";
    case FileType::kSymlink:
      return "symlink";
    case FileType::kOther:
      return "other";
  }
  return "other";
}

class CredentialThread {
 public:
  // Starts the worker and switches its credentials; *error is set and ok() is false when
  // the kernel refuses (the caller is not root).
  CredentialThread(uint32_t uid, uint32_t gid) {
    std::promise<int> started;
    auto started_future = started.get_future();
    worker_ = std::thread([this, uid, gid, &started] {
      // Order matters: groups and gid first, while the thread still has CAP_SETGID.
      int rc = 0;
      if (syscall(SYS_setgroups, 0, nullptr) != 0 || syscall(SYS_setresgid, gid, gid, gid) != 0 ||
          syscall(SYS_setresuid, uid, uid, uid) != 0) {
        rc = errno;
      }
      started.set_value(rc);
      Loop();
    });
    start_errno_ = started_future.get();
  }

  ~CredentialThread() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    worker_.join();
  }

  int start_errno() const { return start_errno_; }

  // Runs `call` on the worker and waits for it.
  void Run(const std::function<void()>& call) {
    std::unique_lock<std::mutex> lock(mu_);
    job_ = &call;
    done_ = false;
    cv_.notify_all();
    cv_.wait(lock, [this] { return done_; });
  }

 private:
  void Loop() {
    std::unique_lock<std::mutex> lock(mu_);
    while (true) {
      cv_.wait(lock, [this] { return stopping_ || job_ != nullptr; });
      if (job_ != nullptr) {
        const std::function<void()>* job = job_;
        job_ = nullptr;
        lock.unlock();
        (*job)();
        lock.lock();
        done_ = true;
        cv_.notify_all();
        continue;
      }
      if (stopping_) return;
    }
  }

  int start_errno_ = 0;
  std::thread worker_;
  std::mutex mu_;
  std::condition_variable cv_;
  const std::function<void()>* job_ = nullptr;  // guarded by mu_
  bool done_ = false;                           // guarded by mu_
  bool stopping_ = false;                       // guarded by mu_
};

namespace {

int Err() { return -errno; }

}  // namespace

void FillStat(const struct stat& st, StatResult* out) {
  if (S_ISREG(st.st_mode)) {
    out->type = FileType::kRegular;
  } else if (S_ISDIR(st.st_mode)) {
    out->type = FileType::kDirectory;
  } else if (S_ISLNK(st.st_mode)) {
    out->type = FileType::kSymlink;
  } else {
    out->type = FileType::kOther;
  }
  out->mode = st.st_mode & 07777;
  out->uid = st.st_uid;
  out->gid = st.st_gid;
  out->nlink = st.st_nlink;
  out->size = static_cast<uint64_t>(st.st_size);
  out->atime = st.st_atim;
  out->mtime = st.st_mtim;
  out->ctime = st.st_ctim;
}

PosixDirApi::PosixDirApi(std::string root) : PosixDirApi(std::move(root), nullptr, "") {}

PosixDirApi::PosixDirApi(std::string root, std::shared_ptr<CredentialThread> thread,
                         std::string who)
    : root_(std::move(root)), thread_(std::move(thread)), who_(std::move(who)) {}

PosixDirApi::~PosixDirApi() = default;

std::string PosixDirApi::Describe() const {
  return (who_.empty() ? "" : who_ + " on ") + "dir " + root_;
}

std::string PosixDirApi::Full(const std::string& path) const {
  return path == "." ? root_ : root_ + "/" + path;
}

template <typename F>
auto PosixDirApi::Exec(F&& call) -> decltype(call()) {
  if (!thread_) return call();
  decltype(call()) result{};
  thread_->Run([&] { result = call(); });
  return result;
}

int PosixDirApi::Open(const std::string& path, int flags, uint32_t mode) {
  return Exec([&] {
    int fd = ::open(Full(path).c_str(), flags | O_CLOEXEC, mode);
    return fd >= 0 ? fd : Err();
  });
}

int PosixDirApi::Close(int handle) {
  return Exec([&] { return ::close(handle) == 0 ? 0 : Err(); });
}

int64_t PosixDirApi::Read(int handle, void* buf, size_t count) {
  return Exec([&]() -> int64_t {
    ssize_t n = ::read(handle, buf, count);
    return n >= 0 ? n : Err();
  });
}

int64_t PosixDirApi::Write(int handle, const void* buf, size_t count) {
  return Exec([&]() -> int64_t {
    ssize_t n = ::write(handle, buf, count);
    return n >= 0 ? n : Err();
  });
}

int64_t PosixDirApi::Pread(int handle, void* buf, size_t count, int64_t offset) {
  return Exec([&]() -> int64_t {
    ssize_t n = ::pread(handle, buf, count, offset);
    return n >= 0 ? n : Err();
  });
}

int64_t PosixDirApi::Pwrite(int handle, const void* buf, size_t count, int64_t offset) {
  return Exec([&]() -> int64_t {
    ssize_t n = ::pwrite(handle, buf, count, offset);
    return n >= 0 ? n : Err();
  });
}

int PosixDirApi::Fsync(int handle) {
  return Exec([&] { return ::fsync(handle) == 0 ? 0 : Err(); });
}

int PosixDirApi::Ftruncate(int handle, int64_t size) {
  return Exec([&] { return ::ftruncate(handle, size) == 0 ? 0 : Err(); });
}

int PosixDirApi::Truncate(const std::string& path, int64_t size) {
  return Exec([&] { return ::truncate(Full(path).c_str(), size) == 0 ? 0 : Err(); });
}

int PosixDirApi::Stat(const std::string& path, StatResult* out) {
  return Exec([&] {
    struct stat st;
    if (::stat(Full(path).c_str(), &st) != 0) return Err();
    FillStat(st, out);
    return 0;
  });
}

int PosixDirApi::Lstat(const std::string& path, StatResult* out) {
  return Exec([&] {
    struct stat st;
    if (::lstat(Full(path).c_str(), &st) != 0) return Err();
    FillStat(st, out);
    return 0;
  });
}

int PosixDirApi::Fstat(int handle, StatResult* out) {
  return Exec([&] {
    struct stat st;
    if (::fstat(handle, &st) != 0) return Err();
    FillStat(st, out);
    return 0;
  });
}

int PosixDirApi::Mkdir(const std::string& path, uint32_t mode) {
  return Exec([&] { return ::mkdir(Full(path).c_str(), mode) == 0 ? 0 : Err(); });
}

int PosixDirApi::Rmdir(const std::string& path) {
  return Exec([&] { return ::rmdir(Full(path).c_str()) == 0 ? 0 : Err(); });
}

int PosixDirApi::Unlink(const std::string& path) {
  return Exec([&] { return ::unlink(Full(path).c_str()) == 0 ? 0 : Err(); });
}

int PosixDirApi::Rename(const std::string& from, const std::string& to) {
  return Exec([&] { return ::rename(Full(from).c_str(), Full(to).c_str()) == 0 ? 0 : Err(); });
}

int PosixDirApi::Link(const std::string& existing, const std::string& new_path) {
  return Exec(
      [&] { return ::link(Full(existing).c_str(), Full(new_path).c_str()) == 0 ? 0 : Err(); });
}

int PosixDirApi::Symlink(const std::string& target, const std::string& link_path) {
  // The target is stored as given, never resolved against the root.
  return Exec([&] { return ::symlink(target.c_str(), Full(link_path).c_str()) == 0 ? 0 : Err(); });
}

int PosixDirApi::Readlink(const std::string& path, std::string* target) {
  return Exec([&] {
    char buf[4096];
    ssize_t n = ::readlink(Full(path).c_str(), buf, sizeof(buf));
    if (n < 0) return Err();
    target->assign(buf, static_cast<size_t>(n));
    return 0;
  });
}

int PosixDirApi::Readdir(const std::string& path, std::vector<std::string>* names) {
  return Exec([&] {
    int fd = ::open(Full(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return Err();
    DIR* dir = ::fdopendir(fd);
    if (dir == nullptr) {
      int rc = Err();
      ::close(fd);
      return rc;
    }
    std::vector<std::string> found;
    while (true) {
      errno = 0;
      struct dirent* entry = ::readdir(dir);
      if (entry == nullptr) break;
      std::string name = entry->d_name;
      if (name != "." && name != "..") found.push_back(std::move(name));
    }
    int rc = errno == 0 ? 0 : Err();
    ::closedir(dir);
    if (rc == 0) *names = std::move(found);
    return rc;
  });
}

int PosixDirApi::Chmod(const std::string& path, uint32_t mode) {
  return Exec([&] { return ::chmod(Full(path).c_str(), mode) == 0 ? 0 : Err(); });
}

int PosixDirApi::Chown(const std::string& path, uint32_t uid, uint32_t gid) {
  return Exec([&] { return ::chown(Full(path).c_str(), uid, gid) == 0 ? 0 : Err(); });
}

int PosixDirApi::Utimens(const std::string& path, const timespec times[2]) {
  return Exec([&] { return ::utimensat(AT_FDCWD, Full(path).c_str(), times, 0) == 0 ? 0 : Err(); });
}

int PosixDirApi::Statfs(const std::string& path, StatfsResult* out) {
  return Exec([&] {
    struct statfs st;
    if (::statfs(Full(path).c_str(), &st) != 0) return Err();
    out->namemax = static_cast<uint64_t>(st.f_namelen);
    return 0;
  });
}

int PosixDirApi::Access(const std::string& path, int mode) {
  return Exec([&] { return ::access(Full(path).c_str(), mode) == 0 ? 0 : Err(); });
}

std::unique_ptr<FsApi> PosixDirApi::RunAs(uint32_t uid, uint32_t gid, std::string* error) {
  auto thread = std::make_shared<CredentialThread>(uid, gid);
  if (thread->start_errno() != 0) {
    *error = "cannot take uid " + std::to_string(uid) + " gid " + std::to_string(gid) + ": " +
             std::strerror(thread->start_errno());
    return nullptr;
  }
  std::string who = "uid " + std::to_string(uid) + " gid " + std::to_string(gid);
  return std::unique_ptr<FsApi>(new PosixDirApi(root_, std::move(thread), std::move(who)));
}

}  // namespace cvfs::posix
