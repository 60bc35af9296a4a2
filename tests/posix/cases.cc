#include "tests/posix/cases.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <thread>

namespace cvfs::posix {
namespace {

constexpr uint32_t kOtherUid = 1000;
constexpr uint32_t kOtherGid = 1000;
constexpr uint32_t kKeep = static_cast<uint32_t>(-1);  // chown: leave unchanged
// Longer than a coarse kernel clock tick (1-10 ms) and than a FUSE attribute round trip.
constexpr auto kTick = std::chrono::milliseconds(30);
// Reads up to this long are shown as text in the trace; longer ones as a digest.
constexpr size_t kShowBytes = 64;

std::string ErrName(int64_t rc) {
  int e = static_cast<int>(-rc);
  const char* name = strerrorname_np(e);
  return name ? name : "errno" + std::to_string(e);
}

std::string Escape(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", c);
      out += buf;
    }
  }
  return out;
}

// Paths as shown in the trace: long names (the 255-byte cases) shortened but distinct.
std::string P(const std::string& path) {
  std::string e = Escape(path);
  if (e.size() <= 80) return e;
  return e.substr(0, 24) + "...(" + std::to_string(path.size()) + " bytes)";
}

std::string Octal(uint32_t mode) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "%04o", mode);
  return buf;
}

std::string FlagsName(int flags) {
  std::string out;
  switch (flags & O_ACCMODE) {
    case O_RDONLY:
      out = "O_RDONLY";
      break;
    case O_WRONLY:
      out = "O_WRONLY";
      break;
    default:
      out = "O_RDWR";
      break;
  }
  const std::pair<int, const char*> extra[] = {
      {O_CREAT, "O_CREAT"},   {O_EXCL, "O_EXCL"},           {O_TRUNC, "O_TRUNC"},
      {O_APPEND, "O_APPEND"}, {O_DIRECTORY, "O_DIRECTORY"}, {O_NOFOLLOW, "O_NOFOLLOW"}};
  for (const auto& [bit, name] : extra) {
    if (flags & bit) out += std::string("|") + name;
  }
  return out;
}

std::string DescribeData(const std::string& data) {
  std::string out = std::to_string(data.size()) + " bytes";
  if (data.empty()) return out;
  if (data.size() <= kShowBytes) return out + " \"" + Escape(data) + "\"";
  uint64_t hash = 1469598103934665603ull;  // FNV-1a
  for (unsigned char c : data) hash = (hash ^ c) * 1099511628211ull;
  bool zeros = std::all_of(data.begin(), data.end(), [](char c) { return c == 0; });
  char buf[64];
  std::snprintf(buf, sizeof(buf), " fnv=%016llx%s", static_cast<unsigned long long>(hash),
                zeros ? " all-zero" : "");
  return out + buf;
}

std::string Uid(uint32_t id) { return id == kKeep ? "-1" : std::to_string(id); }

std::string TimeValue(const timespec& t) {
  char buf[48];
  std::snprintf(buf, sizeof(buf), "%lld.%09ld", static_cast<long long>(t.tv_sec), t.tv_nsec);
  return buf;
}

std::string TimeArg(const timespec& t) {
  if (t.tv_nsec == UTIME_NOW) return "NOW";
  if (t.tv_nsec == UTIME_OMIT) return "OMIT";
  return TimeValue(t);
}

bool Before(const timespec& a, const timespec& b) {
  return a.tv_sec < b.tv_sec || (a.tv_sec == b.tv_sec && a.tv_nsec < b.tv_nsec);
}

}  // namespace

// ---------------------------------------------------------------------------------------
// Script

Script::Script(FsApi* fs, Trace* trace, std::string prefix)
    : fs_(fs), trace_(trace), prefix_(std::move(prefix)) {}

Script::~Script() {
  for (const auto& [handle, path] : handles_) fs_->Close(handle);
}

void Script::Add(const std::string& call, int64_t rc, const std::string& detail) {
  std::string line = prefix_ + call + " = " + (rc < 0 ? ErrName(rc) : "ok");
  if (rc >= 0 && !detail.empty()) line += " " + detail;
  trace_->push_back(std::move(line));
}

void Script::Note(const std::string& line) { trace_->push_back(prefix_ + line); }

std::string Script::HandleName(int handle) const {
  for (const auto& [h, path] : handles_) {
    if (h == handle) return "[" + P(path) + "]";
  }
  return "[bad handle]";
}

int Script::Open(const std::string& path, int flags, uint32_t mode) {
  int rc = fs_->Open(path, flags, mode);
  std::string call = "open(" + P(path) + ", " + FlagsName(flags);
  if (flags & O_CREAT) call += ", " + Octal(mode);
  Add(call + ")", rc);
  if (rc >= 0) handles_.emplace_back(rc, path);
  return rc;
}

int Script::Close(int handle) {
  std::string name = HandleName(handle);
  int rc = fs_->Close(handle);
  Add("close(" + name + ")", rc);
  if (rc == 0) {
    std::erase_if(handles_, [handle](const auto& h) { return h.first == handle; });
  }
  return rc;
}

std::string Script::Read(int handle, size_t count) {
  std::string buf(count, '\0');
  int64_t rc = fs_->Read(handle, buf.data(), count);
  buf.resize(rc > 0 ? static_cast<size_t>(rc) : 0);
  Add("read(" + HandleName(handle) + ", " + std::to_string(count) + ")", rc, DescribeData(buf));
  return buf;
}

std::string Script::Pread(int handle, size_t count, int64_t offset) {
  std::string buf(count, '\0');
  int64_t rc = fs_->Pread(handle, buf.data(), count, offset);
  buf.resize(rc > 0 ? static_cast<size_t>(rc) : 0);
  Add("pread(" + HandleName(handle) + ", " + std::to_string(count) + ", " + std::to_string(offset) +
          ")",
      rc, DescribeData(buf));
  return buf;
}

int64_t Script::Write(int handle, const std::string& data) {
  int64_t rc = fs_->Write(handle, data.data(), data.size());
  Add("write(" + HandleName(handle) + ", " + DescribeData(data) + ")", rc,
      std::to_string(rc) + " written");
  return rc;
}

int64_t Script::Pwrite(int handle, const std::string& data, int64_t offset) {
  int64_t rc = fs_->Pwrite(handle, data.data(), data.size(), offset);
  Add("pwrite(" + HandleName(handle) + ", " + DescribeData(data) + ", " + std::to_string(offset) +
          ")",
      rc, std::to_string(rc) + " written");
  return rc;
}

int Script::Fsync(int handle) {
  int rc = fs_->Fsync(handle);
  Add("fsync(" + HandleName(handle) + ")", rc);
  return rc;
}

int Script::Ftruncate(int handle, int64_t size) {
  int rc = fs_->Ftruncate(handle, size);
  Add("ftruncate(" + HandleName(handle) + ", " + std::to_string(size) + ")", rc);
  return rc;
}

int Script::Truncate(const std::string& path, int64_t size) {
  int rc = fs_->Truncate(path, size);
  Add("truncate(" + P(path) + ", " + std::to_string(size) + ")", rc);
  return rc;
}

StatResult Script::RecordStat(const std::string& call, int rc, const StatResult& st) {
  std::string detail = std::string(FileTypeName(st.type)) + " " + Octal(st.mode) +
                       " uid=" + std::to_string(st.uid) + " gid=" + std::to_string(st.gid) +
                       " nlink=" + std::to_string(st.nlink);
  if (st.type != FileType::kDirectory) detail += " size=" + std::to_string(st.size);
  Add(call, rc, detail);
  return st;
}

StatResult Script::Stat(const std::string& path) {
  StatResult st;
  int rc = fs_->Stat(path, &st);
  return RecordStat("stat(" + P(path) + ")", rc, st);
}

StatResult Script::Lstat(const std::string& path) {
  StatResult st;
  int rc = fs_->Lstat(path, &st);
  return RecordStat("lstat(" + P(path) + ")", rc, st);
}

StatResult Script::Fstat(int handle) {
  StatResult st;
  int rc = fs_->Fstat(handle, &st);
  return RecordStat("fstat(" + HandleName(handle) + ")", rc, st);
}

int Script::Mkdir(const std::string& path, uint32_t mode) {
  int rc = fs_->Mkdir(path, mode);
  Add("mkdir(" + P(path) + ", " + Octal(mode) + ")", rc);
  return rc;
}

int Script::Rmdir(const std::string& path) {
  int rc = fs_->Rmdir(path);
  Add("rmdir(" + P(path) + ")", rc);
  return rc;
}

int Script::Unlink(const std::string& path) {
  int rc = fs_->Unlink(path);
  Add("unlink(" + P(path) + ")", rc);
  return rc;
}

int Script::Rename(const std::string& from, const std::string& to) {
  int rc = fs_->Rename(from, to);
  Add("rename(" + P(from) + ", " + P(to) + ")", rc);
  return rc;
}

int Script::Link(const std::string& existing, const std::string& new_path) {
  int rc = fs_->Link(existing, new_path);
  Add("link(" + P(existing) + ", " + P(new_path) + ")", rc);
  return rc;
}

int Script::Symlink(const std::string& target, const std::string& link_path) {
  int rc = fs_->Symlink(target, link_path);
  Add("symlink(" + P(target) + ", " + P(link_path) + ")", rc);
  return rc;
}

std::string Script::Readlink(const std::string& path) {
  std::string target;
  int rc = fs_->Readlink(path, &target);
  Add("readlink(" + P(path) + ")", rc, "\"" + P(target) + "\"");
  return target;
}

std::vector<std::string> Script::Readdir(const std::string& path) {
  std::vector<std::string> names;
  int rc = fs_->Readdir(path, &names);
  std::sort(names.begin(), names.end());
  Add("readdir(" + P(path) + ")", rc, std::to_string(names.size()) + " entries");
  if (rc == 0) {
    for (const auto& name : names) Note("  entry " + P(name));
  }
  return names;
}

int Script::Chmod(const std::string& path, uint32_t mode) {
  int rc = fs_->Chmod(path, mode);
  Add("chmod(" + P(path) + ", " + Octal(mode) + ")", rc);
  return rc;
}

int Script::Chown(const std::string& path, uint32_t uid, uint32_t gid) {
  int rc = fs_->Chown(path, uid, gid);
  Add("chown(" + P(path) + ", " + Uid(uid) + ", " + Uid(gid) + ")", rc);
  return rc;
}

int Script::Utimens(const std::string& path, timespec atime, timespec mtime) {
  const timespec times[2] = {atime, mtime};
  int rc = fs_->Utimens(path, times);
  Add("utimens(" + P(path) + ", " + TimeArg(atime) + ", " + TimeArg(mtime) + ")", rc);
  return rc;
}

int Script::Statfs(const std::string& path) {
  StatfsResult st;
  int rc = fs_->Statfs(path, &st);
  Add("statfs(" + P(path) + ")", rc, "namemax=" + std::to_string(st.namemax));
  return rc;
}

int Script::Access(const std::string& path, int mode) {
  std::string m;
  if (mode == F_OK) m = "F_OK";
  if (mode & R_OK) m += "R";
  if (mode & W_OK) m += "W";
  if (mode & X_OK) m += "X";
  int rc = fs_->Access(path, mode);
  Add("access(" + P(path) + ", " + m + ")", rc);
  return rc;
}

void Script::MakeFile(const std::string& path, const std::string& data, uint32_t mode) {
  std::string call = "makefile(" + P(path) + ", " + DescribeData(data) + ", " + Octal(mode) + ")";
  int fd = fs_->Open(path, O_CREAT | O_TRUNC | O_WRONLY, mode);
  if (fd < 0) return Add(call, fd);
  int64_t rc = data.empty() ? 0 : fs_->Pwrite(fd, data.data(), data.size(), 0);
  int close_rc = fs_->Close(fd);
  if (rc >= 0 && rc != static_cast<int64_t>(data.size())) {
    return Note(call + " = short write " + std::to_string(rc));
  }
  Add(call, rc < 0 ? rc : close_rc);
}

void Script::Compare(const std::string& what, const timespec& before, const timespec& after) {
  std::string relation = Before(before, after)   ? "advanced"
                         : Before(after, before) ? "went back"
                                                 : "same";
  Note(what + ": " + relation);
}

void Script::Tick() { std::this_thread::sleep_for(kTick); }

std::unique_ptr<Script> Script::As(uint32_t uid, uint32_t gid) {
  std::string who = "uid " + std::to_string(uid) + " gid " + std::to_string(gid);
  std::string error;
  auto identity = fs_->RunAs(uid, gid, &error);
  if (!identity) {
    Note(std::string(kSetupError) + "cannot run as " + who + ": " + error);
    // A script that fails every call with EPERM-like results is useless; keep recording
    // on the caller's identity so the case still ends, the setup error decides.
    return std::make_unique<Script>(fs_, trace_, "[" + who + ", NOT TAKEN] ");
  }
  int rc = identity->Access(".", X_OK);
  if (rc != 0) {
    Note(std::string(kSetupError) + who + " cannot search the case root " + identity->Describe() +
         ": " + ErrName(rc));
  }
  auto script = std::make_unique<Script>(identity.get(), trace_, "[" + who + "] ");
  identities_.push_back(std::move(identity));
  return script;
}

// ---------------------------------------------------------------------------------------
// Cases. Each starts in an empty directory; paths are relative to it.

namespace {

timespec Ts(time_t sec, long nsec) { return timespec{sec, nsec}; }
const timespec kNow = Ts(0, UTIME_NOW);
const timespec kOmit = Ts(0, UTIME_OMIT);

// Records the exact atime and mtime (only after they were set explicitly).
void RecordTimes(Script& s, const std::string& path) {
  StatResult st;
  int rc = s.fs()->Stat(path, &st);
  if (rc != 0) return s.Note("times(" + P(path) + ") = " + ErrName(rc));
  s.Note("times(" + P(path) + ") atime=" + TimeValue(st.atime) + " mtime=" + TimeValue(st.mtime));
}

// Creates `count` empty files dir/f0000...: one trace line with the failures, if any.
void CreateMany(Script& s, const std::string& dir, int count) {
  int failed = 0;
  std::string first_error;
  for (int i = 0; i < count; ++i) {
    char name[16];
    std::snprintf(name, sizeof(name), "f%04d", i);
    int fd = s.fs()->Open(dir + "/" + name, O_CREAT | O_EXCL | O_WRONLY, 0644);
    int rc = fd < 0 ? fd : s.fs()->Close(fd);
    if (rc < 0 && failed++ == 0) first_error = std::string(name) + " " + ErrName(rc);
  }
  s.Note("create " + std::to_string(count) + " files in " + dir + ": " +
         (failed == 0 ? "ok" : std::to_string(failed) + " failed, first " + first_error));
}

std::string Join(const std::string& dir, const std::string& name) {
  return dir == "." ? name : dir + "/" + name;
}

void CreateExcl(Script& s) {
  int h = s.Open("a", O_CREAT | O_EXCL | O_WRONLY, 0640);
  s.Fstat(h);
  s.Close(h);
  s.Stat("a");
  s.Open("a", O_CREAT | O_EXCL | O_WRONLY, 0640);
  h = s.Open("a", O_CREAT | O_WRONLY, 0600);  // exists: opened, mode kept
  s.Close(h);
  s.Stat("a");
  s.Mkdir("d");
  s.Open("d", O_CREAT | O_EXCL | O_RDONLY, 0644);
  s.Open("d", O_CREAT | O_WRONLY, 0644);
  s.Symlink("a", "l");
  s.Open("l", O_CREAT | O_EXCL | O_WRONLY, 0644);  // O_EXCL never follows a symlink
  s.Symlink("target", "dangling");
  s.Open("dangling", O_CREAT | O_EXCL | O_WRONLY, 0644);
  h = s.Open("dangling", O_CREAT | O_WRONLY, 0644);  // creates the symlink's target
  s.Close(h);
  s.Stat("target");
  s.Readdir(".");
}

void OpenTrunc(Script& s) {
  s.MakeFile("a", "0123456789");
  int h = s.Open("a", O_WRONLY | O_TRUNC);
  s.Fstat(h);
  s.Close(h);
  s.Stat("a");
  s.MakeFile("b", "abc");
  StatResult before = s.Stat("b");
  s.Tick();
  h = s.Open("b", O_RDWR | O_TRUNC);
  StatResult after = s.Fstat(h);
  s.Compare("mtime after O_TRUNC", before.mtime, after.mtime);
  s.Compare("ctime after O_TRUNC", before.ctime, after.ctime);
  s.Pwrite(h, "xy", 0);
  s.Pread(h, 10, 0);
  s.Close(h);
  s.Stat("b");
  h = s.Open("c", O_CREAT | O_TRUNC | O_WRONLY, 0644);  // O_TRUNC on a new file
  s.Close(h);
  s.Stat("c");
}

void OpenAppend(Script& s) {
  s.MakeFile("a", "abc");
  int h = s.Open("a", O_WRONLY | O_APPEND);
  s.Write(h, "def");
  s.Write(h, "gh");
  s.Close(h);
  s.Stat("a");
  h = s.Open("a", O_RDONLY);
  s.Read(h, 100);
  s.Read(h, 100);  // at end: 0 bytes
  s.Close(h);
  h = s.Open("a", O_RDWR | O_APPEND);
  s.Read(h, 3);     // reads start at 0
  s.Write(h, "X");  // writes go to the end
  s.Pread(h, 100, 0);
  s.Close(h);
  h = s.Open("b", O_CREAT | O_WRONLY | O_APPEND, 0644);
  s.Write(h, "1");
  s.Write(h, "22");
  s.Fstat(h);
  s.Close(h);
  h = s.Open("b", O_RDONLY);
  s.Pread(h, 10, 0);
  s.Close(h);
}

void ReadWrite(Script& s) {
  int h = s.Open("f", O_CREAT | O_RDWR, 0644);
  s.Write(h, "hello ");
  s.Write(h, "world");
  s.Pread(h, 100, 0);
  s.Read(h, 10);  // position is at the end
  s.Pwrite(h, "W", 6);
  s.Pread(h, 100, 0);
  s.Pread(h, 100, 11);    // at EOF
  s.Pread(h, 100, 1000);  // past EOF
  s.Close(h);
  h = s.Open("f", O_RDONLY);
  s.Read(h, 5);
  s.Read(h, 100);
  s.Write(h, "x");  // not open for writing
  s.Close(h);
  h = s.Open("f", O_WRONLY);
  s.Read(h, 5);  // not open for reading
  s.Write(h, "HELLO");
  s.Fsync(h);
  s.Close(h);
  h = s.Open("f", O_RDONLY);
  s.Pread(h, 100, 0);
  s.Close(h);
  std::string big(256 * 1024 + 7, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + i % 23);
  s.MakeFile("big", big);
  h = s.Open("big", O_RDONLY);
  s.Pread(h, big.size() + 100, 0);
  s.Pread(h, 4096, 131072 - 100);  // across a 128 KiB boundary
  s.Close(h);
  s.Stat("big");
}

void OpenMissing(Script& s) {
  s.Open("missing", O_RDONLY);
  s.Open("missing", O_WRONLY);
  s.Open("nodir/x", O_CREAT | O_WRONLY, 0644);
  s.Stat("missing");
  s.Lstat("missing");
  s.Unlink("missing");
  s.Rmdir("missing");
  s.Truncate("missing", 0);
  s.Chmod("missing", 0644);
  s.Readlink("missing");
  s.Access("missing", F_OK);
  s.Mkdir("nodir/sub");
  s.Readdir("missing");
  s.Readdir(".");
}

void OpenNotDir(Script& s) {
  s.MakeFile("f", "x");
  s.Open("f/x", O_RDONLY);
  s.Open("f/x", O_CREAT | O_WRONLY, 0644);
  s.Stat("f/x");
  s.Stat("f/");
  s.Mkdir("f/x");
  s.Unlink("f/x");
  s.Rename("f/x", "y");
  s.Open("f", O_RDONLY | O_DIRECTORY);
  s.Readdir("f");
  s.Symlink("f", "l");
  s.Stat("l/x");
}

void OpenDirForWrite(Script& s) {
  s.Mkdir("d");
  s.Open("d", O_WRONLY);
  s.Open("d", O_RDWR);
  s.Open("d", O_WRONLY | O_TRUNC);
  int h = s.Open("d", O_RDONLY);
  s.Fstat(h);
  s.Pread(h, 10, 0);
  s.Write(h, "x");
  s.Fsync(h);
  s.Close(h);
  h = s.Open("d", O_RDONLY | O_DIRECTORY);
  s.Close(h);
  s.Truncate("d", 0);
}

void MkdirExisting(Script& s) {
  s.Mkdir("d", 0755);
  s.Stat("d");
  s.Mkdir("d");
  s.MakeFile("f", "");
  s.Mkdir("f");
  s.Symlink("d", "l");
  s.Mkdir("l");
  s.Symlink("nowhere", "dl");
  s.Mkdir("dl");
  s.Mkdir("d/sub", 0700);
  s.Mkdir("d/sub2", 0777);  // umask 022
  s.Mkdir("d/sticky", 01777);
  s.Mkdir("e/");
  s.Stat("d");
  s.Stat("d/sub");
  s.Stat("d/sub2");
  s.Stat("d/sticky");
  s.Stat("e");
  s.Stat(".");
  s.Readdir("d");
}

void RmdirErrors(Script& s) {
  s.Mkdir("d");
  s.MakeFile("d/f", "x");
  s.Rmdir("d");
  s.Mkdir("e");
  s.Mkdir("e/sub");
  s.Rmdir("e");
  s.Rmdir("d/f");
  s.Rmdir("missing");
  s.Mkdir("g");
  s.Symlink("g", "lg");
  s.Rmdir("lg");
  s.Rmdir("e/sub/.");
  s.Unlink("d/f");
  s.Rmdir("d");
  s.Stat("d");
  s.Rmdir("e/sub");
  s.Stat("e");
  s.Rmdir("e");
  s.Readdir(".");
}

void UnlinkDir(Script& s) {
  s.Mkdir("d");
  s.Unlink("d");
  s.Stat("d");
  s.Symlink("d", "l");
  s.Unlink("l");  // the link goes, the directory stays
  s.Stat("d");
  s.MakeFile("f", "x");
  s.Unlink("f");
  s.Stat("f");
  s.Unlink("f");
  s.Readdir(".");
}

void UnlinkOpenFile(Script& s) {
  s.MakeFile("f", "hello world");
  int h = s.Open("f", O_RDWR);
  s.Unlink("f");
  s.Stat("f");
  s.Fstat(h);
  s.Pread(h, 100, 0);
  s.Pwrite(h, "!!", 11);
  s.Fstat(h);
  s.Pread(h, 100, 0);
  s.Readdir(".");
  s.MakeFile("f", "new");  // the same name, an unrelated file
  s.Pread(h, 100, 0);
  s.Close(h);
  s.Stat("f");
  h = s.Open("f", O_RDONLY);
  s.Pread(h, 100, 0);
  s.Close(h);
}

void RenameFileOverFile(Script& s) {
  s.MakeFile("a", "aaa");
  s.MakeFile("b", "bbbbb");
  int h = s.Open("b", O_RDONLY);  // keeps the replaced file alive
  s.Rename("a", "b");
  s.Stat("a");
  s.Stat("b");
  s.Fstat(h);
  s.Pread(h, 100, 0);
  s.Close(h);
  h = s.Open("b", O_RDONLY);
  s.Pread(h, 100, 0);
  s.Close(h);
  s.Readdir(".");
}

void RenameDirOverEmptyDir(Script& s) {
  s.Mkdir("a");
  s.MakeFile("a/f", "x");
  s.Mkdir("b");
  s.Stat(".");
  s.Rename("a", "b");
  s.Stat("a");
  s.Stat("b");
  s.Stat(".");
  s.Readdir("b");
  s.Readdir(".");
}

void RenameDirOverNonEmptyDir(Script& s) {
  s.Mkdir("a");
  s.Mkdir("b");
  s.MakeFile("b/x", "x");
  s.Rename("a", "b");
  s.Mkdir("c");
  s.Mkdir("c/sub");
  s.Rename("a", "c");
  s.Readdir(".");
  s.Readdir("b");
}

void RenameFileOverDir(Script& s) {
  s.MakeFile("f", "x");
  s.Mkdir("d");
  s.Rename("f", "d");
  s.Mkdir("full");
  s.MakeFile("full/x", "");
  s.Rename("f", "full");
  s.Stat("f");
  s.Stat("d");
}

void RenameDirOverFile(Script& s) {
  s.Mkdir("d");
  s.MakeFile("f", "x");
  s.Rename("d", "f");
  s.Rename("d", "f/");
  s.Stat("d");
  s.Stat("f");
}

void RenameAcrossDirs(Script& s) {
  s.Mkdir("a");
  s.Mkdir("b");
  s.MakeFile("a/f", "x");
  s.Rename("a/f", "b/g");
  s.Readdir("a");
  s.Readdir("b");
  s.Mkdir("a/sub");
  s.MakeFile("a/sub/z", "zz");
  s.Stat("a");
  s.Stat("b");
  s.Rename("a/sub", "b/sub");
  s.Stat("a");
  s.Stat("b");
  s.Stat("b/sub/z");
  s.MakeFile("a/h", "hhh");
  s.MakeFile("b/h2", "h2");
  s.Rename("a/h", "b/h2");  // over a file in another directory
  s.Stat("b/h2");
  s.Mkdir("a/empty");
  s.Mkdir("b/sub/deep");
  s.Rename("a/empty", "b/sub/deep");  // over an empty directory elsewhere
  s.Stat("a");
  s.Stat("b/sub");
  s.Readdir("a");
  s.Readdir("b");
  s.Readdir("b/sub");
}

void RenameIntoOwnSubtree(Script& s) {
  s.Mkdir("a");
  s.Mkdir("a/b");
  s.Mkdir("a/b/c");
  s.Rename("a", "a/b/c/d");
  s.Rename("a", "a/b/c");
  s.Rename("a", "a/b");
  s.Rename("a/b", "a/b/x");
  s.Rename("a/b", "a");  // the target is an ancestor of the source
  s.Rename("a/.", "z");
  s.Rename("a/b/..", "z");
  s.Readdir("a");
  s.Readdir("a/b");
}

void RenameToItself(Script& s) {
  s.MakeFile("a", "aaa");
  s.Rename("a", "a");
  s.Stat("a");
  s.Mkdir("d");
  s.Rename("d", "d");
  s.Stat("d");
  s.Link("a", "b");
  s.Rename("a", "b");  // both names of one inode: nothing happens
  s.Stat("a");
  s.Stat("b");
  s.Readdir(".");
  s.Rename("missing", "x");
  s.Rename("a", "nodir/x");
}

void HardLinks(Script& s) {
  s.MakeFile("a", "data");
  s.Link("a", "b");
  s.Stat("a");
  s.Stat("b");
  s.Mkdir("d");
  s.Link("a", "d/c");
  s.Stat("a");
  s.Unlink("a");
  s.Stat("b");
  int h = s.Open("d/c", O_RDONLY);
  s.Pread(h, 100, 0);
  s.Close(h);
  s.Link("d", "e");
  s.Link("missing", "x");
  s.Link("b", "d/c");
  s.Link("b", "d");
  s.Symlink("b", "s");
  s.Link("s", "t");  // link(2) does not follow: a second name of the symlink
  s.Lstat("t");
  s.Stat("b");
  StatResult before = s.Stat("b");
  s.Tick();
  s.Link("b", "z");
  StatResult after = s.Stat("b");
  s.Compare("ctime after link", before.ctime, after.ctime);
  s.Readdir(".");
}

void Symlinks(Script& s) {
  s.MakeFile("f", "hello");
  s.Symlink("f", "l");
  s.Readlink("l");
  s.Lstat("l");
  s.Stat("l");
  s.Symlink("f", "l");
  s.Readlink("f");
  s.Symlink("nowhere", "dangle");
  s.Stat("dangle");
  s.Lstat("dangle");
  s.Readlink("dangle");
  int h = s.Open("l", O_RDONLY);
  s.Pread(h, 100, 0);
  s.Close(h);
  s.Open("l", O_RDONLY | O_NOFOLLOW);
  s.Symlink("loop2", "loop1");
  s.Symlink("loop1", "loop2");
  s.Stat("loop1");
  s.Open("loop1", O_RDONLY);
  s.Mkdir("d");
  s.Symlink("d", "ld");
  s.MakeFile("ld/x", "via link");
  s.Readdir("d");
  s.Stat("ld");
  s.Lstat("ld");
  s.Symlink("../f", "d/up");
  s.Stat("d/up");
  s.Readlink("d/up");
  s.Symlink("/nonexistent/abs", "abs");
  s.Readlink("abs");
  s.Lstat("abs");
  std::string long_target(1000, 't');
  s.Symlink(long_target, "long");
  std::string back = s.Readlink("long");
  s.Note(std::string("long target read back intact: ") + (back == long_target ? "yes" : "no"));
  s.Lstat("long");
  s.Unlink("l");
  s.Stat("f");
  s.Readdir(".");
}

void ReaddirCounts(Script& s) {
  s.Mkdir("zero");
  s.Readdir("zero");
  s.Mkdir("one");
  s.MakeFile("one/only", "");
  s.Readdir("one");
  s.Mkdir("big");
  CreateMany(s, "big", 1000);
  s.Readdir("big");
  s.Stat("big");
  int failed = 0;
  for (int i = 0; i < 1000; i += 2) {
    char name[24];
    std::snprintf(name, sizeof(name), "big/f%04d", i);
    if (s.fs()->Unlink(name) != 0) ++failed;
  }
  s.Note("unlink every other file in big: " + std::to_string(failed) + " failed");
  for (int i = 0; i < 10; ++i) s.Mkdir("big/dir" + std::to_string(i));
  s.Readdir("big");
  s.Stat("big");
  s.Readdir(".");
}

void SizesAndHoles(Script& s) {
  int h = s.Open("f", O_CREAT | O_RDWR, 0644);
  s.Fstat(h);
  s.Pwrite(h, "hello", 0);
  s.Fstat(h);
  s.Pwrite(h, "world", 1 << 20);
  s.Fstat(h);
  s.Pread(h, 4096, 4096);  // inside the hole
  s.Pread(h, 10, (1 << 20) - 5);
  s.Pread(h, 10, 1 << 21);
  s.Pwrite(h, "far", int64_t{1} << 32);  // past 4 GiB, sparse
  s.Fstat(h);
  s.Pread(h, 4096, (int64_t{1} << 32) - 4093);
  s.Ftruncate(h, 3);
  s.Fstat(h);
  s.Pread(h, 10, 0);
  s.Ftruncate(h, 100);
  s.Fstat(h);
  s.Pread(h, 100, 0);
  s.Pread(h, 97, 3);  // zeros where the truncated data was
  s.Close(h);
  s.Truncate("f", 0);
  s.Stat("f");
  s.Truncate("f", 8192);
  s.Stat("f");
  h = s.Open("f", O_RDWR);
  s.Pread(h, 8192, 0);
  s.Pwrite(h, std::string(200000, 'x'), 0);
  s.Ftruncate(h, 100);
  s.Ftruncate(h, 200000);
  s.Pread(h, 100, 0);
  s.Pread(h, 199900, 100);  // all zeros: no stale data comes back
  s.Close(h);
  s.Stat("f");
}

void TruncateErrors(Script& s) {
  s.Mkdir("d");
  s.MakeFile("f", "abcdef");
  s.Truncate("d", 0);
  s.Truncate("missing", 0);
  s.Truncate("f", -1);
  int h = s.Open("f", O_RDONLY);
  s.Ftruncate(h, 0);
  s.Close(h);
  s.Symlink("f", "l");
  s.Truncate("l", 2);  // follows the link
  s.Stat("f");
  s.Lstat("l");
}

void ChmodChown(Script& s) {
  s.MakeFile("f", "x");
  s.Chmod("f", 0600);
  s.Stat("f");
  s.Chmod("f", 04755);
  s.Stat("f");
  s.Chmod("f", 0);
  s.Stat("f");
  s.Access("f", R_OK | W_OK);  // root reads and writes anything
  s.Access("f", X_OK);         // but executes only with some x bit
  s.Chmod("f", 0100);
  s.Access("f", X_OK);
  s.Chown("f", kOtherUid, kOtherGid);
  s.Stat("f");
  s.Chown("f", kKeep, 2000);
  s.Stat("f");
  s.Chown("f", 0, kKeep);
  s.Stat("f");
  s.Chmod("f", 06755);
  s.Chown("f", kOtherUid, kOtherGid);  // clears set-user-id and set-group-id
  s.Stat("f");
  s.Mkdir("d", 0755);
  s.Chmod("d", 02700);
  s.Chown("d", kOtherUid, kKeep);
  s.Stat("d");
  s.Symlink("f", "l");
  s.Chmod("l", 0640);  // follows the link
  s.Stat("f");
  s.Lstat("l");
}

// Waits a tick, runs `change`, and records whether `path`'s mtime and ctime moved.
void TimesAcross(Script& s, const std::string& path, const std::string& what,
                 const std::function<void()>& change) {
  StatResult before;
  int rc = s.fs()->Stat(path, &before);
  if (rc != 0) return s.Note("stat(" + P(path) + ") before " + what + " = " + ErrName(rc));
  s.Tick();
  change();
  StatResult after = s.Stat(path);
  s.Compare("mtime of " + P(path) + " after " + what, before.mtime, after.mtime);
  s.Compare("ctime of " + P(path) + " after " + what, before.ctime, after.ctime);
}

void TimesOfFiles(Script& s) {
  s.MakeFile("f", "a");
  TimesAcross(s, "f", "write", [&] {
    int h = s.Open("f", O_WRONLY);
    s.Pwrite(h, "b", 1);
    s.Close(h);
  });
  TimesAcross(s, "f", "read", [&] {
    int h = s.Open("f", O_RDONLY);
    s.Pread(h, 10, 0);
    s.Close(h);
  });
  TimesAcross(s, "f", "chmod", [&] { s.Chmod("f", 0600); });
  TimesAcross(s, "f", "truncate", [&] { s.Truncate("f", 0); });
  TimesAcross(s, "f", "link", [&] { s.Link("f", "g"); });
  TimesAcross(s, "f", "rename", [&] {
    s.Rename("f", "h");
    s.Rename("h", "f");
  });
}

void TimesOfDirs(Script& s) {
  s.Mkdir("d");
  TimesAcross(s, "d", "create", [&] { s.MakeFile("d/f", "x"); });
  TimesAcross(s, "d", "rename", [&] { s.Rename("d/f", "d/g"); });
  TimesAcross(s, "d", "unlink", [&] { s.Unlink("d/g"); });
  TimesAcross(s, "d", "mkdir", [&] { s.Mkdir("d/sub"); });
  TimesAcross(s, "d", "readdir and lookup", [&] {
    s.Readdir("d");
    s.Stat("d/sub");
  });
  TimesAcross(s, "d", "rmdir", [&] { s.Rmdir("d/sub"); });
  TimesAcross(s, "d", "chmod", [&] { s.Chmod("d", 0700); });
}

void Utimens(Script& s) {
  s.MakeFile("f", "x");
  s.Utimens("f", Ts(1000000000, 123456789), Ts(1500000000, 987654321));
  RecordTimes(s, "f");
  StatResult before = s.Stat("f");
  s.Tick();
  s.Utimens("f", kOmit, Ts(1600000000, 0));
  RecordTimes(s, "f");
  StatResult after = s.Stat("f");
  s.Compare("ctime after utimens", before.ctime, after.ctime);
  s.Tick();
  s.Utimens("f", kNow, kNow);
  StatResult now = s.Stat("f");
  s.Compare("mtime after utimens NOW (from 1600000000)", after.mtime, now.mtime);
  s.Compare("ctime after utimens NOW", after.ctime, now.ctime);
  s.Mkdir("d");
  s.Utimens("d", Ts(1234567890, 5), Ts(1234567891, 6));
  RecordTimes(s, "d");
  s.Utimens("missing", kNow, kNow);
}

void NameLengths(Script& s) {
  const std::string n255(255, 'n');
  const std::string n256(256, 'n');
  s.MakeFile(n255, "x");
  s.Stat(n255);
  s.Mkdir(std::string(255, 'd'));
  s.Open(n256, O_CREAT | O_WRONLY, 0644);
  s.Mkdir(n256);
  s.Stat(n256);
  s.Symlink("x", n256);
  s.Rename(n255, n256);
  s.Link(n255, n256);
  s.Unlink(n256);
  std::string utf8_255, utf8_256;  // 2-byte characters: the limit counts bytes
  for (int i = 0; i < 127; ++i) utf8_255 += "\xc3\xa9";
  utf8_256 = utf8_255 + "\xc3\xa9";
  utf8_255 += "a";
  s.MakeFile(utf8_255, "");
  s.MakeFile(utf8_256, "");
  for (const char* name : {"a b", "-dash", "semi;colon", "tab\tname", "\xe6\x97\xa5\xe6\x9c\xac",
                           "...", ".hidden", "back\\slash"}) {
    s.MakeFile(name, "");
  }
  s.Readdir(".");
  s.Statfs(".");
}

void Statfs(Script& s) {
  s.Statfs(".");
  s.MakeFile("f", "x");
  s.Statfs("f");
  s.Statfs("missing");
}

void Fsync(Script& s) {
  int h = s.Open("f", O_CREAT | O_WRONLY, 0644);
  s.Pwrite(h, "data", 0);
  s.Fsync(h);
  s.Close(h);
  h = s.Open("f", O_RDONLY);
  s.Fsync(h);
  s.Close(h);
  s.Mkdir("d");
  h = s.Open("d", O_RDONLY | O_DIRECTORY);
  s.Fsync(h);
  s.Close(h);
  s.Stat("f");
}

// Moves a file and a directory between every ordered pair of directories: ConvergeFS
// spreads directories over PGs, and no rename inside the filesystem may say EXDEV.
void RenameEverywhere(Script& s, const std::string& base) {
  const std::vector<std::string> dirs = {base,
                                         Join(base, "d0"),
                                         Join(base, "d1"),
                                         Join(base, "d2"),
                                         Join(base, "d0/n1"),
                                         Join(base, "d0/n1/n2"),
                                         Join(base, "d2/m")};
  for (const auto& d : dirs) {
    if (d != base) s.Mkdir(d, 0755);
  }
  s.MakeFile(Join(base, "f"), "payload");
  s.Mkdir(Join(base, "mv"), 0755);
  s.MakeFile(Join(base, "mv/inner"), "inner");
  for (size_t i = 0; i < dirs.size(); ++i) {
    for (size_t j = 0; j < dirs.size(); ++j) {
      if (i == j) continue;
      s.Rename(Join(dirs[i], "f"), Join(dirs[j], "f"));
      s.Rename(Join(dirs[j], "f"), Join(dirs[i], "f"));
      s.Rename(Join(dirs[i], "mv"), Join(dirs[j], "mv"));
      s.Rename(Join(dirs[j], "mv"), Join(dirs[i], "mv"));
    }
    if (i + 1 < dirs.size()) {  // walk both along to the next directory
      s.Rename(Join(dirs[i], "f"), Join(dirs[i + 1], "f"));
      s.Rename(Join(dirs[i], "mv"), Join(dirs[i + 1], "mv"));
    }
  }
  s.Stat(Join(dirs.back(), "f"));
  s.Stat(Join(dirs.back(), "mv/inner"));
}

void NoExdev(Script& s) { RenameEverywhere(s, "."); }

void UserNoExdev(Script& s) {
  s.Mkdir("home", 0755);
  s.Chown("home", kOtherUid, kOtherGid);
  auto u = s.As(kOtherUid, kOtherGid);
  RenameEverywhere(*u, "home");
}

void UserReadRootFile(Script& s) {
  s.MakeFile("secret", "top", 0600);
  s.MakeFile("pub", "open", 0644);
  s.Mkdir("priv", 0700);
  s.MakeFile("priv/x", "x");
  s.Mkdir("noexec", 0755);
  s.MakeFile("noexec/y", "y");
  s.Chmod("noexec", 0744);
  auto u = s.As(kOtherUid, kOtherGid);
  u->Stat("secret");
  u->Open("secret", O_RDONLY);
  u->Access("secret", R_OK);
  u->Access("secret", F_OK);
  int h = u->Open("pub", O_RDONLY);
  u->Pread(h, 10, 0);
  u->Close(h);
  u->Open("pub", O_WRONLY);
  u->Open("pub", O_RDWR);
  u->Truncate("pub", 0);
  u->Access("pub", W_OK);
  u->Stat("priv/x");
  u->Readdir("priv");
  u->Readdir("noexec");  // read without search: names, no stat
  u->Stat("noexec/y");
}

void UserCreateInRootDir(Script& s) {
  s.Mkdir("d", 0755);
  s.MakeFile("d/f", "x");
  s.Mkdir("open", 0777);
  s.Chmod("open", 0777);
  auto u = s.As(kOtherUid, kOtherGid);
  u->Open("d/new", O_CREAT | O_WRONLY, 0644);
  u->Mkdir("d/sub");
  u->Unlink("d/f");
  u->Rename("d/f", "d/g");
  u->Symlink("x", "d/l");
  u->Rmdir("d");
  u->Readdir("d");
  u->MakeFile("open/mine", "mine");
  u->Stat("open/mine");
  u->Mkdir("open/mydir", 0750);
  u->Stat("open/mydir");
  u->Rename("open/mine", "open/mydir/mine");
  u->Readdir("open/mydir");
}

void UserChmodChown(Script& s) {
  s.MakeFile("rootf", "r", 0644);
  s.Mkdir("open", 0777);
  s.Chmod("open", 0777);
  auto u = s.As(kOtherUid, kOtherGid);
  u->Chmod("rootf", 0666);
  u->Chown("rootf", kOtherUid, kOtherGid);
  u->Utimens("rootf", Ts(1000000000, 0), Ts(1000000000, 0));
  u->Utimens("rootf", kNow, kNow);  // needs write permission
  s.Chmod("rootf", 0666);
  u->Utimens("rootf", kNow, kNow);
  u->Utimens("rootf", Ts(1000000000, 0), Ts(1000000000, 0));  // explicit: owner only
  s.Stat("rootf");
  u->MakeFile("open/mine", "m");
  u->Chown("open/mine", 0, kKeep);
  u->Chown("open/mine", kKeep, 0);  // not a member of group 0
  u->Chown("open/mine", kOtherUid, kOtherGid);
  u->Chown("open/mine", kKeep, kKeep);
  u->Chmod("open/mine", 0600);
  u->Chmod("open/mine", 02755);  // own group: set-group-id kept
  u->Stat("open/mine");
  s.Chown("open/mine", kOtherUid, 0);
  u->Chmod("open/mine", 02755);  // group 0: set-group-id silently dropped
  u->Stat("open/mine");
  s.MakeFile("open/suid", "", 0644);
  s.Chmod("open/suid", 04666);
  int h = u->Open("open/suid", O_WRONLY);
  u->Pwrite(h, "w", 0);  // a write by a non-owner clears set-user-id
  u->Close(h);
  s.Stat("open/suid");
}

void UserStickyDir(Script& s) {
  s.Mkdir("tmp", 0777);
  s.Chmod("tmp", 01777);
  s.MakeFile("tmp/rootf", "r", 0666);
  auto u = s.As(kOtherUid, kOtherGid);
  u->Unlink("tmp/rootf");
  u->Rename("tmp/rootf", "tmp/x");
  u->MakeFile("tmp/userf", "u");
  u->Rename("tmp/userf", "tmp/userg");
  u->Unlink("tmp/userg");
  s.Readdir("tmp");
}

}  // namespace

const std::vector<Case>& AllCases() {
  static const std::vector<Case> cases = {
      {"create_excl", "O_CREAT, O_EXCL (EEXIST, symlinks), creating through a dangling link", false,
       CreateExcl},
      {"open_trunc", "O_TRUNC empties a file and advances mtime/ctime", false, OpenTrunc},
      {"open_append", "O_APPEND writes go to the end, reads do not", false, OpenAppend},
      {"read_write", "positions, pread/pwrite, EOF, EBADF on wrong access mode, 256 KiB", false,
       ReadWrite},
      {"open_missing", "ENOENT from every call on a missing name or parent", false, OpenMissing},
      {"open_notdir", "a file used as a directory component: ENOTDIR", false, OpenNotDir},
      {"open_dir_write", "a directory opened for writing: EISDIR", false, OpenDirForWrite},
      {"mkdir_existing", "mkdir over a dir, file or symlink: EEXIST; modes and nlink", false,
       MkdirExisting},
      {"rmdir_errors", "ENOTEMPTY, ENOTDIR, ENOENT, EINVAL; nlink after rmdir", false, RmdirErrors},
      {"unlink_dir", "unlink of a directory: EISDIR; of a symlink to one", false, UnlinkDir},
      {"unlink_open_file", "an unlinked file stays readable and writable through its fd", false,
       UnlinkOpenFile},
      {"rename_file_over_file", "replaces the target; an fd on it keeps the old data", false,
       RenameFileOverFile},
      {"rename_dir_over_empty_dir", "replaces an empty directory", false, RenameDirOverEmptyDir},
      {"rename_dir_over_nonempty_dir", "ENOTEMPTY (or EEXIST)", false, RenameDirOverNonEmptyDir},
      {"rename_file_over_dir", "EISDIR", false, RenameFileOverDir},
      {"rename_dir_over_file", "ENOTDIR", false, RenameDirOverFile},
      {"rename_across_dirs", "files and directories between directories; parents' nlink", false,
       RenameAcrossDirs},
      {"rename_into_own_subtree", "EINVAL; target an ancestor of the source; . and ..", false,
       RenameIntoOwnSubtree},
      {"rename_to_itself", "same name, two links of one inode: no-op; ENOENT", false,
       RenameToItself},
      {"hard_links", "nlink counts, EPERM on a directory, EEXIST, ctime", false, HardLinks},
      {"symlinks", "readlink, lstat vs stat, dangling, loops (ELOOP), O_NOFOLLOW", false, Symlinks},
      {"readdir_counts", "listings of 0, 1, 1000 and 510 entries", false, ReaddirCounts},
      {"sizes_and_holes", "sizes after writes, holes, truncate down and up read zeros", false,
       SizesAndHoles},
      {"truncate_errors", "EISDIR, ENOENT, EINVAL; truncate through a symlink", false,
       TruncateErrors},
      {"chmod_chown", "modes, owners, set-id bits cleared by chown, access as root", true,
       ChmodChown},
      {"times_files",
       "mtime/ctime advance (or not) after write, read, chmod, truncate, link, rename", false,
       TimesOfFiles},
      {"times_dirs", "directory mtime/ctime after entries change", false, TimesOfDirs},
      {"utimens", "explicit times read back exactly; OMIT, NOW; ctime", false, Utimens},
      {"name_lengths", "255 bytes ok, 256 ENAMETOOLONG; odd names", false, NameLengths},
      {"statfs", "f_namemax, statfs on a file and a missing name", false, Statfs},
      {"fsync", "fsync of written, read-only and directory handles", false, Fsync},
      {"no_exdev", "rename between every pair of directories succeeds (never EXDEV)", false,
       NoExdev},
      {"user_no_exdev", "the same as uid 1000 in its own tree", true, UserNoExdev},
      {"user_read_root_file", "uid 1000: EACCES on a 0600 root file and 0700 dirs", true,
       UserReadRootFile},
      {"user_create_in_root_dir", "uid 1000: EACCES creating in a 0755 root dir; own files", true,
       UserCreateInRootDir},
      {"user_chmod_chown", "uid 1000: EPERM on root's files, chown rules, set-id clearing", true,
       UserChmodChown},
      {"user_sticky_dir", "uid 1000 in a 1777 directory: EPERM on root's entries", true,
       UserStickyDir},
  };
  return cases;
}

const Case* FindCase(const std::string& name) {
  for (const auto& c : AllCases()) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

Trace RunCase(const Case& c, FsApi* fs) {
  Trace trace;
  Script script(fs, &trace);
  c.run(script);
  return trace;
}

std::optional<TraceDiff> CompareTraces(const Trace& reference, const Trace& target) {
  const size_t n = std::max(reference.size(), target.size());
  for (size_t i = 0; i < n; ++i) {
    const std::string* r = i < reference.size() ? &reference[i] : nullptr;
    const std::string* t = i < target.size() ? &target[i] : nullptr;
    if (r && t && *r == *t) continue;
    return TraceDiff{i, r ? *r : "<end of trace>", t ? *t : "<end of trace>"};
  }
  return std::nullopt;
}

std::string CaseDirs::Make(const std::string& base, const std::string& case_name,
                           std::string* error) {
  std::string templ = base + "/" + case_name + "-XXXXXX";
  std::vector<char> buf(templ.begin(), templ.end());
  buf.push_back('\0');
  if (mkdtemp(buf.data()) == nullptr) {
    *error = "mkdtemp " + templ + ": " + std::strerror(errno);
    return "";
  }
  std::string dir(buf.data());
  if (chmod(dir.c_str(), 0755) != 0) {
    *error = "chmod " + dir + ": " + std::strerror(errno);
    return "";
  }
  return dir;
}

bool CaseDirs::Remove(const std::string& dir, std::string* error) {
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  if (ec) {
    *error = "remove " + dir + ": " + ec.message();
    return false;
  }
  return true;
}

const char* OutcomeName(CaseResult::Outcome outcome) {
  switch (outcome) {
    case CaseResult::Outcome::kSame:
      return "PASS";
    case CaseResult::Outcome::kDiff:
      return "DIFF";
    case CaseResult::Outcome::kError:
      return "ERROR";
    case CaseResult::Outcome::kSkipped:
      return "SKIP";
  }
  return "ERROR";
}

DirOps LocalDirOps() { return {CaseDirs::Make, CaseDirs::Remove}; }

CaseResult RunAndCompare(const Case& c, const std::string& reference_base,
                         const FsFactory& reference_fs, const std::string& target_base,
                         const FsFactory& target_fs, bool keep) {
  return RunAndCompare(c, reference_base, reference_fs, target_base, target_fs, LocalDirOps(),
                       keep);
}

CaseResult RunAndCompare(const Case& c, const std::string& reference_base,
                         const FsFactory& reference_fs, const std::string& target_base,
                         const FsFactory& target_fs, const DirOps& target_dirs, bool keep) {
  CaseResult result;
  result.name = c.name;
  if (c.needs_root && geteuid() != 0) {
    result.outcome = CaseResult::Outcome::kSkipped;
    result.message = "needs root (takes uid 1000 or chowns)";
    return result;
  }
  umask(022);
  std::string error;
  const std::string ref_dir = CaseDirs::Make(reference_base, c.name, &error);
  const std::string target_dir =
      ref_dir.empty() ? "" : target_dirs.make(target_base, c.name, &error);
  if (ref_dir.empty() || target_dir.empty()) {
    if (!ref_dir.empty() && !keep) CaseDirs::Remove(ref_dir, &error);
    result.outcome = CaseResult::Outcome::kError;
    result.message = error;
    return result;
  }
  result.reference = RunCase(c, reference_fs(ref_dir).get());
  result.target = RunCase(c, target_fs(target_dir).get());
  for (const Trace* trace : {&result.reference, &result.target}) {
    for (const auto& line : *trace) {
      if (line.find(kSetupError) != std::string::npos && result.message.empty()) {
        result.message = (trace == &result.reference ? "reference: " : "target: ") + line;
      }
    }
  }
  result.diff = CompareTraces(result.reference, result.target);
  if (!result.message.empty()) {
    result.outcome = CaseResult::Outcome::kError;
  } else {
    result.outcome = result.diff ? CaseResult::Outcome::kDiff : CaseResult::Outcome::kSame;
  }
  if (!keep) {
    std::string rm_error;
    if (!CaseDirs::Remove(ref_dir, &rm_error) || !target_dirs.remove(target_dir, &rm_error)) {
      if (result.message.empty()) result.message = "cleanup: " + rm_error;
    }
  }
  return result;
}

}  // namespace cvfs::posix
