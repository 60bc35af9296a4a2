#include "core/error_codes.h"

#include <cerrno>

namespace cvfs {
namespace {

struct CodeInfo {
  ErrorCode code;
  std::string_view name;
  std::string_view meaning;
  int posix_errno;
};

constexpr CodeInfo kCodes[] = {
    {ErrorCode::kOk, "ok", "success", 0},
    {ErrorCode::kInvalidArgument, "invalid_argument", "invalid argument", EINVAL},
    {ErrorCode::kNotFound, "not_found", "not found", ENOENT},
    {ErrorCode::kAlreadyExists, "already_exists", "already exists", EEXIST},
    {ErrorCode::kPermissionDenied, "permission_denied", "permission denied", EACCES},
    {ErrorCode::kUnauthenticated, "unauthenticated", "not authenticated", EACCES},
    {ErrorCode::kDeadlineExceeded, "deadline_exceeded", "deadline exceeded", ETIMEDOUT},
    {ErrorCode::kUnavailable, "unavailable", "service unavailable", EAGAIN},
    {ErrorCode::kMalformedMessage, "malformed_message", "malformed message", EPROTO},
    {ErrorCode::kProtocolMismatch, "protocol_mismatch", "protocol version mismatch", EPROTO},
    {ErrorCode::kIoError, "io_error", "I/O error", EIO},
    {ErrorCode::kNoSpace, "no_space", "no space left", ENOSPC},
    {ErrorCode::kCorruption, "corruption", "data corruption detected", EIO},
    {ErrorCode::kConflict, "conflict", "conflicting update", EAGAIN},
    {ErrorCode::kCancelled, "cancelled", "cancelled", ECANCELED},
    {ErrorCode::kResourceExhausted, "resource_exhausted", "resource exhausted", EBUSY},
    {ErrorCode::kInternal, "internal", "internal error", EIO},
    {ErrorCode::kNotSupported, "not_supported", "not supported", ENOTSUP},
    {ErrorCode::kConfigError, "config_error", "configuration error", EINVAL},
    {ErrorCode::kNotADirectory, "not_a_directory", "not a directory", ENOTDIR},
    {ErrorCode::kIsADirectory, "is_a_directory", "is a directory", EISDIR},
    {ErrorCode::kNotEmpty, "not_empty", "directory not empty", ENOTEMPTY},
    {ErrorCode::kNameTooLong, "name_too_long", "name too long", ENAMETOOLONG},
    {ErrorCode::kNotPermitted, "not_permitted", "operation not permitted", EPERM},
    {ErrorCode::kNotPrimary, "not_primary", "not the primary of that placement group", EAGAIN},
    {ErrorCode::kTooManyLinks, "too_many_links", "too many links", EMLINK},
    {ErrorCode::kSymlinkLoop, "symlink_loop", "too many levels of symbolic links", ELOOP},
    {ErrorCode::kBadHandle, "bad_handle", "bad file handle", EBADF},
};

const CodeInfo* Find(ErrorCode code) {
  for (const auto& info : kCodes) {
    if (info.code == code) return &info;
  }
  return nullptr;
}

}  // namespace

std::string_view ErrorCodeName(ErrorCode code) {
  const CodeInfo* info = Find(code);
  return info ? info->name : "unknown";
}

std::string_view ErrorCodeMeaning(ErrorCode code) {
  const CodeInfo* info = Find(code);
  return info ? info->meaning : "unknown error";
}

int ErrorCodeToErrno(ErrorCode code) {
  const CodeInfo* info = Find(code);
  return info ? info->posix_errno : EIO;
}

}  // namespace cvfs
