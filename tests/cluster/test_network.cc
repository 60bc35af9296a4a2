#include "tests/cluster/test_network.h"

#include <unistd.h>

#include "tests/cluster/child_process.h"

namespace cvfs::testing {

namespace {

Status Run(const std::string& command) {
  std::string out;
  if (RunCommand(command + " 2>&1", &out) != 0) {
    return Status::IoError("`" + command + "` failed: " + out);
  }
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<TestNetwork>> TestNetwork::Create(int nodes) {
  if (::geteuid() != 0) return Status::NotSupported("network namespaces need root");
  if (nodes < 1 || nodes > 200) return Status::InvalidArgument("1..200 nodes");
  auto net = std::unique_ptr<TestNetwork>(new TestNetwork());
  const int pid = static_cast<int>(::getpid());
  net->tag_ = std::to_string(pid % 100000);
  net->subnet_ =
      "10." + std::to_string(200 + (pid / 250) % 50) + "." + std::to_string(pid % 250 + 1) + ".";
  net->bridge_ = "cvbr" + net->tag_;
  net->host_address_ = net->subnet_ + "1";
  net->nodes_ = nodes;
  // Leftovers of an earlier test with the same pid (a crash): remove first.
  std::string ignored;
  RunCommand("ip link del " + net->bridge_ + " 2>/dev/null", &ignored);
  CVFS_RETURN_IF_ERROR(Run("ip link add " + net->bridge_ + " type bridge"));
  CVFS_RETURN_IF_ERROR(Run("ip addr add " + net->host_address_ + "/24 dev " + net->bridge_));
  CVFS_RETURN_IF_ERROR(Run("ip link set " + net->bridge_ + " up"));
  for (int i = 0; i < nodes; ++i) {
    const std::string ns = net->namespace_name(i);
    const std::string veth = net->HostVeth(i);
    RunCommand("ip netns del " + ns + " 2>/dev/null", &ignored);
    CVFS_RETURN_IF_ERROR(Run("ip netns add " + ns));
    net->created_ = i + 1;
    CVFS_RETURN_IF_ERROR(Run("ip link add " + veth + " type veth peer name eth0 netns " + ns));
    CVFS_RETURN_IF_ERROR(Run("ip link set " + veth + " master " + net->bridge_));
    CVFS_RETURN_IF_ERROR(Run("ip link set " + veth + " up"));
    CVFS_RETURN_IF_ERROR(Run("ip -n " + ns + " addr add " + net->node_address(i) + "/24 dev eth0"));
    CVFS_RETURN_IF_ERROR(Run("ip -n " + ns + " link set eth0 up"));
    CVFS_RETURN_IF_ERROR(Run("ip -n " + ns + " link set lo up"));
  }
  return net;
}

TestNetwork::~TestNetwork() {
  std::string ignored;
  for (int i = 0; i < created_; ++i)
    RunCommand("ip netns del " + namespace_name(i) + " 2>/dev/null", &ignored);
  if (!bridge_.empty()) RunCommand("ip link del " + bridge_ + " 2>/dev/null", &ignored);
}

std::string TestNetwork::node_address(int i) const { return subnet_ + std::to_string(i + 2); }
std::string TestNetwork::namespace_name(int i) const {
  return "cvfs-" + tag_ + "-" + std::to_string(i);
}
std::string TestNetwork::HostVeth(int i) const {
  return "cvh" + tag_ + "n" + std::to_string(i);  // at most 3+5+1+3 = 12 < IFNAMSIZ
}

Status TestNetwork::Disconnect(int i) { return Run("ip link set " + HostVeth(i) + " down"); }
Status TestNetwork::Reconnect(int i) { return Run("ip link set " + HostVeth(i) + " up"); }

}  // namespace cvfs::testing
