#include "client/fuse/mount_options.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <span>
#include <string_view>

namespace cvfs::fuse {
namespace {

// Kernel mount flags that libfuse's fuse_session_new understands and passes on.
constexpr std::string_view kKernelFlags[] = {
    "ro",      "rw",      "nosuid",     "suid",         "nodev",
    "dev",     "noexec",  "exec",       "async",        "sync",
    "dirsync", "noatime", "nodiratime", "auto_unmount", "default_permissions",
};

// Words of fstab and mount(8) that mean nothing to the filesystem itself.
constexpr std::string_view kIgnoredWords[] = {
    "defaults", "auto",       "noauto", "user",   "nouser",      "users",      "owner",
    "group",    "_netdev",    "nofail", "atime",  "relatime",    "norelatime", "strictatime",
    "lazytime", "nolazytime", "loud",   "silent", "nosymfollow", "symfollow",
};

bool Contains(std::span<const std::string_view> words, std::string_view word) {
  for (std::string_view w : words) {
    if (w == word) return true;
  }
  return false;
}

std::vector<std::string> SplitList(std::string_view list, char separator) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= list.size()) {
    const size_t end = std::min(list.find(separator, start), list.size());
    if (end > start) out.emplace_back(list.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

Status BadValue(std::string_view key, std::string_view value, std::string_view expected) {
  return Status::InvalidArgument("option " + std::string(key) + "=" + std::string(value) +
                                 ": expected " + std::string(expected));
}

Result<uint64_t> ParseUnsigned(std::string_view key, std::string_view value, uint64_t min,
                               uint64_t max) {
  uint64_t v = 0;
  const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
  if (ec != std::errc() || end != value.data() + value.size() || v < min || v > max) {
    return BadValue(key, value,
                    "an integer in [" + std::to_string(min) + ", " + std::to_string(max) + "]");
  }
  return v;
}

Result<double> ParseSeconds(std::string_view key, std::string_view value) {
  const std::string text(value);
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (text.empty() || end != text.c_str() + text.size() || !std::isfinite(v) || v < 0 ||
      v > 86400) {
    return BadValue(key, value, "seconds in [0, 86400]");
  }
  return v;
}

// Applies one "key" or "key=value" option.
Status ApplyOne(const std::string& option, MountConfig* config) {
  const size_t eq = option.find('=');
  const std::string key = option.substr(0, eq);
  const bool has_value = eq != std::string::npos;
  const std::string value = has_value ? option.substr(eq + 1) : "";
  auto need_value = [&]() -> Status {
    if (!has_value || value.empty()) {
      return Status::InvalidArgument("option " + key + " needs a value (" + key + "=...)");
    }
    return Status::Ok();
  };

  if (key == "etcd") {
    CVFS_RETURN_IF_ERROR(need_value());
    config->etcd_endpoints.push_back(value);
  } else if (key == "provider") {
    CVFS_RETURN_IF_ERROR(need_value());
    config->provider = value;
  } else if (key == "munge_socket" || key == "munge-socket") {
    CVFS_RETURN_IF_ERROR(need_value());
    config->munge_socket = value;
  } else if (key == "attr_timeout") {
    CVFS_RETURN_IF_ERROR(need_value());
    CVFS_ASSIGN_OR_RETURN(config->attr_timeout_s, ParseSeconds(key, value));
  } else if (key == "entry_timeout") {
    CVFS_RETURN_IF_ERROR(need_value());
    CVFS_ASSIGN_OR_RETURN(config->entry_timeout_s, ParseSeconds(key, value));
    config->entry_timeout_set = true;
  } else if (key == "writeback_cache" && !has_value) {
    config->writeback_cache = true;
  } else if (key == "no_writeback_cache" && !has_value) {
    config->writeback_cache = false;
  } else if (key == "allow_other" && !has_value) {
    config->allow_other = true;
  } else if (key == "max_write") {
    CVFS_RETURN_IF_ERROR(need_value());
    CVFS_ASSIGN_OR_RETURN(const uint64_t v, ParseUnsigned(key, value, 4096, kMaxWriteBytesLimit));
    config->max_write_bytes = static_cast<uint32_t>(v);
  } else if (key == "max_read") {
    CVFS_RETURN_IF_ERROR(need_value());
    CVFS_ASSIGN_OR_RETURN(const uint64_t v, ParseUnsigned(key, value, 4096, kMaxWriteBytesLimit));
    config->max_read_bytes = static_cast<uint32_t>(v);
  } else if (key == "max_threads") {
    CVFS_RETURN_IF_ERROR(need_value());
    CVFS_ASSIGN_OR_RETURN(const uint64_t v, ParseUnsigned(key, value, 1, kMaxThreadsLimit));
    config->max_threads = static_cast<unsigned>(v);
  } else if (key == "clone_fd" && !has_value) {
    config->clone_fd = true;
  } else if (key == "deadline_ms") {
    CVFS_RETURN_IF_ERROR(need_value());
    CVFS_ASSIGN_OR_RETURN(const uint64_t v, ParseUnsigned(key, value, 1, 3600 * 1000));
    config->deadline_ms = static_cast<int>(v);
  } else if (key == "log_level") {
    CVFS_RETURN_IF_ERROR(need_value());
    config->log_level = value;
  } else if (key == "log_file") {
    CVFS_RETURN_IF_ERROR(need_value());
    config->log_file = value;
  } else if (!has_value && Contains(kKernelFlags, key)) {
    config->fuse_options.push_back(key);
  } else if ((!has_value && Contains(kIgnoredWords, key)) || key.starts_with("x-") ||
             key == "comment" || key == "helper") {
    // fstab/mount(8) bookkeeping: nothing to do.
  } else if (key == "fsname" || key == "subtype") {
    return Status::InvalidArgument("option " + key + " is set by cvfs-mount (CLUSTER:FS, cvfs)");
  } else {
    return Status::InvalidArgument("unknown mount option '" + option + "' (see cvfs-mount --help)");
  }
  return Status::Ok();
}

}  // namespace

Status ParseSpec(const std::string& spec, MountConfig* config) {
  const size_t colon = spec.find(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == spec.size() ||
      spec.find(':', colon + 1) != std::string::npos || spec.find('/') != std::string::npos) {
    return Status::InvalidArgument("'" + spec + "' is not CLUSTER:FS");
  }
  config->cluster = spec.substr(0, colon);
  config->filesystem = spec.substr(colon + 1);
  return Status::Ok();
}

Status ApplyMountOptions(const std::vector<std::string>& option_lists, MountConfig* config) {
  for (const std::string& list : option_lists) {
    for (const std::string& option : SplitList(list, ',')) {
      CVFS_RETURN_IF_ERROR(ApplyOne(option, config));
    }
  }
  return Status::Ok();
}

void FinishFuseOptions(MountConfig* config) {
  auto& o = config->fuse_options;
  o.push_back("fsname=" + config->cluster + ":" + config->filesystem);
  o.push_back("subtype=cvfs");
  if (config->allow_other) o.push_back("allow_other");
  if (config->max_read_bytes != 0)
    o.push_back("max_read=" + std::to_string(config->max_read_bytes));
}

std::string JoinFuseOptions(const MountConfig& config) {
  std::string out;
  for (const std::string& o : config.fuse_options) {
    if (!out.empty()) out += ',';
    out += o;
  }
  return out;
}

std::string DefaultLogFile(const MountConfig& config) {
  return "/var/log/cvfs/mount-" + config.cluster + "-" + config.filesystem + ".log";
}

Result<std::vector<std::string>> TranslateHelperArgs(const std::vector<std::string>& args,
                                                     bool* fake) {
  *fake = false;
  std::vector<std::string> positional;
  std::vector<std::string> options;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "-o" || a == "-t" || a == "-N") {
      if (i + 1 == args.size()) return Status::InvalidArgument(a + " needs a value");
      if (a == "-o") options.push_back(args[i + 1]);
      if (a == "-N") return Status::NotSupported("mount namespaces (-N) are not supported");
      ++i;  // -t TYPE: we are that type
    } else if (a.starts_with("-o") && a.size() > 2) {
      options.push_back(a.substr(2));
    } else if (a.size() > 1 && a[0] == '-') {
      for (char flag : std::string_view(a).substr(1)) {
        if (flag == 'f') {
          *fake = true;
        } else if (flag != 's' && flag != 'n' && flag != 'v') {
          return Status::InvalidArgument("unknown flag -" + std::string(1, flag) +
                                         " (mount.cvfs SPEC DIR [-sfnv] [-o OPTIONS])");
        }
      }
    } else {
      positional.push_back(a);
    }
  }
  if (positional.size() != 2) {
    return Status::InvalidArgument("usage: mount.cvfs CLUSTER:FS DIR [-sfnv] [-o OPTIONS]");
  }
  std::vector<std::string> out = positional;
  for (const std::string& o : options) {
    out.push_back("-o");
    out.push_back(o);
  }
  return out;
}

}  // namespace cvfs::fuse
