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
  // Namespace (issue #4): POSIX outcomes the FUSE mount and libcvfs return as errno.
  kNotADirectory = 19,  // a path component or the target is not a directory (ENOTDIR)
  kIsADirectory = 20,   // a file operation named a directory (EISDIR)
  kNotEmpty = 21,       // the directory still has entries (ENOTEMPTY)
  kNameTooLong = 22,    // a name exceeds 255 bytes or a path 4095 (ENAMETOOLONG)
  kNotPermitted = 23,   // only the owner (or root) may do this (EPERM)
  kNotPrimary = 24,     // this node does not order that PG in its map: refresh, retry (EAGAIN)
  kTooManyLinks = 25,   // the link count would overflow (EMLINK)
  kSymlinkLoop = 26,    // too many symbolic links in a path (ELOOP)
  kBadHandle = 27,      // no such open file handle (EBADF)
};

// The highest code in use: a received status above it is malformed.
inline constexpr ErrorCode kLastErrorCode = ErrorCode::kBadHandle;

// Stable lower_snake name of a code ("deadline_exceeded"), as printed in logs and JSON.
std::string_view ErrorCodeName(ErrorCode code);

// One-line meaning of a code, for error messages aimed at people.
std::string_view ErrorCodeMeaning(ErrorCode code);

// Maps a code to the closest POSIX errno, for the FUSE and MPI-IO edges only.
int ErrorCodeToErrno(ErrorCode code);

}  // namespace cvfs
