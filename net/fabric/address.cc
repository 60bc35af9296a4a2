#include "net/fabric/address.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cctype>
#include <cstring>

namespace cvfs::net::fabric {

namespace {
constexpr char kHex[] = "0123456789abcdef";
constexpr size_t kMaxRawName = 256;

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

std::string FormatAddress(std::string_view provider, std::string_view raw_name) {
  std::string out(provider);
  out += "://";
  for (unsigned char c : raw_name) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

Result<std::string> ParseAddress(std::string_view text, std::string_view expected_provider) {
  const size_t sep = text.find("://");
  if (sep == std::string_view::npos) {
    return Status::InvalidArgument("fabric address without provider prefix: " + std::string(text));
  }
  if (text.substr(0, sep) != expected_provider) {
    return Status::InvalidArgument("address is for provider " + std::string(text.substr(0, sep)) +
                                   ", this endpoint uses " + std::string(expected_provider));
  }
  std::string_view hex = text.substr(sep + 3);
  if (hex.empty() || hex.size() % 2 != 0 || hex.size() / 2 > kMaxRawName) {
    return Status::InvalidArgument("fabric address has a bad length");
  }
  std::string raw;
  raw.reserve(hex.size() / 2);
  for (size_t i = 0; i < hex.size(); i += 2) {
    int hi = HexValue(hex[i]);
    int lo = HexValue(hex[i + 1]);
    if (hi < 0 || lo < 0) return Status::InvalidArgument("fabric address is not hex");
    raw += static_cast<char>(hi << 4 | lo);
  }
  return raw;
}

std::string DescribeAddress(std::string_view text) {
  const size_t sep = text.find("://");
  if (sep == std::string_view::npos) return std::string(text);
  auto raw = ParseAddress(text, text.substr(0, sep));
  if (!raw.ok()) return std::string(text);
  const std::string& name = *raw;
  char host[INET6_ADDRSTRLEN] = {0};
  if (name.size() >= sizeof(sockaddr_in)) {
    sockaddr_storage storage{};
    std::memcpy(&storage, name.data(), std::min(name.size(), sizeof(storage)));
    if (storage.ss_family == AF_INET) {
      const auto* in = reinterpret_cast<const sockaddr_in*>(&storage);
      if (inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host)) != nullptr) {
        return std::string(host) + ":" + std::to_string(ntohs(in->sin_port));
      }
    } else if (storage.ss_family == AF_INET6 && name.size() >= sizeof(sockaddr_in6)) {
      const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&storage);
      if (inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host)) != nullptr) {
        return "[" + std::string(host) + "]:" + std::to_string(ntohs(in6->sin6_port));
      }
    }
  }
  std::string printable;
  for (char c : name) {
    if (c == '\0') break;
    if (!std::isprint(static_cast<unsigned char>(c))) return std::string(text);
    printable += c;
  }
  return printable.empty() ? std::string(text) : printable;
}

}  // namespace cvfs::net::fabric
