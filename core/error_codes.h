// The one registry of ConvergeFS error codes. Numbers are stable: they cross the wire
// and appear in logs and `--json` output, so a code is never renumbered or reused.
// Thread-safety: constant data only.
#pragma once

#include <cstdint>
#include <string_view>

namespace cvfs {

enum class ErrorCode : uint16_t {
  kOk = 0,                  // success
  kInvalidArgument = 1,     // the caller passed something malformed or out of range
  kNotFound = 2,            // the named object does not exist
  kAlreadyExists = 3,       // the object to create exists already
  kPermissionDenied = 4,    // the authenticated identity may not do this
  kUnauthenticated = 5,     // no valid credential on the session
  kDeadlineExceeded = 6,    // the operation's deadline passed before it completed
  kUnavailable = 7,         // a peer or service cannot be reached now; retry may help
  kMalformedMessage = 8,    // a received message failed verification
  kProtocolMismatch = 9,    // the peer speaks an incompatible protocol version
  kIoError = 10,            // a local I/O call failed
  kNoSpace = 11,            // a drive or quota is full
  kCorruption = 12,         // stored data failed its checksum
  kConflict = 13,           // a compare-and-swap lost (epoch moved, key changed)
  kCancelled = 14,          // the operation was cancelled (shutdown)
  kResourceExhausted = 15,  // a bounded queue or pool is full
  kInternal = 16,           // an invariant was violated: a bug
  kNotSupported = 17,       // the feature or provider is not available here
  kConfigError = 18,        // a configuration file or option is wrong
};

// Stable lower_snake name of a code ("deadline_exceeded"), as printed in logs and JSON.
std::string_view ErrorCodeName(ErrorCode code);

// One-line meaning of a code, for error messages aimed at people.
std::string_view ErrorCodeMeaning(ErrorCode code);

// Maps a code to the closest POSIX errno, for the FUSE and MPI-IO edges only.
int ErrorCodeToErrno(ErrorCode code);

}  // namespace cvfs
