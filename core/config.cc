#include "core/config.h"

#include <toml++/toml.h>

#include <cctype>
#include <filesystem>
#include <functional>
#include <sstream>

namespace cvfs {

struct ConfigFile::Impl {
  toml::table table;
  std::string source;
};

ConfigFile::ConfigFile() : impl_(std::make_unique<Impl>()) {}
ConfigFile::~ConfigFile() = default;
ConfigFile::ConfigFile(ConfigFile&&) noexcept = default;
ConfigFile& ConfigFile::operator=(ConfigFile&&) noexcept = default;

namespace {

Status ParseError(const toml::parse_error& err, const std::string& source) {
  std::ostringstream msg;
  msg << source << ":" << err.source().begin.line << ":" << err.source().begin.column << ": "
      << err.description();
  return Status::ConfigError(msg.str());
}

}  // namespace

Result<ConfigFile> ConfigFile::Load(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    return Status::NotFound("config file '" + path + "' does not exist");
  }
  ConfigFile config;
  config.impl_->source = path;
  try {
    config.impl_->table = toml::parse_file(path);
  } catch (const toml::parse_error& err) {
    return ParseError(err, path);
  }
  return config;
}

Result<ConfigFile> ConfigFile::Parse(const std::string& text, const std::string& source) {
  ConfigFile config;
  config.impl_->source = source;
  try {
    config.impl_->table = toml::parse(text, source);
  } catch (const toml::parse_error& err) {
    return ParseError(err, source);
  }
  return config;
}

namespace {

Status WrongType(const std::string& source, const std::string& key, const char* want) {
  return Status::ConfigError(source + ": key '" + key + "' must be " + want);
}

}  // namespace

Result<std::optional<std::string>> ConfigFile::GetString(const std::string& dotted) const {
  auto node = impl_->table.at_path(dotted);
  if (!node) return std::optional<std::string>();
  if (auto v = node.value<std::string>(); v && node.is_string()) return std::optional(*v);
  return WrongType(impl_->source, dotted, "a string");
}

Result<std::optional<int64_t>> ConfigFile::GetInt(const std::string& dotted) const {
  auto node = impl_->table.at_path(dotted);
  if (!node) return std::optional<int64_t>();
  if (node.is_integer()) return std::optional<int64_t>(*node.value<int64_t>());
  return WrongType(impl_->source, dotted, "an integer");
}

Result<std::optional<bool>> ConfigFile::GetBool(const std::string& dotted) const {
  auto node = impl_->table.at_path(dotted);
  if (!node) return std::optional<bool>();
  if (node.is_boolean()) return std::optional<bool>(*node.value<bool>());
  return WrongType(impl_->source, dotted, "true or false");
}

Result<std::optional<std::vector<std::string>>> ConfigFile::GetStringList(
    const std::string& dotted) const {
  auto node = impl_->table.at_path(dotted);
  if (!node) return std::optional<std::vector<std::string>>();
  const toml::array* arr = node.as_array();
  if (!arr) return WrongType(impl_->source, dotted, "an array of strings");
  std::vector<std::string> out;
  for (const auto& elem : *arr) {
    auto s = elem.value<std::string>();
    if (!s || !elem.is_string()) return WrongType(impl_->source, dotted, "an array of strings");
    out.push_back(*s);
  }
  return std::optional(std::move(out));
}

std::vector<std::string> ConfigFile::UnknownKeys(const std::vector<std::string>& known) const {
  std::vector<std::string> unknown;
  std::function<void(const toml::table&, const std::string&)> walk =
      [&](const toml::table& t, const std::string& prefix) {
        for (const auto& [k, v] : t) {
          const std::string key =
              prefix.empty() ? std::string(k.str()) : prefix + "." + std::string(k.str());
          if (const toml::table* sub = v.as_table()) {
            walk(*sub, key);
          } else {
            bool found = false;
            for (const auto& kk : known) found = found || kk == key;
            if (!found) unknown.push_back(key);
          }
        }
      };
  walk(impl_->table, "");
  return unknown;
}

Result<uint64_t> ParseByteSize(const std::string& text) {
  if (text.empty()) return Status::InvalidArgument("empty size");
  size_t pos = 0;
  uint64_t value = 0;
  while (pos < text.size() && std::isdigit(static_cast<unsigned char>(text[pos]))) {
    const uint64_t next = value * 10 + static_cast<uint64_t>(text[pos] - '0');
    if (next / 10 != value) return Status::InvalidArgument("size '" + text + "' overflows");
    value = next;
    ++pos;
  }
  if (pos == 0) return Status::InvalidArgument("size '" + text + "' does not start with a number");
  std::string unit = text.substr(pos);
  for (auto& c : unit) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  uint64_t mult = 1;
  if (unit.empty() || unit == "B") {
    mult = 1;
  } else if (unit == "K" || unit == "KB" || unit == "KIB") {
    mult = 1ull << 10;
  } else if (unit == "M" || unit == "MB" || unit == "MIB") {
    mult = 1ull << 20;
  } else if (unit == "G" || unit == "GB" || unit == "GIB") {
    mult = 1ull << 30;
  } else if (unit == "T" || unit == "TB" || unit == "TIB") {
    mult = 1ull << 40;
  } else {
    return Status::InvalidArgument("size '" + text + "' has an unknown unit '" + unit + "'");
  }
  if (value != 0 && value * mult / mult != value) {
    return Status::InvalidArgument("size '" + text + "' overflows");
  }
  return value * mult;
}

}  // namespace cvfs
