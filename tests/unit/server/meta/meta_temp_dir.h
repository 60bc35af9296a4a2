// A temporary directory under /tmp for metadata store tests, removed with its contents.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <string>

namespace cvfs::server::meta::testing {

class MetaTempDir {
 public:
  MetaTempDir() {
    std::string templ = "/tmp/cvfs-meta-XXXXXX";
    if (mkdtemp(templ.data()) != nullptr) path_ = templ;
  }
  ~MetaTempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  MetaTempDir(const MetaTempDir&) = delete;
  MetaTempDir& operator=(const MetaTempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string db() const { return path_ + "/meta"; }

 private:
  std::string path_;
};

}  // namespace cvfs::server::meta::testing
