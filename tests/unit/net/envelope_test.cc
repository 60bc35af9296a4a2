// Envelope codec: round trip, and the verifier's refusal of garbage, truncation and
// foreign versions.
#include <catch2/catch.hpp>

#include <random>

#include "net/fabric/address.h"
#include "net/wire/envelope.h"

using namespace cvfs;
using namespace cvfs::net;

namespace {

wire::EnvelopeFields Sample() {
  wire::EnvelopeFields f;
  f.kind = wire::EnvelopeKind::kHello;
  f.request_id = 0x1122334455667788ull;
  f.method = 60000;
  f.deadline_ms = 1500;
  f.status_code = 4;
  f.status_message = "denied";
  f.payload = std::string("pay\0load", 8);
  f.sender_address = std::string("\x02\x00\x11\x22", 4);
  f.hello_credential = "MUNGE:abc";
  f.hello_node_name = "node7";
  return f;
}

}  // namespace

TEST_CASE("envelope round trips every field", "[net][wire]") {
  const auto in = Sample();
  wire::EnvelopeFields out;
  REQUIRE(wire::DecodeEnvelope(wire::EncodeEnvelope(in), &out).ok());
  CHECK(out.version == wire::kProtocolVersion);
  CHECK(out.kind == in.kind);
  CHECK(out.request_id == in.request_id);
  CHECK(out.method == in.method);
  CHECK(out.deadline_ms == in.deadline_ms);
  CHECK(out.status_code == in.status_code);
  CHECK(out.status_message == in.status_message);
  CHECK(out.payload == in.payload);
  CHECK(out.sender_address == in.sender_address);
  CHECK(out.hello_credential == in.hello_credential);
  CHECK(out.hello_node_name == in.hello_node_name);
}

TEST_CASE("envelope decoder rejects garbage and every truncation", "[net][wire]") {
  const std::string good = wire::EncodeEnvelope(Sample());
  wire::EnvelopeFields out;
  for (size_t len = 0; len < good.size(); ++len) {
    INFO("truncated to " << len);
    Status st = wire::DecodeEnvelope(std::string_view(good).substr(0, len), &out);
    // Cutting only trailing alignment padding may leave a complete message.
    if (st.ok()) {
      CHECK(len + 8 > good.size());
      CHECK(out.payload == Sample().payload);
    } else {
      CHECK(st.code() == ErrorCode::kMalformedMessage);
    }
  }
  std::mt19937_64 rng(42);
  int accepted = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string junk(rng() % 300, '\0');
    for (auto& c : junk) c = static_cast<char>(rng());
    if (i % 2 == 0 && junk.size() >= 8) junk.replace(4, 4, "CVFS");  // pass the identifier
    if (wire::DecodeEnvelope(junk, &out).ok()) accepted++;
  }
  CHECK(accepted == 0);
  // Bit flips of a valid message: never a crash; most are refused.
  for (size_t i = 0; i < good.size() * 8; ++i) {
    std::string flipped = good;
    flipped[i / 8] ^= static_cast<char>(1 << (i % 8));
    (void)wire::DecodeEnvelope(flipped, &out);
  }
}

TEST_CASE("envelope with another protocol version is a protocol mismatch", "[net][wire]") {
  auto f = Sample();
  f.version = wire::kProtocolVersion + 1;
  wire::EnvelopeFields out;
  Status st = wire::DecodeEnvelope(wire::EncodeEnvelope(f), &out);
  CHECK(st.code() == ErrorCode::kProtocolMismatch);
  CHECK(out.request_id == f.request_id);  // enough to address the error reply
}

TEST_CASE("fabric addresses format and parse", "[net][wire]") {
  const std::string raw("\x02\x00\xa0\xff", 4);
  const std::string text = fabric::FormatAddress("tcp;ofi_rxm", raw);
  CHECK(text == "tcp;ofi_rxm://0200a0ff");
  auto back = fabric::ParseAddress(text, "tcp;ofi_rxm");
  REQUIRE(back.ok());
  CHECK(*back == raw);
  CHECK(fabric::ParseAddress(text, "shm").status().code() == ErrorCode::kInvalidArgument);
  CHECK(!fabric::ParseAddress("tcp;ofi_rxm://0g", "tcp;ofi_rxm").ok());
  CHECK(!fabric::ParseAddress("tcp;ofi_rxm://", "tcp;ofi_rxm").ok());
  CHECK(!fabric::ParseAddress("no-prefix", "tcp;ofi_rxm").ok());
}
