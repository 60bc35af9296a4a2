// The FUSE mount (client/fuse/, issue #4) on a real cluster: 6 cvfsd with a 4+2
// filesystem, `cvfs-mount` processes on temporary mount points. Data of several sizes read
// back byte for byte, a 1000-entry directory, rename/unlink, two mounts seeing each other's
// changes after the 1 s cache timeouts, permissions for a non-root user through an
// allow_other mount, the POSIX suite (tests/posix) against the mount, fio with verify,
// daemon mode and mount.cvfs, unmounting, and kill -9 of a mount without a hang.
// Needs root and /dev/fuse; skips with a message otherwise. The option parsing cases need
// neither.
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>
#include <catch2/catch.hpp>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "client/fuse/mount_options.h"
#include "tests/cluster/datapath_support.h"
#include "tests/cluster/fuse_mount.h"

using namespace cvfs;
using namespace cvfs::testing;
using cvfs::fuse::MountConfig;

namespace {

constexpr uid_t kUser = 1000;
constexpr gid_t kUserGroup = 1000;
// Longer than the 1 s attr/entry timeouts of the mounts: what another mount changed is
// seen after this.
constexpr auto kCacheExpiry = std::chrono::milliseconds(1500);

bool FuseUsable(std::string* why) {
  if (geteuid() != 0) {
    *why = "needs root (FUSE mounts with allow_other, uid switches)";
    return false;
  }
  if (access("/dev/fuse", R_OK | W_OK) != 0) {
    *why = "/dev/fuse is missing or not usable here";
    return false;
  }
  return true;
}

// "fuse.cvfs" when `dir` is a mounted ConvergeFS, else the type found, or "".
// Lazily unmounts `dir` at scope exit when a step failed with a daemon mount still on it
// (the daemon exits once its mount is gone).
struct UnmountAtExit {
  std::string dir;
  ~UnmountAtExit() {
    if (MountType(dir) == "fuse.cvfs") RunCommand("umount -l " + dir);
  }
};

Status WriteFile(const std::string& path, const std::vector<std::byte>& data, mode_t mode = 0644) {
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, mode);
  if (fd < 0) return Status::IoError("open " + path + ": " + strerror(errno));
  size_t done = 0;
  while (done < data.size()) {
    // Uneven chunks: the kernel sees writes that straddle pages and FUSE requests.
    const size_t chunk = std::min<size_t>(data.size() - done, 300 * 1024 + 17);
    const ssize_t n = write(fd, data.data() + done, chunk);
    if (n < 0) {
      close(fd);
      return Status::IoError("write " + path + ": " + strerror(errno));
    }
    done += static_cast<size_t>(n);
  }
  if (close(fd) != 0) return Status::IoError("close " + path + ": " + strerror(errno));
  return Status::Ok();
}

Result<std::vector<std::byte>> ReadFile(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY);
  if (fd < 0) return Status::IoError("open " + path + ": " + strerror(errno));
  std::vector<std::byte> out;
  std::vector<std::byte> buf(1 << 20);
  for (;;) {
    const ssize_t n = read(fd, buf.data(), buf.size());
    if (n < 0) {
      close(fd);
      return Status::IoError("read " + path + ": " + strerror(errno));
    }
    if (n == 0) break;
    out.insert(out.end(), buf.begin(), buf.begin() + n);
  }
  close(fd);
  return out;
}

std::set<std::string> ListDir(const std::string& path) {
  std::set<std::string> names;
  DIR* d = opendir(path.c_str());
  if (d == nullptr) return names;
  while (dirent* e = readdir(d)) {
    const std::string name = e->d_name;
    if (name != "." && name != "..") names.insert(name);
  }
  closedir(d);
  return names;
}

bool Exists(const std::string& path) {
  struct stat st {};
  return lstat(path.c_str(), &st) == 0;
}

// Runs `body` in a child process as uid/gid 1000 without supplementary groups; returns
// what it returned (an errno, 0 for success) or -1 when the child died. The child uses
// system calls only (the parent may have threads).
template <typename Body>
int RunAsUser(Body body) {
  const pid_t pid = fork();
  if (pid == 0) {
    if (setgroups(0, nullptr) != 0 || setresgid(kUserGroup, kUserGroup, kUserGroup) != 0 ||
        setresuid(kUser, kUser, kUser) != 0) {
      _exit(200);
    }
    _exit(body());
  }
  int status = 0;
  if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return -1;
  return WEXITSTATUS(status);
}

std::vector<std::byte> Bytes(uint64_t seed, size_t n) {
  Random random(seed);
  return RandomBytes(random, n);
}

}  // namespace

TEST_CASE("mount options and the mount.cvfs helper arguments", "[fuse][options]") {
  MountConfig c;
  REQUIRE(fuse::ParseSpec("lab:scratch", &c).ok());
  CHECK(c.cluster == "lab");
  CHECK(c.filesystem == "scratch");
  for (const char* bad : {"lab", ":fs", "lab:", "a:b:c", "a/b:c"}) {
    MountConfig x;
    CHECK(fuse::ParseSpec(bad, &x).code() == ErrorCode::kInvalidArgument);
  }

  REQUIRE(fuse::ApplyMountOptions({"etcd=http://a:2379,etcd=http://b:2379,provider=shm",
                                   "attr_timeout=2.5,entry_timeout=0,allow_other",
                                   "writeback_cache,max_write=131072,ro,noatime,defaults,"
                                   "_netdev,x-systemd.automount,noauto,max_threads=4"},
                                  &c)
              .ok());
  CHECK(c.etcd_endpoints == std::vector<std::string>{"http://a:2379", "http://b:2379"});
  CHECK(c.provider == "shm");
  CHECK(c.attr_timeout_s == 2.5);
  CHECK(c.entry_timeout_s == 0);
  CHECK(c.allow_other);
  CHECK(c.writeback_cache);
  CHECK(c.max_write_bytes == 131072);
  CHECK(c.max_threads == 4);
  CHECK(c.fuse_options == std::vector<std::string>{"ro", "noatime"});
  fuse::FinishFuseOptions(&c);
  CHECK(fuse::JoinFuseOptions(c) == "ro,noatime,fsname=lab:scratch,subtype=cvfs,allow_other");

  for (const char* bad : {"bogus", "attr_timeout=-1", "attr_timeout=x", "max_write=1",
                          "max_write=4194304", "etcd", "etcd=", "fsname=x", "max_threads=0"}) {
    MountConfig x;
    INFO(bad);
    CHECK(fuse::ApplyMountOptions({bad}, &x).code() == ErrorCode::kInvalidArgument);
  }

  bool fake = true;
  auto args = fuse::TranslateHelperArgs(
      {"lab:scratch", "/mnt/x", "-n", "-o", "rw,etcd=http://e:2379", "-sv"}, &fake);
  REQUIRE(args.ok());
  CHECK_FALSE(fake);
  CHECK(*args == std::vector<std::string>{"lab:scratch", "/mnt/x", "-o", "rw,etcd=http://e:2379"});
  args = fuse::TranslateHelperArgs({"lab:scratch", "/mnt/x", "-f", "-orw", "-t", "cvfs"}, &fake);
  REQUIRE(args.ok());
  CHECK(fake);
  CHECK(*args == std::vector<std::string>{"lab:scratch", "/mnt/x", "-o", "rw"});
  CHECK_FALSE(fuse::TranslateHelperArgs({"lab:scratch"}, &fake).ok());
  CHECK_FALSE(fuse::TranslateHelperArgs({"a:b", "/m", "-x"}, &fake).ok());
}

TEST_CASE("cvfs-mount refuses bad arguments with exit code 2", "[fuse]") {
  std::string out;
  CHECK(RunCommand(BinPath("cvfs-mount") + " --help", &out) == 0);
  CHECK(out.find("allow_other") != std::string::npos);
  CHECK(RunCommand(BinPath("cvfs-mount") + " nocolon /tmp", &out) == 2);
  CHECK(out.find("CLUSTER:FS") != std::string::npos);
  CHECK(RunCommand(BinPath("cvfs-mount") + " a:b /nonexistent-cvfs-dir", &out) == 2);
  CHECK(RunCommand(BinPath("cvfs-mount") + " a:b /tmp -o bogus_option", &out) == 2);
  CHECK(out.find("bogus_option") != std::string::npos);
  CHECK(RunCommand(BinPath("mount.cvfs") + " a:b", &out) == 2);
  CHECK(RunCommand(BinPath("mount.cvfs") + " a:b /tmp -f -o rw", &out) == 0);  // fake
}

TEST_CASE("a FUSE mount of a 4+2 filesystem on 6 nodes", "[fuse][cluster]") {
  std::string why;
  if (!FuseUsable(&why)) {
    WARN("SKIPPED: " << why);
    return;
  }
  ClusterOptions options;
  options.nodes = 6;
  auto started = StartWithFilesystem(options, "fusefs", "4+2", "64K");
  INFO(started.status().ToString());
  REQUIRE(started.ok());
  TestCluster& cluster = *started->cluster;

  auto tmp = MakeTempDir("fuse_test");
  REQUIRE(tmp.ok());
  const std::string base = *tmp;
  chmod(base.c_str(), 0755);  // uid 1000 crosses it to the allow_other mount
  const std::string mnt_a = base + "/a";
  const std::string mnt_b = base + "/b";
  const std::string mnt_c = base + "/c";
  const std::string reference = base + "/reference";
  for (const auto& d : {mnt_a, mnt_b, mnt_c, reference}) REQUIRE(mkdir(d.c_str(), 0755) == 0);

  ForegroundMount a(cluster, "fusefs", mnt_a, "", base + "/mount-a.log");
  INFO(a.error());
  REQUIRE(a.error().empty());
  ForegroundMount b(cluster, "fusefs", mnt_b, "allow_other", base + "/mount-b.log");
  INFO(b.error());
  REQUIRE(b.error().empty());

  // statfs sees FUSE (the kernel's magic) and the mount answers.
  {
    struct statfs st {};
    REQUIRE(statfs(mnt_a.c_str(), &st) == 0);
    CHECK(st.f_type == 0x65735546);  // FUSE_SUPER_MAGIC
    CHECK(st.f_namelen == 255);
  }

  // Files of several sizes, read back byte for byte, on the same and the other mount.
  {
    const std::vector<size_t> sizes = {
        0, 1, 4095, 4096, 65536 + 3, 300000, 1 << 20, 5 * (1 << 20), 5 * (1 << 20) + 12345};
    for (size_t i = 0; i < sizes.size(); ++i) {
      const std::string name = "/file" + std::to_string(i);
      const auto data = Bytes(100 + i, sizes[i]);
      INFO("size " << sizes[i]);
      Status w = WriteFile(mnt_a + name, data);
      INFO(w.ToString());
      REQUIRE(w.ok());
      auto same = ReadFile(mnt_a + name);
      REQUIRE(same.ok());
      CHECK(FirstDifference(*same, data) == -1);
      struct stat st {};
      REQUIRE(stat((mnt_a + name).c_str(), &st) == 0);
      CHECK(static_cast<size_t>(st.st_size) == sizes[i]);
    }
    std::this_thread::sleep_for(kCacheExpiry);
    for (size_t i = 0; i < sizes.size(); ++i) {
      INFO("other mount, size " << sizes[i]);
      auto other = ReadFile(mnt_b + "/file" + std::to_string(i));
      REQUIRE(other.ok());
      CHECK(other->size() == sizes[i]);
      CHECK(FirstDifference(*other, Bytes(100 + i, sizes[i])) == -1);
    }
    // Overwrite inside, extend, truncate through the mount.
    const std::string f = mnt_a + "/file7";
    const int fd = open(f.c_str(), O_RDWR);
    REQUIRE(fd >= 0);
    const auto patch = Bytes(7, 200000);
    CHECK(pwrite(fd, patch.data(), patch.size(), 1000000) == static_cast<ssize_t>(patch.size()));
    CHECK(ftruncate(fd, 3 << 20) == 0);
    CHECK(close(fd) == 0);
    auto expect = Bytes(100 + 7, 5 * (1 << 20));
    std::copy(patch.begin(), patch.end(), expect.begin() + 1000000);
    expect.resize(3 << 20);
    auto back = ReadFile(f);
    REQUIRE(back.ok());
    CHECK(FirstDifference(*back, expect) == -1);

    // Two descriptors on one node: a reader opened before a writer extends the file reads
    // what the writer wrote (one page cache, one size per inode on a node).
    const std::string g = mnt_a + "/two-fds";
    REQUIRE(WriteFile(g, Bytes(8, 100)).ok());
    const int reader = open(g.c_str(), O_RDONLY);
    const int writer = open(g.c_str(), O_WRONLY);
    REQUIRE(reader >= 0);
    REQUIRE(writer >= 0);
    const auto more = Bytes(9, 10000);
    CHECK(pwrite(writer, more.data(), more.size(), 50) == static_cast<ssize_t>(more.size()));
    std::vector<std::byte> got(20000);
    CHECK(pread(reader, got.data(), got.size(), 0) == 10050);
    struct stat st {};
    CHECK(fstat(reader, &st) == 0);
    CHECK(st.st_size == 10050);
    CHECK(close(writer) == 0);
    CHECK(close(reader) == 0);

    // A write after truncating down through the same descriptor: the size stays where the
    // truncation and the last write put it (a commit of the handle's earlier end would
    // grow it back).
    const int t = open(g.c_str(), O_RDWR);
    REQUIRE(t >= 0);
    CHECK(ftruncate(t, 10) == 0);
    CHECK(pwrite(t, "z", 1, 0) == 1);
    CHECK(close(t) == 0);
    std::this_thread::sleep_for(kCacheExpiry);
    CHECK(stat((mnt_b + "/two-fds").c_str(), &st) == 0);
    CHECK(st.st_size == 10);
  }

  // mkdir and readdir of 1000 entries.
  {
    const std::string dir = mnt_a + "/many";
    REQUIRE(mkdir(dir.c_str(), 0755) == 0);
    std::set<std::string> expect;
    for (int i = 0; i < 1000; ++i) {
      const std::string name = "entry-" + std::to_string(i);
      expect.insert(name);
      if (i % 2 == 0) {
        REQUIRE(mkdir((dir + "/" + name).c_str(), 0755) == 0);
      } else {
        const int fd = open((dir + "/" + name).c_str(), O_CREAT | O_EXCL | O_WRONLY, 0644);
        REQUIRE(fd >= 0);
        close(fd);
      }
    }
    CHECK(ListDir(dir) == expect);
    struct stat st {};
    REQUIRE(stat(dir.c_str(), &st) == 0);
    CHECK(st.st_nlink == 2 + 500);
    std::this_thread::sleep_for(kCacheExpiry);
    CHECK(ListDir(mnt_b + "/many") == expect);
  }

  // rename and unlink, and the other mount sees them after the cache timeouts.
  {
    REQUIRE(WriteFile(mnt_a + "/old", Bytes(1, 1000)).ok());
    REQUIRE(mkdir((mnt_a + "/d1").c_str(), 0755) == 0);
    std::this_thread::sleep_for(kCacheExpiry);
    REQUIRE(Exists(mnt_b + "/old"));  // b has it cached now
    REQUIRE(rename((mnt_a + "/old").c_str(), (mnt_a + "/d1/new").c_str()) == 0);
    CHECK_FALSE(Exists(mnt_a + "/old"));
    CHECK(Exists(mnt_a + "/d1/new"));
    CHECK(rename((mnt_a + "/d1").c_str(), (mnt_a + "/d2").c_str()) == 0);
    REQUIRE(WriteFile(mnt_b + "/from-b", Bytes(2, 5000)).ok());
    std::this_thread::sleep_for(kCacheExpiry);
    CHECK_FALSE(Exists(mnt_b + "/old"));
    CHECK_FALSE(Exists(mnt_b + "/d1"));
    CHECK(Exists(mnt_b + "/d2/new"));
    auto from_b = ReadFile(mnt_a + "/from-b");
    REQUIRE(from_b.ok());
    CHECK(FirstDifference(*from_b, Bytes(2, 5000)) == -1);
    CHECK(unlink((mnt_b + "/from-b").c_str()) == 0);
    CHECK(unlink((mnt_a + "/d2/new").c_str()) == 0);
    CHECK(rmdir((mnt_a + "/d2").c_str()) == 0);
    std::this_thread::sleep_for(kCacheExpiry);
    CHECK_FALSE(Exists(mnt_a + "/from-b"));
    CHECK_FALSE(Exists(mnt_b + "/d2"));
    // RENAME_EXCHANGE is not supported; RENAME_NOREPLACE is.
    REQUIRE(WriteFile(mnt_a + "/x", Bytes(3, 10)).ok());
    REQUIRE(WriteFile(mnt_a + "/y", Bytes(4, 10)).ok());
    CHECK(renameat2(AT_FDCWD, (mnt_a + "/x").c_str(), AT_FDCWD, (mnt_a + "/y").c_str(),
                    RENAME_NOREPLACE) == -1);
    CHECK(errno == EEXIST);
    CHECK(renameat2(AT_FDCWD, (mnt_a + "/x").c_str(), AT_FDCWD, (mnt_a + "/y").c_str(),
                    RENAME_EXCHANGE) == -1);
    CHECK(errno == EINVAL);
    CHECK(mknod((mnt_a + "/fifo").c_str(), S_IFIFO | 0644, 0) == -1);
    CHECK(errno == EPERM);
  }

  // Identities: through the allow_other mount uid 1000 is refused a root 0600 file and
  // creates in a 0777 directory, as itself. Without allow_other the kernel refuses it all.
  {
    // Else every refusal below could come from the local path to the mount ($TMPDIR 0700).
    INFO("uid 1000 must be able to reach " << mnt_b << " (check the modes of $TMPDIR)");
    REQUIRE(RunAsUser([&] {
              struct stat st;
              return stat(mnt_b.c_str(), &st) == 0 ? 0 : errno;
            }) == 0);
    REQUIRE(WriteFile(mnt_b + "/secret", Bytes(5, 100), 0600).ok());
    REQUIRE(chmod((mnt_b + "/secret").c_str(), 0600) == 0);
    REQUIRE(mkdir((mnt_b + "/shared").c_str(), 0777) == 0);
    REQUIRE(chmod((mnt_b + "/shared").c_str(), 0777) == 0);
    const std::string secret = mnt_b + "/secret";
    const std::string mine = mnt_b + "/shared/by-user";
    const std::string on_a = mnt_a + "/shared";
    CHECK(RunAsUser([&] {
            const int fd = open(secret.c_str(), O_RDONLY);
            return fd >= 0 ? 0 : errno;
          }) == EACCES);
    CHECK(RunAsUser([&] {
            const int fd = open(mine.c_str(), O_CREAT | O_EXCL | O_WRONLY, 0644);
            if (fd < 0) return errno;
            if (write(fd, "hello", 5) != 5) return errno;
            return close(fd) == 0 ? 0 : errno;
          }) == 0);
    CHECK(RunAsUser([&] {
            struct stat st;
            return stat(on_a.c_str(), &st) == 0 ? 0 : errno;
          }) == EACCES);
    struct stat st {};
    REQUIRE(stat(mine.c_str(), &st) == 0);
    CHECK(st.st_uid == kUser);
    CHECK(st.st_gid == kUserGroup);
    CHECK(st.st_size == 5);
    CHECK(RunAsUser([&] { return access(secret.c_str(), R_OK) == 0 ? 0 : errno; }) == EACCES);
  }

  // The POSIX suite against the allow_other mount, ext4 (/tmp) as the reference.
  {
    const std::string target = mnt_b + "/sub";
    REQUIRE(mkdir(target.c_str(), 0755) == 0);
    REQUIRE(chmod(target.c_str(), 0755) == 0);
    std::string out;
    const int rc = RunCommand(
        BinPath("posix_suite") + " --reference " + reference + " --target " + target, &out);
    INFO(out);
    CHECK(rc == 0);
    std::printf("posix_suite on the mount (exit %d):\n%s\n", rc, out.c_str());
  }

  // fio with crc32c verification, sequential and random (issue acceptance), when installed.
  if (RunCommand("command -v fio >/dev/null") == 0) {
    const std::string dir = mnt_a + "/fio";
    REQUIRE(mkdir(dir.c_str(), 0755) == 0);
    const std::string common = " --directory=" + dir +
                               " --ioengine=psync --fallocate=none --verify=crc32c"
                               " --do_verify=1 --verify_fatal=1 --end_fsync=1 --numjobs=1";
    std::string out;
    int rc = RunCommand("fio --name=seq --rw=write --bs=1M --size=32M" + common, &out);
    INFO(out);
    CHECK(rc == 0);
    rc = RunCommand("fio --name=rand --rw=randwrite --bs=4k --size=4M" + common, &out);
    INFO(out);
    CHECK(rc == 0);
  } else {
    WARN("fio is not installed: fio verification skipped (scripts/install-deps installs it)");
  }

  // Daemon mode and the mount(8) helper: the command returns once mounted; fusermount3 -u.
  {
    const UnmountAtExit guard{mnt_c};
    std::string out;
    // Quoted for the shell: the provider "tcp;ofi_rxm" has a ';'.
    const std::string opts =
        "'" + ClusterAccessOptions(cluster) + ",log_file=" + base + "/daemon.log'";
    const std::string spec = cluster.cluster_name() + ":fusefs";
    int rc = RunCommand(
        BinPath("cvfs-mount") + " " + spec + " " + mnt_c + " -o " + opts + " --json-status", &out);
    INFO(out);
    REQUIRE(rc == 0);
    CHECK(out.find("\"mounted\":true") != std::string::npos);
    CHECK(MountType(mnt_c) == "fuse.cvfs");
    CHECK(Exists(mnt_c + "/many/entry-999"));
    CHECK(RunCommand("fusermount3 -u " + mnt_c, &out) == 0);
    CHECK(WaitMountType(mnt_c, false, std::chrono::seconds(10)));

    rc = RunCommand(
        BinPath("mount.cvfs") + " " + spec + " " + mnt_c + " -n -o rw,_netdev -o " + opts, &out);
    INFO(out);
    REQUIRE(rc == 0);
    CHECK(MountType(mnt_c) == "fuse.cvfs");
    CHECK(Exists(mnt_c + "/file8"));
    CHECK(RunCommand("umount " + mnt_c, &out) == 0);
    CHECK(WaitMountType(mnt_c, false, std::chrono::seconds(10)));

    // A filesystem that does not exist: the error reaches the caller, exit 1, no mount.
    rc = RunCommand(
        BinPath("cvfs-mount") + " " + cluster.cluster_name() + ":nosuchfs " + mnt_c + " -o " + opts,
        &out);
    CHECK(rc == 1);
    CHECK(out.find("nosuchfs") != std::string::npos);
    CHECK(MountType(mnt_c).empty());
  }

  // kill -9 of a mount: accesses fail (no hang), umount -l cleans up.
  {
    ForegroundMount c(cluster, "fusefs", mnt_c, "", base + "/mount-c.log");
    REQUIRE(c.error().empty());
    c.process().Kill();
    std::string out;
    const int rc = RunCommand("timeout 20 stat " + mnt_c + "/file1", &out);
    INFO(out);
    CHECK(rc != 124);  // timeout(1)'s code: it hung
    CHECK(RunCommand("umount -l " + mnt_c, &out) == 0);
    CHECK(WaitMountType(mnt_c, false, std::chrono::seconds(10)));
  }

  // A clean unmount ends the foreground process with exit code 0.
  {
    std::string out;
    CHECK(RunCommand("fusermount3 -u " + mnt_a, &out) == 0);
    CHECK(a.process().WaitExit(std::chrono::seconds(20)));
    REQUIRE(a.process().wait_status().has_value());
    CHECK(WIFEXITED(*a.process().wait_status()));
    CHECK(WEXITSTATUS(*a.process().wait_status()) == 0);
  }
  CHECK(RunCommand("fusermount3 -u " + mnt_b) == 0);
  if (WaitMountType(mnt_b, false, std::chrono::seconds(10)) && MountType(mnt_a).empty() &&
      MountType(mnt_c).empty() && getenv("CVFS_KEEP_TEST_DIR") == nullptr) {
    std::filesystem::remove_all(base);
  }
}
