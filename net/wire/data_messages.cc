#include "net/wire/data_messages.h"

#include <flatbuffers/flatbuffers.h>

#include <bit>

#include "net/wire/data_generated.h"

namespace cvfs::net::wire {

namespace fb = data;

namespace {

static_assert(std::endian::native == std::endian::little,
              "block_crcs views the little-endian wire vector directly");

// Every data payload is a flat table, at most one nested vector of structs.
constexpr flatbuffers::uoffset_t kMaxDepth = 4;
constexpr flatbuffers::uoffset_t kMaxTables = 4;

// Verifies `payload` as a T and returns its root, or kMalformedMessage naming `what`.
template <typename T>
Result<const T*> Verified(std::string_view payload, const char* what) {
  const auto* bytes = reinterpret_cast<const uint8_t*>(payload.data());
  if (payload.size() < 8 || payload.size() > FLATBUFFERS_MAX_BUFFER_SIZE) {
    return Status::MalformedMessage(std::string(what) + ": payload too short");
  }
  flatbuffers::Verifier verifier(bytes, payload.size(), kMaxDepth, kMaxTables);
  if (!verifier.VerifyBuffer<T>(nullptr)) {
    return Status::MalformedMessage(std::string(what) + ": payload failed verification");
  }
  return flatbuffers::GetRoot<T>(bytes);
}

Status Missing(const char* what, const char* field) {
  return Status::MalformedMessage(std::string(what) + ": missing field '" + field + "'");
}

fb::Region ToWire(const RemoteRegion& r) { return fb::Region(r.address, r.key, r.length); }
RemoteRegion FromWire(const fb::Region& r) { return {r.address(), r.key(), r.length()}; }

fb::CellAddress ToWire(const CellAddress& c) {
  return fb::CellAddress(c.inode, c.stripe, c.epoch, c.fs_id, c.pg, c.cell_index, c.drive_index);
}
CellAddress FromWire(const fb::CellAddress& c) {
  return {c.fs_id(), c.inode(), c.stripe(), c.cell_index(), c.drive_index(), c.epoch(), c.pg()};
}

std::string Finish(flatbuffers::FlatBufferBuilder& b) {
  return std::string(reinterpret_cast<const char*>(b.GetBufferPointer()), b.GetSize());
}

}  // namespace

std::string EncodeWriteStripeRequest(const WriteStripeRequest& m) {
  flatbuffers::FlatBufferBuilder b(128);
  const fb::Region source = ToWire(m.source);
  b.Finish(fb::CreateWriteStripeRequest(b, m.fs_id, m.inode, m.stripe, m.offset_in_stripe, m.length,
                                        &source, m.source_offset, m.request_id, m.epoch));
  return Finish(b);
}

Result<WriteStripeRequest> DecodeWriteStripeRequest(std::string_view payload) {
  CVFS_ASSIGN_OR_RETURN(const fb::WriteStripeRequest* r,
                        Verified<fb::WriteStripeRequest>(payload, "WriteStripe"));
  if (r->source() == nullptr) return Missing("WriteStripe", "source");
  return WriteStripeRequest{r->fs_id(),         r->inode(),
                            r->stripe(),        r->offset_in_stripe(),
                            r->length(),        FromWire(*r->source()),
                            r->source_offset(), r->request_id(),
                            r->epoch()};
}

std::string EncodeWriteStripeReply(const WriteStripeReply& m) {
  flatbuffers::FlatBufferBuilder b(32);
  b.Finish(fb::CreateWriteStripeReply(b, m.version));
  return Finish(b);
}

Result<WriteStripeReply> DecodeWriteStripeReply(std::string_view payload) {
  CVFS_ASSIGN_OR_RETURN(const fb::WriteStripeReply* r,
                        Verified<fb::WriteStripeReply>(payload, "WriteStripe reply"));
  return WriteStripeReply{r->version()};
}

std::string EncodePrepareCellRequest(const PrepareCellRequest& m) {
  flatbuffers::FlatBufferBuilder b(256 + 4 * m.block_crcs.size());
  auto crcs = b.CreateVector(m.block_crcs.data(), m.block_crcs.size());
  const fb::CellAddress cell = ToWire(m.cell);
  const fb::Region source = ToWire(m.source);
  b.Finish(fb::CreatePrepareCellRequest(b, &cell, m.version, m.length, crcs, &source,
                                        m.source_offset, m.repair));
  return Finish(b);
}

Result<PrepareCellRequest> DecodePrepareCellRequest(std::string_view payload) {
  CVFS_ASSIGN_OR_RETURN(const fb::PrepareCellRequest* r,
                        Verified<fb::PrepareCellRequest>(payload, "PrepareCell"));
  if (r->cell() == nullptr) return Missing("PrepareCell", "cell");
  if (r->source() == nullptr) return Missing("PrepareCell", "source");
  PrepareCellRequest m;
  m.cell = FromWire(*r->cell());
  m.version = r->version();
  m.length = r->length();
  if (r->block_crcs() != nullptr) {
    m.block_crcs = std::span<const uint32_t>(r->block_crcs()->data(), r->block_crcs()->size());
  }
  m.source = FromWire(*r->source());
  m.source_offset = r->source_offset();
  m.repair = r->repair();
  return m;
}

std::string EncodeCellVersionRequest(const CellVersionRequest& m) {
  flatbuffers::FlatBufferBuilder b(64);
  const fb::CellAddress cell = ToWire(m.cell);
  b.Finish(fb::CreateCellVersionRequest(b, &cell, m.version, m.sync));
  return Finish(b);
}

Result<CellVersionRequest> DecodeCellVersionRequest(std::string_view payload) {
  CVFS_ASSIGN_OR_RETURN(const fb::CellVersionRequest* r,
                        Verified<fb::CellVersionRequest>(payload, "CellVersion"));
  if (r->cell() == nullptr) return Missing("CellVersion", "cell");
  return CellVersionRequest{FromWire(*r->cell()), r->version(), r->sync()};
}

std::string EncodeCellVersionsRequest(const CellVersionsRequest& m) {
  flatbuffers::FlatBufferBuilder b(64);
  const fb::CellAddress cell = ToWire(m.cell);
  b.Finish(fb::CreateCellVersionsRequest(b, &cell));
  return Finish(b);
}

Result<CellVersionsRequest> DecodeCellVersionsRequest(std::string_view payload) {
  CVFS_ASSIGN_OR_RETURN(const fb::CellVersionsRequest* r,
                        Verified<fb::CellVersionsRequest>(payload, "CellVersions"));
  if (r->cell() == nullptr) return Missing("CellVersions", "cell");
  return CellVersionsRequest{FromWire(*r->cell())};
}

std::string EncodeCellVersionsReply(const CellVersionsReply& m) {
  flatbuffers::FlatBufferBuilder b(64 + 24 * m.versions.size());
  std::vector<fb::StoredVersion> versions;
  versions.reserve(m.versions.size());
  for (const auto& v : m.versions) versions.emplace_back(v.version, v.length, v.committed);
  b.Finish(fb::CreateCellVersionsReply(b, b.CreateVectorOfStructs(versions)));
  return Finish(b);
}

Result<CellVersionsReply> DecodeCellVersionsReply(std::string_view payload) {
  CVFS_ASSIGN_OR_RETURN(const fb::CellVersionsReply* r,
                        Verified<fb::CellVersionsReply>(payload, "CellVersions reply"));
  CellVersionsReply m;
  if (r->versions() != nullptr) {
    m.versions.reserve(r->versions()->size());
    for (const fb::StoredVersion* v : *r->versions()) {
      m.versions.push_back({v->version(), v->length(), v->committed()});
    }
  }
  return m;
}

std::string EncodeListStripesRequest(const ListStripesRequest& m) {
  flatbuffers::FlatBufferBuilder b(128 + 4 * m.pgs.size());
  auto pgs = b.CreateVector(m.pgs);
  b.Finish(fb::CreateListStripesRequest(b, m.fs_id, m.drive_index, m.pg_count, pgs, m.after_inode,
                                        m.after_stripe, m.from_start, m.max));
  return Finish(b);
}

Result<ListStripesRequest> DecodeListStripesRequest(std::string_view payload) {
  CVFS_ASSIGN_OR_RETURN(const fb::ListStripesRequest* r,
                        Verified<fb::ListStripesRequest>(payload, "ListStripes"));
  ListStripesRequest m;
  m.fs_id = r->fs_id();
  m.drive_index = r->drive_index();
  m.pg_count = r->pg_count();
  m.from_start = r->from_start();
  m.after_inode = r->after_inode();
  m.after_stripe = r->after_stripe();
  m.max = r->max();
  if (m.pg_count == 0) return Status::MalformedMessage("ListStripes: pg_count is 0");
  if (m.max == 0 || m.max > kMaxListedStripes) {
    return Status::MalformedMessage("ListStripes: max " + std::to_string(m.max) + " outside 1.." +
                                    std::to_string(kMaxListedStripes));
  }
  if (r->pgs() == nullptr) return Missing("ListStripes", "pgs");
  if (r->pgs()->size() > kMaxListedPgs) {
    return Status::MalformedMessage("ListStripes: more than " + std::to_string(kMaxListedPgs) +
                                    " PGs");
  }
  m.pgs.assign(r->pgs()->begin(), r->pgs()->end());
  return m;
}

std::string EncodeListStripesReply(const ListStripesReply& m) {
  flatbuffers::FlatBufferBuilder b(64 + 24 * m.stripes.size());
  std::vector<fb::ListedStripe> stripes;
  stripes.reserve(m.stripes.size());
  for (const auto& s : m.stripes) stripes.emplace_back(s.inode, s.stripe, s.pg);
  b.Finish(fb::CreateListStripesReply(b, b.CreateVectorOfStructs(stripes), m.done));
  return Finish(b);
}

Result<ListStripesReply> DecodeListStripesReply(std::string_view payload) {
  CVFS_ASSIGN_OR_RETURN(const fb::ListStripesReply* r,
                        Verified<fb::ListStripesReply>(payload, "ListStripes reply"));
  ListStripesReply m;
  m.done = r->done();
  if (r->stripes() != nullptr) {
    m.stripes.reserve(r->stripes()->size());
    for (const fb::ListedStripe* s : *r->stripes()) {
      m.stripes.push_back({s->inode(), s->stripe(), s->pg()});
    }
  }
  return m;
}

std::string EncodeReadCellRequest(const ReadCellRequest& m) {
  flatbuffers::FlatBufferBuilder b(128);
  const fb::CellAddress cell = ToWire(m.cell);
  const fb::Region target = ToWire(m.target);
  b.Finish(fb::CreateReadCellRequest(b, &cell, m.version, m.offset, m.length,
                                     m.has_target ? &target : nullptr, m.target_offset));
  return Finish(b);
}

Result<ReadCellRequest> DecodeReadCellRequest(std::string_view payload) {
  CVFS_ASSIGN_OR_RETURN(const fb::ReadCellRequest* r,
                        Verified<fb::ReadCellRequest>(payload, "ReadCell"));
  if (r->cell() == nullptr) return Missing("ReadCell", "cell");
  ReadCellRequest m;
  m.cell = FromWire(*r->cell());
  m.version = r->version();
  m.offset = r->offset();
  m.length = r->length();
  m.has_target = r->target() != nullptr;
  if (m.has_target) m.target = FromWire(*r->target());
  m.target_offset = r->target_offset();
  return m;
}

std::string EncodeReadCellReply(uint64_t version, uint32_t length, std::string_view bytes) {
  flatbuffers::FlatBufferBuilder b(64 + bytes.size());
  flatbuffers::Offset<flatbuffers::Vector<uint8_t>> vec = 0;
  if (!bytes.empty()) {
    vec = b.CreateVector(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  }
  b.Finish(fb::CreateReadCellReply(b, version, length, vec));
  return Finish(b);
}

Result<ReadCellReply> DecodeReadCellReply(std::string_view payload) {
  CVFS_ASSIGN_OR_RETURN(const fb::ReadCellReply* r,
                        Verified<fb::ReadCellReply>(payload, "ReadCell reply"));
  ReadCellReply m;
  m.version = r->version();
  m.length = r->length();
  if (r->data() != nullptr) {
    m.data = std::string_view(reinterpret_cast<const char*>(r->data()->data()), r->data()->size());
  }
  return m;
}

std::string EncodeReportCellRequest(const ReportCellRequest& m) {
  flatbuffers::FlatBufferBuilder b(64);
  const fb::CellAddress cell = ToWire(m.cell);
  b.Finish(
      fb::CreateReportCellRequest(b, &cell, static_cast<fb::CellReportKind>(m.kind), m.version));
  return Finish(b);
}

Result<ReportCellRequest> DecodeReportCellRequest(std::string_view payload) {
  CVFS_ASSIGN_OR_RETURN(const fb::ReportCellRequest* r,
                        Verified<fb::ReportCellRequest>(payload, "ReportCell"));
  if (r->cell() == nullptr) return Missing("ReportCell", "cell");
  if (r->kind() > fb::CellReportKind::MAX) {
    return Status::MalformedMessage("ReportCell: unknown kind");
  }
  return ReportCellRequest{FromWire(*r->cell()), static_cast<CellReportKind>(r->kind()),
                           r->version()};
}

std::string EncodeTruncateObjectRequest(const TruncateObjectRequest& m) {
  flatbuffers::FlatBufferBuilder b(64);
  b.Finish(fb::CreateTruncateObjectRequest(b, m.fs_id, m.inode, m.new_size, m.old_size));
  return Finish(b);
}

Result<TruncateObjectRequest> DecodeTruncateObjectRequest(std::string_view payload) {
  CVFS_ASSIGN_OR_RETURN(const fb::TruncateObjectRequest* r,
                        Verified<fb::TruncateObjectRequest>(payload, "TruncateObject"));
  return TruncateObjectRequest{r->fs_id(), r->inode(), r->new_size(), r->old_size()};
}

std::string EncodeDeleteStripesRequest(const DeleteStripesRequest& m) {
  flatbuffers::FlatBufferBuilder b(64);
  b.Finish(fb::CreateDeleteStripesRequest(b, m.fs_id, m.inode, m.first_stripe));
  return Finish(b);
}

Result<DeleteStripesRequest> DecodeDeleteStripesRequest(std::string_view payload) {
  CVFS_ASSIGN_OR_RETURN(const fb::DeleteStripesRequest* r,
                        Verified<fb::DeleteStripesRequest>(payload, "DeleteStripes"));
  return DeleteStripesRequest{r->fs_id(), r->inode(), r->first_stripe()};
}

std::string EncodeEmptyReply() {
  flatbuffers::FlatBufferBuilder b(16);
  b.Finish(fb::CreateEmptyReply(b));
  return Finish(b);
}

Status DecodeEmptyReply(std::string_view payload) {
  return Verified<fb::EmptyReply>(payload, "empty reply").status();
}

}  // namespace cvfs::net::wire
