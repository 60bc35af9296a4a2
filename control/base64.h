// Standard base64 (RFC 4648, with padding), as the etcd v3 JSON gateway uses for every key
// and value. Decoding is strict: wrong length, characters outside the alphabet or bad
// padding are rejected, so a corrupt gateway reply never turns into a wrong key.
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>

#include "core/status.h"

namespace cvfs::control {

std::string Base64Encode(std::string_view bytes);

// The decoded bytes, or kMalformedMessage describing why `text` is not base64.
Result<std::string> Base64Decode(std::string_view text);

}  // namespace cvfs::control
