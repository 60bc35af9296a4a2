// Status and Result<T>: the return type of every fallible call in ConvergeFS.
//
// A Status is a code from core/error_codes.h plus a human message. An OK status holds no
// allocation, so returning it on the hot path is free. Result<T> holds either a value or
// a non-OK Status. Exceptions never cross module boundaries; errno appears only at the
// FUSE and MPI-IO edges (ErrorCodeToErrno).
// Thread-safety: value types; distinct objects may be used from distinct threads.
#pragma once

#include <cassert>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include "core/error_codes.h"

namespace cvfs {

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(ErrorCode code, std::string message);

  static Status Ok() { return Status(); }
  static Status InvalidArgument(std::string msg) {
    return {ErrorCode::kInvalidArgument, std::move(msg)};
  }
  static Status NotFound(std::string msg) { return {ErrorCode::kNotFound, std::move(msg)}; }
  static Status AlreadyExists(std::string msg) {
    return {ErrorCode::kAlreadyExists, std::move(msg)};
  }
  static Status PermissionDenied(std::string msg) {
    return {ErrorCode::kPermissionDenied, std::move(msg)};
  }
  static Status Unauthenticated(std::string msg) {
    return {ErrorCode::kUnauthenticated, std::move(msg)};
  }
  static Status DeadlineExceeded(std::string msg) {
    return {ErrorCode::kDeadlineExceeded, std::move(msg)};
  }
  static Status Unavailable(std::string msg) { return {ErrorCode::kUnavailable, std::move(msg)}; }
  static Status MalformedMessage(std::string msg) {
    return {ErrorCode::kMalformedMessage, std::move(msg)};
  }
  static Status ProtocolMismatch(std::string msg) {
    return {ErrorCode::kProtocolMismatch, std::move(msg)};
  }
  static Status IoError(std::string msg) { return {ErrorCode::kIoError, std::move(msg)}; }
  static Status NoSpace(std::string msg) { return {ErrorCode::kNoSpace, std::move(msg)}; }
  static Status Corruption(std::string msg) { return {ErrorCode::kCorruption, std::move(msg)}; }
  static Status Conflict(std::string msg) { return {ErrorCode::kConflict, std::move(msg)}; }
  static Status Cancelled(std::string msg) { return {ErrorCode::kCancelled, std::move(msg)}; }
  static Status ResourceExhausted(std::string msg) {
    return {ErrorCode::kResourceExhausted, std::move(msg)};
  }
  static Status Internal(std::string msg) { return {ErrorCode::kInternal, std::move(msg)}; }
  static Status NotSupported(std::string msg) { return {ErrorCode::kNotSupported, std::move(msg)}; }
  static Status ConfigError(std::string msg) { return {ErrorCode::kConfigError, std::move(msg)}; }

  bool ok() const { return state_ == nullptr; }
  ErrorCode code() const { return state_ ? state_->code : ErrorCode::kOk; }
  // The message without the code name; empty when OK.
  std::string_view message() const { return state_ ? std::string_view(state_->message) : ""; }
  // "deadline_exceeded: rpc to node3 timed out after 2000 ms", or "ok".
  std::string ToString() const;

  // Returns a copy whose message is prefixed with `context` ("open /a: not_found: ...").
  Status WithContext(std::string_view context) const;

  Status(const Status& other);
  Status& operator=(const Status& other);
  Status(Status&&) noexcept = default;
  Status& operator=(Status&&) noexcept = default;

 private:
  struct State {
    ErrorCode code;
    std::string message;
  };
  std::unique_ptr<State> state_;  // null means OK
};

// A value of T or a non-OK Status. Constructing a Result from an OK Status is a bug
// (asserted): an OK Result must carry a value.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}         // NOLINT(runtime/explicit)
  Result(Status status) : status_(std::move(status)) {  // NOLINT(runtime/explicit)
    assert(!status_.ok() && "Result constructed from an OK Status without a value");
    if (status_.ok()) status_ = Status::Internal("Result built from OK status without value");
  }

  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }

  T& value() & {
    assert(ok());
    return *value_;
  }
  const T& value() const& {
    assert(ok());
    return *value_;
  }
  T&& value() && {
    assert(ok());
    return std::move(*value_);
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  T value_or(T fallback) const { return ok() ? *value_ : std::move(fallback); }

 private:
  std::optional<T> value_;
  Status status_;
};

// Propagates a non-OK Status from an expression returning Status.
#define CVFS_RETURN_IF_ERROR(expr)               \
  do {                                           \
    ::cvfs::Status cvfs_status_ = (expr);        \
    if (!cvfs_status_.ok()) return cvfs_status_; \
  } while (0)

#define CVFS_CONCAT_INNER(a, b) a##b
#define CVFS_CONCAT(a, b) CVFS_CONCAT_INNER(a, b)

// `CVFS_ASSIGN_OR_RETURN(auto x, Foo());` declares x from Foo()'s value or returns its Status.
#define CVFS_ASSIGN_OR_RETURN(lhs, expr) \
  CVFS_ASSIGN_OR_RETURN_IMPL(CVFS_CONCAT(cvfs_result_, __LINE__), lhs, expr)
#define CVFS_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                               \
  if (!tmp.ok()) return tmp.status();              \
  lhs = std::move(tmp).value()

}  // namespace cvfs
