// Fuzz target over everything that parses bytes from the wire: the envelope decoder, the
// RemoteRegion codec, printable addresses, and the endpoint's receive/dispatch path.
// Built as a libFuzzer target when the compiler supports -fsanitize=fuzzer, else linked
// with fuzz_driver.cc (corpus replay + seeded random inputs) and run by ctest.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "core/logging.h"
#include "net/fabric/address.h"
#include "net/rpc.h"
#include "net/wire/envelope.h"

namespace {

cvfs::net::RpcEndpoint* Endpoint() {
  static std::unique_ptr<cvfs::net::RpcEndpoint> ep = [] {
    spdlog::set_level(spdlog::level::err);  // hostile input is logged (rate-limited) as warn
    cvfs::net::RpcOptions o;
    o.provider = "tcp;ofi_rxm";
    o.name = "fuzz";
    o.require_auth = true;
    auto r = cvfs::net::RpcEndpoint::Create(o);
    return r.ok() ? std::move(r).value() : nullptr;
  }();
  return ep.get();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  cvfs::net::wire::EnvelopeFields fields;
  cvfs::Status st = cvfs::net::wire::DecodeEnvelope(bytes, &fields);
  if (st.ok()) {
    // Anything that decodes re-encodes to something that decodes to the same fields.
    cvfs::net::wire::EnvelopeFields again;
    const std::string re = cvfs::net::wire::EncodeEnvelope(fields);
    if (!cvfs::net::wire::DecodeEnvelope(re, &again).ok() || again.payload != fields.payload ||
        again.request_id != fields.request_id) {
      __builtin_trap();
    }
  }
  (void)cvfs::net::RemoteRegion::Decode(bytes);
  (void)cvfs::net::fabric::ParseAddress(bytes, "tcp;ofi_rxm");
  if (cvfs::net::RpcEndpoint* ep = Endpoint()) ep->DeliverForTesting(bytes);
  return 0;
}
