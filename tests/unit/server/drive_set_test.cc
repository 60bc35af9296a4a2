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
