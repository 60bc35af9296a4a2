// MUNGE credentials for the RPC Hello: a peer proves its uid/gid by a credential that the
// munged of this cluster (shared key) minted, bound to a payload chosen by the caller.
//
// Failure mapping: munged unreachable -> kUnavailable; any munge_decode verdict on the
// credential itself (bad/foreign key, replayed, expired, rewound, garbage) ->
// kPermissionDenied with munge's reason in the message.
// Thread-safety: free functions; each call uses its own munge context.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/status.h"

namespace cvfs::net::auth {

struct DecodedCredential {
  uint32_t uid = 0;
  uint32_t gid = 0;
  std::string payload;
};

// Asks munged at `socket` ("" = libmunge's default) for a credential carrying `payload`.
Result<std::string> EncodeCredential(const std::string& socket, std::string_view payload);

// Validates `credential` through munged at `socket` and returns who minted it.
Result<DecodedCredential> DecodeCredential(const std::string& socket,
                                           const std::string& credential);

}  // namespace cvfs::net::auth
