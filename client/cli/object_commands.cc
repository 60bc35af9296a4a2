// `cvfs object put|get|truncate`: byte ranges of objects (by inode id) in a filesystem,
// through the low-level data API (include/cvfs/object_client.h). For administrators checking
// a cluster end to end (write a file, kill nodes, read it back) and for the demo; programs use
// libcvfs directly. Exit codes as in docs/admin/cli.md: 2 bad arguments or an unreadable input
// file, 3 the cluster cannot be reached or too few members are up, 4 unknown filesystem,
// 6 deadline, 7 refused, 10 anything else (out of space, data that cannot be decoded: the
// message says which).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "client/cli/commands.h"
#include "cvfs/object_client.h"

namespace cvfs::cli {
namespace {

struct ObjectArgs {
  std::string filesystem;
  uint64_t inode = 0;
  uint64_t offset = 0;
  std::string provider = "tcp;ofi_rxm";
  int deadline_s = 60;
  bool json = false;
};

void AddCommonOptions(CLI::App* cmd, ObjectArgs& args) {
  cmd->add_option("filesystem", args.filesystem, "filesystem name")->required();
  cmd->add_option("inode", args.inode, "object (inode) id, a positive number")
      ->required()
      ->check(CLI::Range(uint64_t{1}, UINT64_MAX));
  cmd->add_option("--provider", args.provider, "fabric provider (default tcp;ofi_rxm)");
  cmd->add_option("--deadline", args.deadline_s, "seconds per call (default 60)")
      ->check(CLI::Range(1, 3600));
  cmd->add_flag("--json", args.json, "print the result as JSON");
}

Result<std::unique_ptr<ObjectClient>> OpenClient(const GlobalOptions& global,
                                                 const ObjectArgs& args) {
  InitCommandLogging(global);
  if (global.cluster.empty()) {
    return Status::InvalidArgument("no cluster named (--cluster or CVFS_CLUSTER)");
  }
  ObjectClientOptions options;
  options.etcd_endpoints = global.EtcdEndpoints();
  options.cluster = global.cluster;
  options.filesystem = args.filesystem;
  options.provider = args.provider;
  options.munge_socket = global.munge_socket;
  options.name = "cvfs-cli";
  options.deadline = std::chrono::seconds(args.deadline_s);
  return ObjectClient::Open(options);
}

void PrintResult(const ObjectArgs& args, const char* verb, uint64_t bytes, double seconds,
                 const ObjectClient& client) {
  const ObjectClientStats stats = client.stats();
  if (args.json) {
    PrintJson({{"filesystem", args.filesystem},
               {"inode", args.inode},
               {"offset", args.offset},
               {"bytes", bytes},
               {"seconds", seconds},
               {"degraded_reads", stats.degraded_reads},
               {"checksum_failures", stats.checksum_failures},
               {"write_retries", stats.write_retries}});
    return;
  }
  std::fprintf(stderr, "%s %s bytes %s/%llu at offset %llu in %.2f s (%.1f MB/s)%s\n", verb,
               std::to_string(bytes).c_str(), args.filesystem.c_str(),
               static_cast<unsigned long long>(args.inode),
               static_cast<unsigned long long>(args.offset), seconds,
               seconds > 0 ? bytes / seconds / 1e6 : 0.0,
               stats.degraded_reads > 0 ? (", " + std::to_string(stats.degraded_reads) +
                                           " stripes decoded around " + "missing or bad cells")
                                              .c_str()
                                        : "");
}

double Since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void RegisterPut(CLI::App& object, GlobalOptions& global, int* rc) {
  CLI::App* cmd = object.add_subcommand("put", "write a local file (or stdin: -) into an object");
  auto args = std::make_shared<ObjectArgs>();
  auto path = std::make_shared<std::string>();
  AddCommonOptions(cmd, *args);
  cmd->add_option("file", *path, "local file to write, '-' for stdin")->required();
  cmd->add_option("--offset", args->offset, "object offset to write at (default 0)");
  cmd->callback([&global, rc, args, path] {
    const int fd = *path == "-" ? STDIN_FILENO : ::open(path->c_str(), O_RDONLY);
    if (fd < 0) {
      *rc = Fail("object put", Status::InvalidArgument("cannot open " + *path));
      return;
    }
    std::vector<std::byte> data;
    std::vector<std::byte> chunk(1 << 20);
    ssize_t n;
    while ((n = ::read(fd, chunk.data(), chunk.size())) > 0) {
      data.insert(data.end(), chunk.begin(), chunk.begin() + n);
    }
    if (fd != STDIN_FILENO) ::close(fd);
    if (n < 0) {
      *rc = Fail("object put", Status::InvalidArgument("cannot read " + *path));
      return;
    }
    auto client = OpenClient(global, *args);
    if (!client.ok()) {
      *rc = Fail("object put", client.status());
      return;
    }
    const auto t0 = std::chrono::steady_clock::now();
    if (Status st = (*client)->Write(args->inode, args->offset, data); !st.ok()) {
      *rc = Fail("object put " + args->filesystem + "/" + std::to_string(args->inode), st);
      return;
    }
    PrintResult(*args, "wrote", data.size(), Since(t0), **client);
    *rc = kExitOk;
  });
}

void RegisterGet(CLI::App& object, GlobalOptions& global, int* rc) {
  CLI::App* cmd =
      object.add_subcommand("get", "read a byte range of an object into a file (or stdout: -)");
  auto args = std::make_shared<ObjectArgs>();
  auto path = std::make_shared<std::string>();
  auto length = std::make_shared<uint64_t>(0);
  AddCommonOptions(cmd, *args);
  cmd->add_option("file", *path, "local file to create, '-' for stdout")->required();
  cmd->add_option("--length", *length, "bytes to read (objects carry no size yet)")
      ->required()
      ->check(CLI::Range(uint64_t{1}, uint64_t{64} << 30));
  cmd->add_option("--offset", args->offset, "object offset to read from (default 0)");
  cmd->callback([&global, rc, args, path, length] {
    if (*path == "-" && args->json) {
      *rc = Fail("object get",
                 Status::InvalidArgument("--json and '-' both want stdout; name an output file"));
      return;
    }
    auto client = OpenClient(global, *args);
    if (!client.ok()) {
      *rc = Fail("object get", client.status());
      return;
    }
    std::vector<std::byte> data(*length);
    const auto t0 = std::chrono::steady_clock::now();
    if (Status st = (*client)->Read(args->inode, args->offset, data); !st.ok()) {
      *rc = Fail("object get " + args->filesystem + "/" + std::to_string(args->inode), st);
      return;
    }
    const double seconds = Since(t0);
    const int fd =
        *path == "-" ? STDOUT_FILENO : ::open(path->c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
      *rc = Fail("object get", Status::InvalidArgument("cannot create " + *path));
      return;
    }
    size_t done = 0;
    while (done < data.size()) {
      const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
      if (n <= 0) break;
      done += static_cast<size_t>(n);
    }
    if (fd != STDOUT_FILENO) ::close(fd);
    if (done != data.size()) {
      *rc = Fail("object get", Status::IoError("cannot write " + *path));
      return;
    }
    PrintResult(*args, "read", data.size(), seconds, **client);
    *rc = kExitOk;
  });
}

void RegisterTruncate(CLI::App& object, GlobalOptions& global, int* rc) {
  CLI::App* cmd = object.add_subcommand(
      "truncate", "make bytes [SIZE, OLD_SIZE) of an object read as zeros and free them");
  auto args = std::make_shared<ObjectArgs>();
  auto sizes = std::make_shared<std::pair<uint64_t, uint64_t>>(0, 0);
  AddCommonOptions(cmd, *args);
  cmd->add_option("size", sizes->first, "new size")->required();
  cmd->add_option("old_size", sizes->second, "current size (objects carry no size yet)")
      ->required();
  cmd->callback([&global, rc, args, sizes] {
    auto client = OpenClient(global, *args);
    if (!client.ok()) {
      *rc = Fail("object truncate", client.status());
      return;
    }
    if (Status st = (*client)->Truncate(args->inode, sizes->first, sizes->second); !st.ok()) {
      *rc = Fail("object truncate " + args->filesystem + "/" + std::to_string(args->inode), st);
      return;
    }
    *rc = kExitOk;
  });
}

}  // namespace

void RegisterObjectCommands(CLI::App& app, GlobalOptions& global, int* rc) {
  CLI::App* object = app.add_subcommand(
      "object", "objects by inode id: put, get, truncate (the low-level data API)");
  object->require_subcommand(1);
  RegisterPut(*object, global, rc);
  RegisterGet(*object, global, rc);
  RegisterTruncate(*object, global, rc);
}

}  // namespace cvfs::cli
