// Unmodified HDF5 and PnetCDF programs (mpi-io/examples) run through the MPI-IO adapter
// (libcvfs_mpiio.so, LD_PRELOADed) against a real 6-node cluster with real mpirun; their
// files are then read by h5dump and ncmpidump through a FUSE mount of the same filesystem.
//   - HDF5 names its file `cvfs:/...` (straight to the adapter);
//   - PnetCDF also opens the file with POSIX calls to learn its format, so it names it by
//     the FUSE mount's path with CVFS_MPIIO_PREFIX set to the mount point: MPI-IO goes to
//     the adapter, the format check through the mount.
// The adapter's log line at open (`mpiio.open`, CVFS_MPIIO_LOG=1) proves the files went
// through it.
#include <catch2/catch.hpp>

#include <filesystem>
#include <string>

#include "tests/cluster/datapath_support.h"
#include "tests/cluster/fuse_mount.h"

using namespace cvfs;
using namespace cvfs::testing;

namespace {

// `text` with every ' closed, escaped and reopened, for a '...' shell word.
std::string Quoted(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out;
}

// `mpirun` of `program args` on `ranks` ranks with the adapter preloaded; its exit code,
// its output (stdout and stderr) in *out and in the file `log`.
int RunWithAdapter(const TestCluster& cluster, const std::string& fs, int ranks,
                   const std::string& program_and_args, const std::string& extra_env,
                   const std::string& log, std::string* out) {
  const std::string command =
      "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 timeout 300 mpirun "
      "--oversubscribe -np " +
      std::to_string(ranks) + " -x LD_PRELOAD=" + std::string(CVFS_BIN_DIR) +
      "/../lib/libcvfs_mpiio.so -x CVFS_MPIIO_FS=" + cluster.cluster_name() + ":" + fs +
      " -x CVFS_ETCD=" + cluster.etcd_endpoint() +
      " -x CVFS_MUNGE_SOCKET=" + cluster.munge_socket() + " -x CVFS_PROVIDER='" +
      cluster.provider() + "' -x CVFS_MPIIO_LOG=1" + extra_env + " " + program_and_args +
      " 2>&1 | tee " + log + "; exit ${PIPESTATUS[0]}";
  return RunCommand("bash -c '" + Quoted(command) + "'", out);
}

}  // namespace

TEST_CASE(
    "HDF5 and PnetCDF programs write through the adapter; h5dump and ncmpidump read "
    "through the mount",
    "[mpiio]") {
  ClusterOptions options;
  options.nodes = 6;
  auto started = StartWithFilesystem(options, "sci", "4+2", "128K");
  REQUIRE(started.ok());
  TestCluster& cluster = *started->cluster;
  const std::string mnt = cluster.dir() + "/mnt";
  std::filesystem::create_directories(mnt);
  ForegroundMount mount(cluster, "sci", mnt, "", cluster.dir() + "/mount.log");
  REQUIRE(mount.error() == "");
  std::filesystem::create_directories(mnt + "/h5");
  std::filesystem::create_directories(mnt + "/nc");

  SECTION("HDF5: chunked and contiguous datasets from 4 ranks, h5dump through the mount") {
    // One job, two files: one on ConvergeFS, one on a local directory (which must go
    // through Open MPI untouched although the adapter is loaded).
    std::string out;
    const std::string log = cluster.dir() + "/hdf5.err";
    const std::string local = cluster.dir() + "/local.h5";
    const int rc = RunWithAdapter(
        cluster, "sci", 4, BinPath("hdf5_parallel") + " cvfs:/h5/run.h5 4 " + local, "", log, &out);
    INFO(TailFile(log, 30));
    REQUIRE(rc == 0);
    CHECK(CountInFile(log, "verified every value") == 2);
    // Create and reopen of the cvfs: file went through the adapter, the local file did not.
    CHECK(CountInFile(log, "mpiio.open name=cvfs:/h5/run.h5") == 2);
    CHECK(CountInFile(log, "mpiio.open name=" + local) == 0);
    std::string local_dump;
    REQUIRE(RunCommand("h5dump -d /contiguous -s 1,2 -c 1,1 " + local, &local_dump) == 0);
    CHECK(local_dump.find("1026.5") != std::string::npos);
    std::string dump;
    REQUIRE(RunCommand("h5dump -H " + mnt + "/h5/run.h5", &dump) == 0);
    CHECK(dump.find("DATASET \"chunked\"") != std::string::npos);
    CHECK(dump.find("DATASET \"contiguous\"") != std::string::npos);
    // Row 1, column 2 of "contiguous" is 1 * 1024 + 2 + 0.5; row 0 of "chunked" is 31 * col.
    REQUIRE(RunCommand("h5dump -d /contiguous -s 1,2 -c 1,1 " + mnt + "/h5/run.h5", &dump) == 0);
    CHECK(dump.find("1026.5") != std::string::npos);
    REQUIRE(RunCommand("h5dump -d /chunked -s 0,1 -c 1,3 " + mnt + "/h5/run.h5", &dump) == 0);
    CHECK(dump.find("31, 62, 93") != std::string::npos);
  }

  SECTION("PnetCDF: a 3-D variable from 4 ranks, ncmpidump through the mount") {
    std::string out;
    const std::string log = cluster.dir() + "/pnetcdf.err";
    const int rc = RunWithAdapter(cluster, "sci", 4, BinPath("pnetcdf_3d") + " " + mnt + "/nc/t.nc",
                                  " -x CVFS_MPIIO_PREFIX=" + mnt, log, &out);
    INFO(TailFile(log, 30));
    REQUIRE(rc == 0);
    CHECK(out.find("verified") != std::string::npos);
    CHECK(CountInFile(log, "mpiio.open") >= 2);
    std::string dump;
    REQUIRE(RunCommand("ncmpidump " + mnt + "/nc/t.nc", &dump) == 0);
    CHECK(dump.find("double temperature(z, y, x)") != std::string::npos);
    CHECK(dump.find("z = 16") != std::string::npos);
    // z = 1, y = 0: 10000 + x.
    CHECK(dump.find("10000, 10001, 10002") != std::string::npos);
  }
}
