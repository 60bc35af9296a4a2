// Envelope codec: the only code that builds or reads net/wire/cvfs.fbs messages.
//
// DecodeEnvelope verifies the buffer with flatbuffers::Verifier (bounded depth and table
// count) before reading anything, and copies every field out, so the result never points
// into the receive buffer. Arbitrary, truncated or hostile bytes yield kMalformedMessage
// or kProtocolMismatch, never a crash or an unbounded allocation.
// Thread-safety: free functions, safe from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/status.h"

namespace cvfs::net::wire {

// Bumped on any incompatible change of the envelope's meaning.
inline constexpr uint16_t kProtocolVersion = 1;

enum class EnvelopeKind : uint8_t {
  kRequest = 0,
  kReply = 1,
  kHello = 2,
  kHelloReply = 3,
  kError = 4,
};

// Plain, owning mirror of the Envelope table.
struct EnvelopeFields {
  uint16_t version = kProtocolVersion;
  EnvelopeKind kind = EnvelopeKind::kRequest;
  uint64_t request_id = 0;
  uint16_t method = 0;
  uint32_t deadline_ms = 0;
  uint16_t status_code = 0;  // cvfs::ErrorCode
  std::string status_message;
  std::string payload;
  std::string sender_address;  // raw fi_getname bytes
  // kind == kHello only.
  std::string hello_credential;
  std::string hello_node_name;
};

// Serializes `fields` into one message.
std::string EncodeEnvelope(const EnvelopeFields& fields);

// The send path's form: serializes `fields` with `payload` in place of `fields.payload`
// into a builder owned by the calling thread and reused (no heap allocation once warm).
// The view stays valid until this thread's next EncodeEnvelopeView.
std::string_view EncodeEnvelopeView(const EnvelopeFields& fields, std::string_view payload);

// Verifies and decodes one message. kMalformedMessage when verification fails or the
// identifier is wrong; kProtocolMismatch (with `*out` still carrying request_id, kind and
// sender_address, so the caller can answer) when the version differs.
Status DecodeEnvelope(std::string_view bytes, EnvelopeFields* out);

// The credential payload a Hello binds to: the client's and the server's fabric address.
std::string HelloBinding(std::string_view client_address, std::string_view server_address);

}  // namespace cvfs::net::wire
