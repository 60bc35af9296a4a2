// Idle cost of a cvfsd with default settings, measured on real processes: a converged
// backend shares the node with jobs. Targets: under 1% of a core and under 256 MiB
// resident. The figures are printed on every run; the assertions use wider margins (5% of
// a core) so a noisy machine does not fail them, while a busy-polling progress thread
// (~100% of a core) or a runaway allocation does.
#include <unistd.h>

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>

#include "tests/cluster/cluster.h"

namespace cvfs::testing {
namespace {

using namespace std::chrono_literals;

// utime + stime of `pid` in seconds (all threads).
double CpuSeconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // Fields after the command name "(...)": state is field 3; utime 14, stime 15.
  const auto close = content.rfind(')');
  std::istringstream fields(content.substr(close + 2));
  std::string skip;
  for (int i = 3; i < 14; ++i) fields >> skip;
  unsigned long long utime = 0, stime = 0;
  fields >> utime >> stime;
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

long RssKiB(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

TEST_CASE("idle cvfsd CPU and memory") {
  ClusterOptions opts;
  opts.nodes = 3;
  opts.extra_config = {};  // default settings apart from the harness's loopback layout
  auto cluster = TestCluster::Start(opts);
  REQUIRE(cluster.ok());
  std::this_thread::sleep_for(2s);  // let start-up work settle

  constexpr double kWindowS = 10.0;
  std::vector<double> before;
  for (int i = 0; i < (*cluster)->size(); ++i) before.push_back(CpuSeconds((*cluster)->pid(i)));
  const auto t0 = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(kWindowS));
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  for (int i = 0; i < (*cluster)->size(); ++i) {
    const pid_t pid = (*cluster)->pid(i);
    const double cpu_pct = 100.0 * (CpuSeconds(pid) - before[i]) / elapsed;
    const long rss_kib = RssKiB(pid);
    std::printf("idle cvfsd %s: CPU %.2f%% of a core over %.1f s, RSS %.1f MiB\n",
                (*cluster)->node_id(i).c_str(), cpu_pct, elapsed, rss_kib / 1024.0);
    CHECK(cpu_pct < 5.0);
    CHECK(rss_kib > 0);
    CHECK(rss_kib < 256 * 1024);
  }
}

}  // namespace
}  // namespace cvfs::testing
