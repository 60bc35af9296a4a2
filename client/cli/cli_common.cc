#include "client/cli/cli_common.h"

#include <cstdio>
#include <iostream>
#include <sstream>

namespace cvfs::cli {

std::vector<std::string> GlobalOptions::EtcdEndpoints() const {
  std::vector<std::string> out;
  std::stringstream in(etcd);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

int ExitCodeFor(const Status& status) {
  switch (status.code()) {
    case ErrorCode::kOk:
      return kExitOk;
    case ErrorCode::kInvalidArgument:
    case ErrorCode::kConfigError:
      return kExitUsage;
    case ErrorCode::kUnavailable:
      return kExitUnavailable;
    case ErrorCode::kNotFound:
      return kExitNotFound;
    case ErrorCode::kAlreadyExists:
      return kExitExists;
    case ErrorCode::kDeadlineExceeded:
      return kExitTimeout;
    case ErrorCode::kUnauthenticated:
    case ErrorCode::kPermissionDenied:
      return kExitDenied;
    default:
      return kExitInternal;
  }
}

int Fail(const std::string& context, const Status& status) {
  std::cerr << "cvfs: " << context << ": " << status.ToString() << "\n";
  return ExitCodeFor(status);
}

void PrintJson(const nlohmann::json& json) { std::cout << json.dump(2) << "\n"; }

std::string HumanBytes(uint64_t bytes) {
  static const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  double v = static_cast<double>(bytes);
  int unit = 0;
  while (v >= 1024.0 && unit < 5) {
    v /= 1024.0;
    ++unit;
  }
  char buf[32];
  if (unit == 0) {
    std::snprintf(buf, sizeof(buf), "%llu B", static_cast<unsigned long long>(bytes));
  } else {
    std::snprintf(buf, sizeof(buf), "%.1f %s", v, kUnits[unit]);
  }
  return buf;
}

}  // namespace cvfs::cli
