// ConfigFile: read-only access to one TOML configuration file (toml++), with typed
// lookups by dotted path ("net.provider"). Daemons load their file first and then apply
// command-line overrides (CLI11), so a flag always wins over the file.
// Thread-safety: immutable after Load; safe to share.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"

namespace cvfs {

class ConfigFile {
 public:
  // An empty configuration: every lookup misses.
  ConfigFile();
  ~ConfigFile();
  ConfigFile(ConfigFile&&) noexcept;
  ConfigFile& operator=(ConfigFile&&) noexcept;

  // Parses `path`. kNotFound if missing, kConfigError with line and column on a syntax error.
  static Result<ConfigFile> Load(const std::string& path);
  // Parses TOML text (tests, inline defaults).
  static Result<ConfigFile> Parse(const std::string& text, const std::string& source = "<string>");

  // Each lookup returns nullopt when the key is absent and kConfigError when it is present
  // with the wrong type (so a typo in a value is never silently ignored).
  Result<std::optional<std::string>> GetString(const std::string& dotted) const;
  Result<std::optional<int64_t>> GetInt(const std::string& dotted) const;
  Result<std::optional<bool>> GetBool(const std::string& dotted) const;
  Result<std::optional<std::vector<std::string>>> GetStringList(const std::string& dotted) const;

  // Keys present in the file that are not in `known` (dotted), to warn about typos.
  std::vector<std::string> UnknownKeys(const std::vector<std::string>& known) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Parses sizes such as "128K", "64MiB", "1G", "4096" into bytes.
Result<uint64_t> ParseByteSize(const std::string& text);

}  // namespace cvfs
