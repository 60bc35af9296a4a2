// Printable fabric addresses: "<provider>://<hex of fi_getname bytes>", e.g.
// "tcp;ofi_rxm://0200a3e17f000001...". This is what RpcEndpoint::address() returns and what
// the control plane stores; the provider prefix stops a tcp client dialing an shm address.
// Thread-safety: free functions.
#pragma once

#include <string>
#include <string_view>

#include "core/status.h"

namespace cvfs::net::fabric {

std::string FormatAddress(std::string_view provider, std::string_view raw_name);

// Returns the raw name. kInvalidArgument when malformed, for another provider, or longer
// than any provider's address (256 bytes).
Result<std::string> ParseAddress(std::string_view text, std::string_view expected_provider);

// A short form for people: "127.0.0.1:41237" or "[fe80::1]:41237" for IP-based names,
// the name itself when it is printable text (shm), else the address unchanged. Never fails.
std::string DescribeAddress(std::string_view text);

}  // namespace cvfs::net::fabric
