// The scrubber's pieces that need no cluster: the bandwidth throttle on a manual clock, the
// scrub keys of the cvfsd config, and the admin handlers of `cvfs scrub`. The scrubber itself
// runs against real cvfsd processes in tests/cluster/scrub_test.cc.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>

#include <nlohmann/json.hpp>

#include "core/clock.h"
#include "core/daemon_config.h"
#include "server/admin_service.h"
#include "server/data/scrubber.h"

namespace cvfs::server {
namespace {

using std::chrono::milliseconds;

TEST_CASE("ScrubThrottle paces reads to the bandwidth and banks no idle time", "[scrub]") {
  ManualClock clock;
  ScrubThrottle throttle(clock, 1 << 20);  // 1 MiB/s
  CHECK(throttle.Charge(0) == Duration::zero());
  CHECK(throttle.Charge(512 << 10) == milliseconds(500));
  // The reader slept as told: the next 256 KiB cost 250 ms more.
  clock.Advance(milliseconds(500));
  CHECK(throttle.Charge(256 << 10) == milliseconds(250));
  // It did not sleep: the debt adds up.
  CHECK(throttle.Charge(256 << 10) == milliseconds(500));
  // A long pause (a slow member) is not made up for by a burst afterwards.
  clock.Advance(std::chrono::seconds(10));
  CHECK(throttle.Charge(1 << 20) == std::chrono::seconds(1));
  // 50 MiB/s (the default): a 128 KiB cell costs 2.5 ms.
  ScrubThrottle fast(clock, 50ull << 20);
  CHECK(fast.Charge(128 << 10) == std::chrono::microseconds(2500));
  // No limit.
  ScrubThrottle unlimited(clock, 0);
  CHECK(unlimited.Charge(1ull << 40) == Duration::zero());
}

TEST_CASE("cvfsd config: scrub.bandwidth_mib and scrub.interval_s", "[scrub]") {
  char path[] = "/tmp/cvfs-scrub-config-XXXXXX";
  const int fd = ::mkstemp(path);
  REQUIRE(fd >= 0);
  ::close(fd);
  auto load = [&](const std::string& text, DaemonConfig* config) {
    std::ofstream(path) << "cluster = \"c\"\nnode_id = \"n1\"\n" << text;
    std::vector<std::string> warnings;
    Status st = LoadDaemonConfigFile(path, config, &warnings);
    CHECK(warnings.empty());
    return st.ok() ? config->Validate() : st;
  };
  DaemonConfig defaults;
  REQUIRE(load("", &defaults).ok());
  CHECK(defaults.scrub_bandwidth_mib == 50);
  CHECK(defaults.scrub_interval_s == 86400);
  DaemonConfig set;
  REQUIRE(load("[scrub]\nbandwidth_mib = 0\ninterval_s = 3600\n", &set).ok());
  CHECK(set.scrub_bandwidth_mib == 0);
  CHECK(set.scrub_interval_s == 3600);
  DaemonConfig bad;
  Status st = load("[scrub]\nbandwidth_mib = -1\n", &bad);
  CHECK(st.code() == ErrorCode::kConfigError);
  CHECK(std::string(st.message()).find("scrub.bandwidth_mib") != std::string::npos);
  DaemonConfig bad_interval;
  CHECK(load("[scrub]\ninterval_s = -5\n", &bad_interval).code() == ErrorCode::kConfigError);
  std::remove(path);
}

net::RpcContext Caller(uint32_t uid, bool authenticated = true) {
  net::RpcContext context;
  context.peer_name = "cvfs-admin";
  context.peer_uid = uid;
  context.authenticated = authenticated;
  return context;
}

TEST_CASE("admin: scrub status for any authenticated caller, scrub start for root", "[scrub]") {
  int starts = 0;
  AdminServiceHooks hooks;
  hooks.scrub_status = [] { return std::string(R"({"pass": 2})"); };
  hooks.scrub_start = [&starts] { return uint64_t(3 + starts++); };
  auto status = HandleScrubStatus(hooks, Caller(1000));
  REQUIRE(status.ok());
  CHECK(*status == R"({"pass": 2})");
  CHECK(HandleScrubStatus(hooks, Caller(0, false)).status().code() == ErrorCode::kPermissionDenied);
  CHECK(HandleScrubStart(hooks, Caller(1000)).status().code() == ErrorCode::kPermissionDenied);
  CHECK(starts == 0);
  auto started = HandleScrubStart(hooks, Caller(0));
  REQUIRE(started.ok());
  CHECK(nlohmann::json::parse(*started)["pass"] == 3);
  AdminServiceHooks none;
  CHECK(HandleScrubStatus(none, Caller(0)).status().code() == ErrorCode::kNotSupported);
  CHECK(HandleScrubStart(none, Caller(0)).status().code() == ErrorCode::kNotSupported);
}

}  // namespace
}  // namespace cvfs::server
