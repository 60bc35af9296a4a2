#pragma once

// The POSIX suite's cases and its engine. A case is a scripted sequence of FsApi calls on
// an empty directory; running it records a trace (each call with its result or -errno,
// the stat fields that matter, sorted directory listings, "changed or not" relations of
// times). A case has no expected values of its own: the trace of a reference filesystem
// (a local directory) and the trace of the target (the ConvergeFS mount, libcvfs) must be
// identical, line for line.
//
// Thread safety: cases and the engine run on one thread; RunAs identities get their own
// worker threads through FsApi::RunAs.

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tests/posix/fs_api.h"

namespace cvfs::posix {

using Trace = std::vector<std::string>;

// A trace line starting with this marks a case whose setup failed (not a comparison).
inline constexpr const char* kSetupError = "SETUP ERROR: ";

// What a case script calls: each method makes the FsApi call, appends one trace line (or
// a few: a listing is one line per name), and returns the result so the script can go on.
class Script {
 public:
  // `prefix` starts every line this script records (e.g. "[uid 1000] ").
  Script(FsApi* fs, Trace* trace, std::string prefix = "");
  // Closes the handles the case left open, unrecorded.
  ~Script();
  Script(const Script&) = delete;
  Script& operator=(const Script&) = delete;

  int Open(const std::string& path, int flags, uint32_t mode = 0644);
  int Close(int handle);
  // Records the byte count and the data (escaped when short, else a digest and whether
  // it is all zeros); returns the bytes read ("" on error).
  std::string Read(int handle, size_t count);
  std::string Pread(int handle, size_t count, int64_t offset);
  int64_t Write(int handle, const std::string& data);
  int64_t Pwrite(int handle, const std::string& data, int64_t offset);
  int Fsync(int handle);
  int Ftruncate(int handle, int64_t size);
  int Truncate(const std::string& path, int64_t size);
  // Record type, mode, uid, gid, nlink and, for files and symlinks, size (a directory's
  // size is filesystem-specific). Times are returned, never recorded as values.
  StatResult Stat(const std::string& path);
  StatResult Lstat(const std::string& path);
  StatResult Fstat(int handle);
  int Mkdir(const std::string& path, uint32_t mode = 0755);
  int Rmdir(const std::string& path);
  int Unlink(const std::string& path);
  int Rename(const std::string& from, const std::string& to);
  int Link(const std::string& existing, const std::string& new_path);
  int Symlink(const std::string& target, const std::string& link_path);
  std::string Readlink(const std::string& path);
  // Records the result, the count and the names sorted, one line each.
  std::vector<std::string> Readdir(const std::string& path);
  int Chmod(const std::string& path, uint32_t mode);
  int Chown(const std::string& path, uint32_t uid, uint32_t gid);
  int Utimens(const std::string& path, timespec atime, timespec mtime);
  int Statfs(const std::string& path);
  int Access(const std::string& path, int mode);

  // Writes `data` to a new file (O_CREAT|O_TRUNC|O_WRONLY, 0644): one trace line.
  void MakeFile(const std::string& path, const std::string& data, uint32_t mode = 0644);

  // Records how `after` relates to `before`: "advanced", "same" or "went back".
  void Compare(const std::string& what, const timespec& before, const timespec& after);
  // Sleeps long enough that a later change gets a later timestamp on any filesystem
  // clock (coarse kernel clocks tick every few ms).
  void Tick();
  void Note(const std::string& line);

  // A script for the same trace whose calls run as uid/gid, its lines prefixed with the
  // identity. Records whether the identity was taken and can search the case root; when
  // not, the line starts with kSetupError and the engine reports the case as an error
  // (a root no one else can enter would make every check fail the same way on both sides).
  std::unique_ptr<Script> As(uint32_t uid, uint32_t gid);

  FsApi* fs() { return fs_; }

 private:
  void Add(const std::string& call, int64_t rc, const std::string& detail = "");
  std::string HandleName(int handle) const;
  StatResult RecordStat(const std::string& call, int rc, const StatResult& st);

  FsApi* fs_;
  Trace* trace_;
  std::string prefix_;
  std::vector<std::pair<int, std::string>> handles_;  // open handle -> path it came from
  std::vector<std::unique_ptr<FsApi>> identities_;    // kept alive for the As() scripts
};

struct Case {
  std::string name;
  std::string summary;
  bool needs_root = false;  // takes another identity or chowns
  std::function<void(Script&)> run;
};

// Every case, in a fixed order.
const std::vector<Case>& AllCases();
const Case* FindCase(const std::string& name);

// Runs one case on `fs` (rooted at an empty directory) and returns its trace.
Trace RunCase(const Case& c, FsApi* fs);

struct TraceDiff {
  size_t line = 0;        // 0-based index of the first line that differs
  std::string reference;  // "<end of trace>" when that trace is shorter
  std::string target;
};

// The first difference between two traces; nullopt when they are identical.
std::optional<TraceDiff> CompareTraces(const Trace& reference, const Trace& target);

// Makes and removes the fresh per-case directories under a base directory.
class CaseDirs {
 public:
  // Creates base/<case>-XXXXXX, mode 0755 (the other-uid cases must search it).
  // Returns the path, or "" with *error set.
  static std::string Make(const std::string& base, const std::string& case_name,
                          std::string* error);
  // Removes the tree (best effort: a failure is reported, not fatal).
  static bool Remove(const std::string& dir, std::string* error);
};

// Builds an FsApi rooted at a directory; the engine is not tied to PosixDirApi.
using FsFactory = std::function<std::unique_ptr<FsApi>(const std::string& root)>;

// How the engine makes and removes one side's per-case directories: CaseDirs for a local
// directory or a FUSE mount (LocalDirOps), the C API for libcvfs (tests/posix/cvfs_api.h).
struct DirOps {
  std::function<std::string(const std::string& base, const std::string& case_name,
                            std::string* error)>
      make;
  std::function<bool(const std::string& dir, std::string* error)> remove;
};
DirOps LocalDirOps();

struct CaseResult {
  std::string name;
  enum class Outcome { kSame, kDiff, kError, kSkipped } outcome = Outcome::kSame;
  std::optional<TraceDiff> diff;
  std::string message;  // error or skip reason
  Trace reference;
  Trace target;
};

const char* OutcomeName(CaseResult::Outcome outcome);

// Runs `c` in fresh subdirectories of both bases and compares the traces. Sets the process
// umask to 022 first: the traces record modes. `keep` leaves the subdirectories in place.
CaseResult RunAndCompare(const Case& c, const std::string& reference_base,
                         const FsFactory& reference_fs, const std::string& target_base,
                         const FsFactory& target_fs, bool keep = false);
// The same with the target's directories made and removed by `target_dirs`.
CaseResult RunAndCompare(const Case& c, const std::string& reference_base,
                         const FsFactory& reference_fs, const std::string& target_base,
                         const FsFactory& target_fs, const DirOps& target_dirs, bool keep = false);

}  // namespace cvfs::posix
