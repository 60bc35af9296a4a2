// StateDir: exclusive lock per directory, identity checked on every start.
#include <catch2/catch.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "server/state_dir.h"

namespace cvfs::server {
namespace {

std::string FreshDir() {
  char tmpl[] = "/tmp/cvfs-statedir-XXXXXX";
  REQUIRE(::mkdtemp(tmpl) != nullptr);
  return tmpl;
}

TEST_CASE("state dir is created, locked and refuses a second holder") {
  const std::string root = FreshDir();
  const std::string dir = root + "/state";
  auto first = StateDir::Open(dir, "c1", "n1");
  REQUIRE(first.ok());
  CHECK((*first)->first_start());
  CHECK(std::filesystem::is_directory(dir));

  // flock is per open file description: a second open in this process conflicts too.
  auto second = StateDir::Open(dir, "c1", "n1");
  REQUIRE_FALSE(second.ok());
  CHECK(second.status().code() == ErrorCode::kConflict);
  CHECK(second.status().message().find(std::to_string(::getpid())) != std::string::npos);

  first->reset();  // releases the lock
  auto again = StateDir::Open(dir, "c1", "n1");
  REQUIRE(again.ok());
  CHECK_FALSE((*again)->first_start());
  std::filesystem::remove_all(root);
}

TEST_CASE("a lock held by a killed process does not survive it") {
  const std::string root = FreshDir();
  const std::string dir = root + "/state";
  int ready[2];
  REQUIRE(::pipe(ready) == 0);
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    auto held = StateDir::Open(dir, "c1", "n1");
    char b = held.ok() ? 1 : 0;
    (void)!::write(ready[1], &b, 1);
    ::pause();
    ::_exit(0);
  }
  char b = 0;
  REQUIRE(::read(ready[0], &b, 1) == 1);
  REQUIRE(b == 1);
  CHECK(StateDir::Open(dir, "c1", "n1").status().code() == ErrorCode::kConflict);
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  CHECK(StateDir::Open(dir, "c1", "n1").ok());
  std::filesystem::remove_all(root);
}

TEST_CASE("a state dir of another node or cluster is refused") {
  const std::string root = FreshDir();
  const std::string dir = root + "/state";
  REQUIRE(StateDir::Open(dir, "c1", "n1").ok());
  auto other_node = StateDir::Open(dir, "c1", "n2");
  REQUIRE_FALSE(other_node.ok());
  CHECK(other_node.status().code() == ErrorCode::kConfigError);
  CHECK(other_node.status().message().find("'n1'") != std::string::npos);
  CHECK(StateDir::Open(dir, "c2", "n1").status().code() == ErrorCode::kConfigError);

  // A damaged identity file is reported, not overwritten.
  std::ofstream(dir + "/identity", std::ios::trunc) << "{not json";
  auto damaged = StateDir::Open(dir, "c1", "n1");
  CHECK(damaged.status().code() == ErrorCode::kConfigError);
  std::filesystem::remove_all(root);
}

}  // namespace
}  // namespace cvfs::server
