#include "core/status.h"

#include <catch2/catch.hpp>

namespace cvfs {
namespace {

Result<int> Half(int x) {
  if (x % 2 != 0) return Status::InvalidArgument("odd: " + std::to_string(x));
  return x / 2;
}

Result<int> Quarter(int x) {
  CVFS_ASSIGN_OR_RETURN(int h, Half(x));
  CVFS_ASSIGN_OR_RETURN(int q, Half(h));
  return q;
}

TEST_CASE("Status carries code and message; OK is empty") {
  Status ok;
  CHECK(ok.ok());
  CHECK(ok.ToString() == "ok");
  Status s = Status::DeadlineExceeded("rpc to node3 after 2000 ms");
  CHECK_FALSE(s.ok());
  CHECK(s.code() == ErrorCode::kDeadlineExceeded);
  CHECK(s.ToString() == "deadline_exceeded: rpc to node3 after 2000 ms");
  Status copy = s;
  CHECK(copy.ToString() == s.ToString());
  CHECK(s.WithContext("read /a").ToString() ==
        "deadline_exceeded: read /a: rpc to node3 after 2000 ms");
}

TEST_CASE("Result propagates values and errors") {
  CHECK(Quarter(8).value() == 2);
  auto r = Quarter(6);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == ErrorCode::kInvalidArgument);
  CHECK(std::string(r.status().message()) == "odd: 3");
}

TEST_CASE("every error code has a stable name and errno") {
  CHECK(ErrorCodeName(ErrorCode::kNoSpace) == "no_space");
  CHECK(ErrorCodeToErrno(ErrorCode::kNoSpace) == ENOSPC);
  CHECK(ErrorCodeToErrno(ErrorCode::kNotEmpty) == ENOTEMPTY);
  CHECK(ErrorCodeToErrno(ErrorCode::kNotPrimary) == EAGAIN);
  for (int c = 0; c <= static_cast<int>(kLastErrorCode); ++c) {
    CHECK(ErrorCodeName(static_cast<ErrorCode>(c)) != "unknown");
  }
}

}  // namespace
}  // namespace cvfs
