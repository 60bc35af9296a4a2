#include "net/wire/envelope.h"

#include <flatbuffers/flatbuffers.h>

#include "net/wire/cvfs_generated.h"

namespace cvfs::net::wire {

namespace {

// Limits for the verifier: an envelope is a flat table with one nested table.
constexpr flatbuffers::uoffset_t kMaxDepth = 8;
constexpr flatbuffers::uoffset_t kMaxTables = 16;

std::string Bytes(const flatbuffers::Vector<uint8_t>* v) {
  if (v == nullptr) return {};
  return std::string(reinterpret_cast<const char*>(v->data()), v->size());
}

std::string Str(const flatbuffers::String* s) {
  if (s == nullptr) return {};
  return std::string(s->data(), s->size());
}

}  // namespace

std::string EncodeEnvelope(const EnvelopeFields& f) {
  return std::string(EncodeEnvelopeView(f, f.payload));
}

std::string_view EncodeEnvelopeView(const EnvelopeFields& f, std::string_view payload_bytes) {
  thread_local flatbuffers::FlatBufferBuilder b(1024);
  b.Clear();
  auto bytes = [](flatbuffers::FlatBufferBuilder& fbb, std::string_view s) {
    return fbb.CreateVector(reinterpret_cast<const uint8_t*>(s.data()), s.size());
  };
  auto status_message = f.status_message.empty() ? 0 : b.CreateString(f.status_message);
  auto payload = payload_bytes.empty() ? 0 : bytes(b, payload_bytes);
  auto sender = f.sender_address.empty() ? 0 : bytes(b, f.sender_address);
  flatbuffers::Offset<HelloBody> hello = 0;
  if (f.kind == EnvelopeKind::kHello) {
    hello =
        CreateHelloBody(b, b.CreateString(f.hello_credential), b.CreateString(f.hello_node_name));
  }
  EnvelopeBuilder e(b);
  e.add_version(f.version);
  e.add_kind(static_cast<Kind>(f.kind));
  e.add_request_id(f.request_id);
  e.add_method(f.method);
  e.add_deadline_ms(f.deadline_ms);
  e.add_status_code(f.status_code);
  if (!status_message.IsNull()) e.add_status_message(status_message);
  if (!payload.IsNull()) e.add_payload(payload);
  if (!sender.IsNull()) e.add_sender_address(sender);
  if (!hello.IsNull()) e.add_hello(hello);
  b.Finish(e.Finish(), EnvelopeIdentifier());
  return std::string_view(reinterpret_cast<const char*>(b.GetBufferPointer()), b.GetSize());
}

Status DecodeEnvelope(std::string_view bytes, EnvelopeFields* out) {
  *out = EnvelopeFields{};
  const auto* data = reinterpret_cast<const uint8_t*>(bytes.data());
  if (bytes.size() < 8 || bytes.size() > FLATBUFFERS_MAX_BUFFER_SIZE) {
    return Status::MalformedMessage("envelope too short");
  }
  if (!EnvelopeBufferHasIdentifier(data)) {
    return Status::MalformedMessage("not a CVFS envelope (bad identifier)");
  }
  flatbuffers::Verifier verifier(data, bytes.size(), kMaxDepth, kMaxTables);
  if (!VerifyEnvelopeBuffer(verifier)) {
    return Status::MalformedMessage("envelope failed verification");
  }
  const Envelope* e = GetEnvelope(data);
  out->version = e->version();
  out->kind = static_cast<EnvelopeKind>(e->kind());
  out->request_id = e->request_id();
  out->sender_address = Bytes(e->sender_address());
  if (e->kind() > Kind::MAX) return Status::MalformedMessage("unknown envelope kind");
  if (out->version != kProtocolVersion) {
    return Status::ProtocolMismatch("protocol version " + std::to_string(out->version) +
                                    ", this node speaks " + std::to_string(kProtocolVersion));
  }
  out->method = e->method();
  out->deadline_ms = e->deadline_ms();
  out->status_code = e->status_code();
  out->status_message = Str(e->status_message());
  out->payload = Bytes(e->payload());
  if (const HelloBody* h = e->hello()) {
    out->hello_credential = Str(h->credential());
    out->hello_node_name = Str(h->node_name());
  }
  if (out->kind == EnvelopeKind::kHello && e->hello() == nullptr) {
    return Status::MalformedMessage("hello without body");
  }
  return Status::Ok();
}

std::string HelloBinding(std::string_view client_address, std::string_view server_address) {
  std::string s = "cvfs-hello-v1:";
  s += std::to_string(client_address.size());
  s += ':';
  s.append(client_address);
  s += std::to_string(server_address.size());
  s += ':';
  s.append(server_address);
  return s;
}

}  // namespace cvfs::net::wire
