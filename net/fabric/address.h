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

}  // namespace cvfs::net::fabric
