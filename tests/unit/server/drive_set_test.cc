// DriveSet: drives must exist and be writable, are labelled for one node, and report
// capacity measured by statvfs.
#include <catch2/catch.hpp>

#include <sys/statvfs.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "server/drive_set.h"

namespace cvfs::server {
namespace {

std::string FreshDir() {
  char tmpl[] = "/tmp/cvfs-drives-XXXXXX";
  REQUIRE(::mkdtemp(tmpl) != nullptr);
  return tmpl;
}

TEST_CASE("drives are measured and labelled") {
  const std::string root = FreshDir();
  std::filesystem::create_directories(root + "/d0");
  std::filesystem::create_directories(root + "/d1");
  auto set = DriveSet::Open({root + "/d0", root + "/d1"}, "c1", "n1");
  REQUIRE(set.ok());
  struct statvfs fs {};
  REQUIRE(::statvfs(root.c_str(), &fs) == 0);
  const uint64_t capacity = static_cast<uint64_t>(fs.f_blocks) * fs.f_frsize;
  const auto drives = (*set)->Snapshot();
  REQUIRE(drives.size() == 2);
  CHECK(drives[0].path == root + "/d0");
  CHECK(drives[0].capacity_bytes == capacity);
  CHECK(drives[0].free_bytes > 0);
  CHECK(drives[0].free_bytes <= capacity);
  CHECK((*set)->capacity_bytes() == 2 * capacity);
  CHECK(std::filesystem::exists(root + "/d0/.cvfs-drive"));
  CHECK((*set)->Refresh().ok());

  // The same drives for another node: refused.
  auto stolen = DriveSet::Open({root + "/d1"}, "c1", "n2");
  REQUIRE_FALSE(stolen.ok());
  CHECK(stolen.status().code() == ErrorCode::kConfigError);
  CHECK(stolen.status().message().find("'n1'") != std::string::npos);
  std::filesystem::remove_all(root);
}

TEST_CASE("missing or non-directory drives are configuration errors") {
  const std::string root = FreshDir();
  auto missing = DriveSet::Open({root + "/nope"}, "c1", "n1");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.status().code() == ErrorCode::kConfigError);
  CHECK(missing.status().message().find("does not exist") != std::string::npos);

  std::ofstream(root + "/file") << "x";
  auto file = DriveSet::Open({root + "/file"}, "c1", "n1");
  CHECK(file.status().code() == ErrorCode::kConfigError);
  std::filesystem::remove_all(root);
}

}  // namespace
}  // namespace cvfs::server

namespace cvfs::server {
namespace {

TEST_CASE("Add labels and appends a drive; refuses duplicates and unusable paths") {
  const std::string root = FreshDir();
  std::filesystem::create_directories(root + "/d0");
  std::filesystem::create_directories(root + "/d1");
  auto set = DriveSet::Open({root + "/d0"}, "c1", "n1");
  REQUIRE(set.ok());
  auto added = (*set)->Add(root + "/d1");
  REQUIRE(added.ok());
  CHECK(added->index == 1);
  CHECK(added->drive.path == root + "/d1");
  CHECK(added->drive.capacity_bytes > 0);
  CHECK(std::filesystem::exists(root + "/d1/.cvfs-drive"));
  REQUIRE((*set)->Snapshot().size() == 2);
  CHECK((*set)->Snapshot()[1] == added->drive);

  CHECK((*set)->Add(root + "/d1").status().code() == ErrorCode::kAlreadyExists);
  CHECK((*set)->Add(root + "/d0").status().code() == ErrorCode::kAlreadyExists);
  // The same directory under another name.
  CHECK((*set)->Add(root + "/d1/.").status().code() == ErrorCode::kAlreadyExists);
  CHECK((*set)->Add("relative/d2").status().code() == ErrorCode::kInvalidArgument);
  CHECK((*set)->Add(root + "/missing").status().code() == ErrorCode::kConfigError);
  std::ofstream(root + "/file") << "x";
  CHECK((*set)->Add(root + "/file").status().code() == ErrorCode::kConfigError);
  // Labelled for another node.
  std::filesystem::create_directories(root + "/other");
  REQUIRE(DriveSet::Open({root + "/other"}, "c1", "n9").ok());
  CHECK((*set)->Add(root + "/other").status().code() == ErrorCode::kConfigError);
  CHECK((*set)->Snapshot().size() == 2);
  std::filesystem::remove_all(root);
}

TEST_CASE("added drives survive a restart and follow the configured ones") {
  const std::string root = FreshDir();
  const std::string state = root + "/state";
  for (const char* d : {"/d0", "/d1", "/d2", "/state"}) {
    std::filesystem::create_directories(root + d);
  }
  {
    auto set = DriveSet::Open({root + "/d0"}, "c1", "n1", state);
    REQUIRE(set.ok());
    CHECK((*set)->Snapshot().size() == 1);
    REQUIRE((*set)->Add(root + "/d2").ok());
    REQUIRE((*set)->Add(root + "/d1").ok());
    CHECK(std::filesystem::exists(state + "/" + kAddedDrivesFile));
  }
  {
    auto set = DriveSet::Open({root + "/d0"}, "c1", "n1", state);
    REQUIRE(set.ok());
    const auto drives = (*set)->Snapshot();
    REQUIRE(drives.size() == 3);
    CHECK(drives[0].path == root + "/d0");
    CHECK(drives[1].path == root + "/d2");  // in the order they were added
    CHECK(drives[2].path == root + "/d1");
  }
  {
    // The config now lists d2 itself: not counted twice.
    auto set = DriveSet::Open({root + "/d0", root + "/d2"}, "c1", "n1", state);
    REQUIRE(set.ok());
    CHECK((*set)->Snapshot().size() == 3);
  }
  {
    // Without a state dir nothing is loaded.
    auto set = DriveSet::Open({root + "/d0"}, "c1", "n1");
    REQUIRE(set.ok());
    CHECK((*set)->Snapshot().size() == 1);
  }
  // A corrupt list is a configuration error, not silently fewer drives.
  std::ofstream(state + "/" + kAddedDrivesFile, std::ios::trunc) << "{not json";
  auto corrupt = DriveSet::Open({root + "/d0"}, "c1", "n1", state);
  CHECK(corrupt.status().code() == ErrorCode::kConfigError);
  // A drive index the node used before (its serial is known) whose directory vanished is
  // opened failed, not refused: the node still serves its other drives.
  std::ofstream(state + "/" + kAddedDrivesFile, std::ios::trunc)
      << R"({"format":1,"drives":[")" << root << R"(/gone"]})";
  auto gone = DriveSet::Open({root + "/d0"}, "c1", "n1", state);
  REQUIRE(gone.ok());
  CHECK((*gone)->Snapshot()[1].state == DriveState::kFailed);
  std::filesystem::remove_all(root);
}

TEST_CASE("drive probe, failure at start, and replacement") {
  const std::string root = FreshDir();
  const std::string state = root + "/state";
  for (const char* d : {"/d0", "/d1", "/new", "/state"}) {
    std::filesystem::create_directories(root + d);
  }
  std::string serial1;
  {
    auto set = DriveSet::Open({root + "/d0", root + "/d1"}, "c1", "n1", state);
    REQUIRE(set.ok());
    const auto drives = (*set)->Snapshot();
    REQUIRE(drives.size() == 2);
    CHECK(drives[0].serial.size() == 16);
    CHECK(drives[0].serial != drives[1].serial);
    serial1 = drives[1].serial;
    CHECK((*set)->Probe(1000).empty());
    // The label goes (the drive's mount vanished): the probe fails it, for good.
    std::filesystem::remove(root + "/d1/.cvfs-drive");
    CHECK((*set)->Probe(2000) == std::vector<size_t>{1});
    CHECK((*set)->Snapshot()[1].state == DriveState::kFailed);
    CHECK((*set)->Snapshot()[1].failed_ms == 2000);
    CHECK((*set)->Probe(3000).empty());
    CHECK((*set)->Refresh().ok());
  }
  {
    // At start the bare directory is not labelled as a new drive: it is failed.
    auto set = DriveSet::Open({root + "/d0", root + "/d1"}, "c1", "n1", state);
    REQUIRE(set.ok());
    CHECK((*set)->Snapshot()[1].state == DriveState::kFailed);
    CHECK_FALSE(std::filesystem::exists(root + "/d1/.cvfs-drive"));
    CHECK((*set)->Replace(1, "relative").status().code() == ErrorCode::kInvalidArgument);
    CHECK((*set)->Replace(5, root + "/new").status().code() == ErrorCode::kInvalidArgument);
    CHECK((*set)->Replace(1, root + "/d0").status().code() == ErrorCode::kAlreadyExists);
    auto replaced = (*set)->Replace(1, root + "/new");
    REQUIRE(replaced.ok());
    CHECK(replaced->drive.serial != serial1);
    CHECK((*set)->Snapshot()[1].state == DriveState::kOk);
    CHECK((*set)->Snapshot()[1].path == root + "/new");
    // A labelled directory is not a fresh drive.
    CHECK((*set)->Replace(0, root + "/new").status().code() != ErrorCode::kOk);
  }
  {
    // The replacement is kept across restarts, with its serial.
    auto set = DriveSet::Open({root + "/d0", root + "/d1"}, "c1", "n1", state);
    REQUIRE(set.ok());
    CHECK((*set)->Snapshot()[1].path == root + "/new");
    CHECK((*set)->Snapshot()[1].state == DriveState::kOk);
  }
  std::filesystem::remove_all(root);
}

}  // namespace
}  // namespace cvfs::server
