// The POSIX suite checked on two local filesystems: ext4 (/tmp) as the reference and a
// tmpfs this test mounts as the target must give identical traces for every case, and the
// comparison must notice when one errno differs.

#include <linux/magic.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>

#include "tests/cluster/child_process.h"
#include "tests/posix/cases.h"
#include "tests/posix/fs_api.h"

namespace cvfs::posix {
namespace {

std::unique_ptr<FsApi> MakePosixDir(const std::string& root) {
  return std::make_unique<PosixDirApi>(root);
}

// A tmpfs mounted for the test, unmounted and its mount point removed at scope exit. The
// mount goes into a private mount namespace when the process can make one, so a crashed
// test leaves no mount behind.
class TmpfsMount {
 public:
  TmpfsMount() {
    if (unshare(CLONE_NEWNS) == 0) {
      // Stop our mounts from propagating back to the host's namespace.
      if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
        error_ = std::string("make / private: ") + std::strerror(errno);
        return;
      }
    }
    auto dir = testing::MakeTempDir("posix-tmpfs", "/tmp");
    if (!dir.ok()) {
      error_ = dir.status().ToString();
      return;
    }
    dir_ = dir.value();
    if (mount("tmpfs", dir_.c_str(), "tmpfs", 0, "size=64m,mode=0755") != 0) {
      error_ = "mount -t tmpfs " + dir_ + ": " + std::strerror(errno);
      return;
    }
    mounted_ = true;
  }
  ~TmpfsMount() {
    if (mounted_ && umount(dir_.c_str()) != 0) umount2(dir_.c_str(), MNT_DETACH);
    if (!dir_.empty()) rmdir(dir_.c_str());
  }
  const std::string& dir() const { return dir_; }
  const std::string& error() const { return error_; }
  bool mounted() const { return mounted_; }

 private:
  std::string dir_;
  std::string error_;
  bool mounted_ = false;
};

// The reference directory on /tmp, removed with its contents at scope exit.
struct TempDir {
  TempDir() {
    auto made = testing::MakeTempDir("posix-ref", "/tmp");
    REQUIRE(made.ok());
    path = made.value();
    REQUIRE(chmod(path.c_str(), 0755) == 0);  // uid 1000 must reach the case directories
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::string path;
};

long FsType(const std::string& path) {
  struct statfs st;
  return statfs(path.c_str(), &st) == 0 ? static_cast<long>(st.f_type) : 0;
}

bool Contains(const Trace& trace, const std::string& text) {
  for (const auto& line : trace) {
    if (line.find(text) != std::string::npos) return true;
  }
  return false;
}

// The same filesystem, except that rmdir of a non-empty directory says EEXIST (which
// POSIX allows) instead of Linux's ENOTEMPTY: the comparator must report it.
class RmdirSaysEexist : public PosixDirApi {
 public:
  using PosixDirApi::PosixDirApi;
  int Rmdir(const std::string& path) override {
    int rc = PosixDirApi::Rmdir(path);
    return rc == -ENOTEMPTY ? -EEXIST : rc;
  }
};

TEST_CASE("every case gives the same trace on ext4 and on tmpfs") {
  if (geteuid() != 0) {
    WARN("SKIPPED: needs root to mount a tmpfs and to run cases as uid 1000");
    return;
  }
  TmpfsMount tmpfs;
  INFO(tmpfs.error());
  REQUIRE(tmpfs.mounted());
  REQUIRE(FsType(tmpfs.dir()) == TMPFS_MAGIC);
  TempDir reference;
  if (FsType(reference.path) != EXT4_SUPER_MAGIC) {
    WARN("/tmp is not ext4 here; comparing it with tmpfs anyway");
  }

  int differing = 0;
  for (const auto& c : AllCases()) {
    CaseResult r = RunAndCompare(c, reference.path, MakePosixDir, tmpfs.dir(), MakePosixDir);
    INFO("case " << c.name << ": " << OutcomeName(r.outcome) << " " << r.message);
    if (r.diff) {
      INFO("line " << r.diff->line + 1 << "\n  ext4:  " << r.diff->reference
                   << "\n  tmpfs: " << r.diff->target);
      CHECK(r.outcome == CaseResult::Outcome::kSame);
    } else {
      CHECK(r.outcome == CaseResult::Outcome::kSame);
    }
    CHECK(r.reference.size() >= 3);
    if (r.outcome != CaseResult::Outcome::kSame) ++differing;
  }
  REQUIRE(differing == 0);
}

TEST_CASE("the cases exercise the errors they name (ext4 traces)") {
  if (geteuid() != 0) {
    WARN("SKIPPED: the uid 1000 cases need root");
    return;
  }
  TempDir reference;
  umask(022);
  const std::pair<const char*, const char*> expected[] = {
      {"create_excl", "= EEXIST"},
      {"open_missing", "= ENOENT"},
      {"open_notdir", "= ENOTDIR"},
      {"open_dir_write", "= EISDIR"},
      {"mkdir_existing", "= EEXIST"},
      {"rmdir_errors", "= ENOTEMPTY"},
      {"unlink_dir", "unlink(d) = EISDIR"},
      {"rename_dir_over_nonempty_dir", "= ENOTEMPTY"},
      {"rename_file_over_dir", "= EISDIR"},
      {"rename_dir_over_file", "= ENOTDIR"},
      {"rename_into_own_subtree", "rename(a, a/b/c/d) = EINVAL"},
      {"hard_links", "link(d, e) = EPERM"},
      {"symlinks", "= ELOOP"},
      {"name_lengths", "= ENAMETOOLONG"},
      {"name_lengths", "namemax=255"},
      {"times_files", "mtime of f after write: advanced"},
      {"times_files", "ctime of f after chmod: advanced"},
      {"times_files", "mtime of f after read: same"},
      {"user_read_root_file", "[uid 1000 gid 1000] open(secret, O_RDONLY) = EACCES"},
      {"user_create_in_root_dir", "open(d/new, O_WRONLY|O_CREAT, 0644) = EACCES"},
      {"user_chmod_chown", "chmod(rootf, 0666) = EPERM"},
      {"user_chmod_chown", "chown(open/mine, 0, -1) = EPERM"},
      {"chmod_chown", "stat(f) = ok file 0755 uid=1000"},
  };
  for (const auto& [name, text] : expected) {
    const Case* c = FindCase(name);
    REQUIRE(c != nullptr);
    std::string error;
    std::string dir = CaseDirs::Make(reference.path, name, &error);
    REQUIRE(!dir.empty());
    PosixDirApi fs(dir);
    Trace trace = RunCase(*c, &fs);
    INFO("case " << name << " should record: " << text);
    CHECK(Contains(trace, text));
    CHECK_FALSE(Contains(trace, kSetupError));
  }
  for (const char* name : {"no_exdev", "user_no_exdev"}) {
    std::string error;
    std::string dir = CaseDirs::Make(reference.path, name, &error);
    PosixDirApi fs(dir);
    Trace trace = RunCase(*FindCase(name), &fs);
    CHECK(trace.size() > 150);
    CHECK_FALSE(Contains(trace, "EXDEV"));
    CHECK_FALSE(Contains(trace, "= E"));  // every rename succeeds
  }
}

TEST_CASE("the comparison reports a changed errno and where it is") {
  TempDir reference;
  TempDir target;
  const Case* c = FindCase("rmdir_errors");
  REQUIRE(c != nullptr);
  FsFactory flipped = [](const std::string& root) -> std::unique_ptr<FsApi> {
    return std::make_unique<RmdirSaysEexist>(root);
  };
  CaseResult r = RunAndCompare(*c, reference.path, MakePosixDir, target.path, flipped);
  REQUIRE(r.outcome == CaseResult::Outcome::kDiff);
  REQUIRE(r.diff.has_value());
  CHECK(r.diff->reference == "rmdir(d) = ENOTEMPTY");
  CHECK(r.diff->target == "rmdir(d) = EEXIST");
  CHECK(r.reference[r.diff->line] == r.diff->reference);

  // And the same engine on two unmodified directories says they agree.
  CaseResult same = RunAndCompare(*c, reference.path, MakePosixDir, target.path, MakePosixDir);
  CHECK(same.outcome == CaseResult::Outcome::kSame);
}

TEST_CASE("CompareTraces: identical, changed line, shorter trace") {
  CHECK_FALSE(CompareTraces({"a", "b"}, {"a", "b"}).has_value());
  auto changed = CompareTraces({"a", "b", "c"}, {"a", "x", "c"});
  REQUIRE(changed.has_value());
  CHECK(changed->line == 1);
  CHECK(changed->reference == "b");
  CHECK(changed->target == "x");
  auto shorter = CompareTraces({"a", "b"}, {"a"});
  REQUIRE(shorter.has_value());
  CHECK(shorter->line == 1);
  CHECK(shorter->target == "<end of trace>");
}

TEST_CASE("RunAs changes the credentials of its own thread only") {
  if (geteuid() != 0) {
    WARN("SKIPPED: needs root to take uid 1000");
    return;
  }
  TempDir dir;
  PosixDirApi fs(dir.path);
  std::string error;
  auto user = fs.RunAs(1000, 1000, &error);
  INFO(error);
  REQUIRE(user != nullptr);
  REQUIRE(fs.Mkdir("open", 0777) == 0);
  REQUIRE(fs.Chmod("open", 0777) == 0);
  int h = user->Open("open/mine", O_CREAT | O_WRONLY, 0644);
  REQUIRE(h >= 0);
  REQUIRE(user->Close(h) == 0);
  StatResult st;
  REQUIRE(fs.Stat("open/mine", &st) == 0);
  CHECK(st.uid == 1000);
  CHECK(st.gid == 1000);
  CHECK(user->Chmod(".", 0700) == -EPERM);
  // The test's own thread is still root.
  CHECK(geteuid() == 0);
  CHECK(fs.Chown("open/mine", 0, 0) == 0);
  h = fs.Open("root-file", O_CREAT | O_WRONLY, 0600);
  REQUIRE(h >= 0);
  CHECK(fs.Close(h) == 0);
  CHECK(user->Open("root-file", O_RDONLY, 0) == -EACCES);
}

}  // namespace
}  // namespace cvfs::posix
