#include "core/config.h"

#include <catch2/catch.hpp>

namespace cvfs {
namespace {

TEST_CASE("ConfigFile reads typed values by dotted path") {
  auto cfg = ConfigFile::Parse(R"(
node_id = "n1"
[net]
provider = "tcp;ofi_rxm"
progress_poll_us = 50
[drives]
paths = ["/a", "/b"]
)");
  REQUIRE(cfg.ok());
  CHECK(cfg->GetString("node_id").value().value() == "n1");
  CHECK(cfg->GetString("net.provider").value().value() == "tcp;ofi_rxm");
  CHECK(cfg->GetInt("net.progress_poll_us").value().value() == 50);
  CHECK(cfg->GetStringList("drives.paths").value().value().size() == 2);
  CHECK_FALSE(cfg->GetString("missing").value().has_value());
  // Wrong type is an error, not a silent default.
  auto wrong = cfg->GetInt("net.provider");
  REQUIRE_FALSE(wrong.ok());
  CHECK(wrong.status().code() == ErrorCode::kConfigError);
  CHECK(cfg->UnknownKeys({"node_id", "net.provider", "drives.paths"}) ==
        std::vector<std::string>{"net.progress_poll_us"});
}

TEST_CASE("ConfigFile reports syntax errors with a position") {
  auto cfg = ConfigFile::Parse("a = = 1\n", "x.toml");
  REQUIRE_FALSE(cfg.ok());
  CHECK(cfg.status().code() == ErrorCode::kConfigError);
  CHECK(std::string(cfg.status().message()).find("x.toml:1:") != std::string::npos);
  CHECK(ConfigFile::Load("/nonexistent/cvfs.toml").status().code() == ErrorCode::kNotFound);
}

TEST_CASE("ParseByteSize understands units and rejects junk") {
  CHECK(ParseByteSize("4096").value() == 4096);
  CHECK(ParseByteSize("128K").value() == 128 * 1024);
  CHECK(ParseByteSize("64MiB").value() == 64ull << 20);
  CHECK(ParseByteSize("1g").value() == 1ull << 30);
  CHECK_FALSE(ParseByteSize("").ok());
  CHECK_FALSE(ParseByteSize("K").ok());
  CHECK_FALSE(ParseByteSize("12Q").ok());
  CHECK_FALSE(ParseByteSize("99999999999999999999999").ok());
}

}  // namespace
}  // namespace cvfs
