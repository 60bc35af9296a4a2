// The endpoint every net test starts from: a real RpcEndpoint on `provider`, failing the
// test (Catch REQUIRE) if it cannot be created. Test-only; include from test files.
#pragma once

#include <catch2/catch.hpp>

#include <memory>
#include <string>

#include "net/rpc.h"

namespace cvfs::net::testing {

inline std::unique_ptr<RpcEndpoint> MakeEndpoint(const std::string& provider,
                                                 const std::string& name, bool require_auth = false,
                                                 const std::string& munge_socket = "") {
  RpcOptions options;
  options.provider = provider;
  options.name = name;
  options.require_auth = require_auth;
  options.munge_socket = munge_socket;
  auto endpoint = RpcEndpoint::Create(options);
  REQUIRE(endpoint.ok());
  return std::move(endpoint).value();
}

}  // namespace cvfs::net::testing
