#include "net/wire/meta_messages.h"

#include <flatbuffers/flatbuffers.h>

#include <utility>

#include "net/wire/meta_generated.h"

namespace cvfs::net::wire {

namespace fb = meta;

namespace {

// The deepest chain of tables is root -> body -> header -> on_behalf (and root -> readdir
// reply -> entry); a readdir reply holds up to kMaxReaddirEntries entry tables.
constexpr flatbuffers::uoffset_t kMaxDepth = 8;
constexpr flatbuffers::uoffset_t kMaxTables = kMaxReaddirEntries + 16;

Status Malformed(const char* what, const std::string& why) {
  return Status::MalformedMessage(std::string(what) + ": " + why);
}

Status Missing(const char* what, const char* field) {
  return Malformed(what, std::string("missing field '") + field + "'");
}

Status TooLarge(const char* what, const char* field, size_t size, size_t max) {
  return Malformed(what, std::string("field '") + field + "' holds " + std::to_string(size) +
                             " (max " + std::to_string(max) + ")");
}

// Verifies `payload` as a MetaMessage whose body is a T and returns the body, or
// kMalformedMessage naming `what`.
template <typename T>
Result<const T*> Verified(std::string_view payload, const char* what) {
  const auto* bytes = reinterpret_cast<const uint8_t*>(payload.data());
  if (payload.size() < 8 || payload.size() > FLATBUFFERS_MAX_BUFFER_SIZE) {
    return Malformed(what, "payload of " + std::to_string(payload.size()) + " bytes");
  }
  flatbuffers::Verifier verifier(bytes, payload.size(), kMaxDepth, kMaxTables);
  if (!verifier.VerifyBuffer<fb::MetaMessage>(nullptr)) {
    return Malformed(what, "payload failed verification");
  }
  const fb::MetaMessage* root = flatbuffers::GetRoot<fb::MetaMessage>(bytes);
  if (root->body_type() != fb::BodyTraits<T>::enum_value) {
    const auto tag = static_cast<unsigned>(root->body_type());
    return Malformed(what, "payload carries another message (table tag " + std::to_string(tag) +
                               " " + fb::EnumNameBody(root->body_type()) + ")");
  }
  const T* body = static_cast<const T*>(root->body());
  if (body == nullptr) return Missing(what, "body");
  return body;
}

template <typename T>
std::string Finish(flatbuffers::FlatBufferBuilder& b, flatbuffers::Offset<T> body) {
  b.Finish(fb::CreateMetaMessage(b, fb::BodyTraits<T>::enum_value, body.Union()));
  return std::string(reinterpret_cast<const char*>(b.GetBufferPointer()), b.GetSize());
}

// A string field, copied. Absent: kMalformedMessage when `required`, else empty.
Result<std::string> StringOf(const flatbuffers::String* s, const char* what, const char* field,
                             size_t max, bool required) {
  if (s == nullptr) {
    if (required) return Missing(what, field);
    return std::string();
  }
  if (s->size() > max) return TooLarge(what, field, s->size(), max);
  return std::string(s->string_view());
}

Result<std::string> NameOf(const flatbuffers::String* s, const char* what, const char* field) {
  return StringOf(s, what, field, kMaxWireNameBytes, /*required=*/true);
}

// An opaque byte field, viewed in place (absent: empty).
Result<std::string_view> BytesOf(const flatbuffers::Vector<uint8_t>* v, const char* what,
                                 const char* field, size_t max) {
  if (v == nullptr) return std::string_view();
  if (v->size() > max) return TooLarge(what, field, v->size(), max);
  return std::string_view(reinterpret_cast<const char*>(v->data()), v->size());
}

flatbuffers::Offset<flatbuffers::Vector<uint8_t>> BytesToWire(flatbuffers::FlatBufferBuilder& b,
                                                              std::string_view bytes) {
  return b.CreateVector(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
}

Result<InodeType> TypeOf(fb::InodeType t, const char* what) {
  if (t > fb::InodeType::MAX) {
    return Malformed(what, "unknown inode type " + std::to_string(static_cast<unsigned>(t)));
  }
  return static_cast<InodeType>(t);
}

fb::InodeType ToWire(InodeType t) { return static_cast<fb::InodeType>(t); }

flatbuffers::Offset<fb::MetaHeader> ToWire(flatbuffers::FlatBufferBuilder& b, const MetaHeader& h) {
  flatbuffers::Offset<fb::OnBehalf> on_behalf = 0;
  if (h.has_on_behalf) {
    on_behalf =
        fb::CreateOnBehalf(b, h.on_behalf.uid, h.on_behalf.gid, b.CreateVector(h.on_behalf.groups));
  }
  return fb::CreateMetaHeader(b, h.fs_id, h.pg, h.epoch, h.client_id, h.request_id, on_behalf);
}

Result<MetaHeader> HeaderOf(const fb::MetaHeader* h, const char* what) {
  if (h == nullptr) return Missing(what, "header");
  MetaHeader m;
  m.fs_id = h->fs_id();
  m.pg = h->pg();
  m.epoch = h->epoch();
  m.client_id = h->client_id();
  m.request_id = h->request_id();
  if (const fb::OnBehalf* o = h->on_behalf(); o != nullptr) {
    m.has_on_behalf = true;
    m.on_behalf.uid = o->uid();
    m.on_behalf.gid = o->gid();
    if (o->groups() != nullptr) {
      if (o->groups()->size() > kMaxOnBehalfGroups) {
        return TooLarge(what, "groups", o->groups()->size(), kMaxOnBehalfGroups);
      }
      m.on_behalf.groups.assign(o->groups()->begin(), o->groups()->end());
    }
  }
  return m;
}

flatbuffers::Offset<fb::Attr> ToWire(flatbuffers::FlatBufferBuilder& b, const Attr& a) {
  return fb::CreateAttr(b, a.inode, ToWire(a.type), a.mode, a.uid, a.gid, a.nlink, a.size,
                        a.atime_ns, a.mtime_ns, a.ctime_ns, a.parent);
}

Result<Attr> AttrOf(const fb::Attr* a, const char* what) {
  if (a == nullptr) return Missing(what, "attr");
  CVFS_ASSIGN_OR_RETURN(InodeType type, TypeOf(a->type(), what));
  return Attr{a->inode(), type,          a->mode(),     a->uid(),      a->gid(),   a->nlink(),
              a->size(),  a->atime_ns(), a->mtime_ns(), a->ctime_ns(), a->parent()};
}

// Requests of shape {header, parent, name}: Lookup, Unlink, Rmdir.
template <auto kCreate, typename M>
std::string EncodeParentName(const M& m) {
  flatbuffers::FlatBufferBuilder b(128 + m.name.size());
  const auto header = ToWire(b, m.header);
  const auto name = b.CreateString(m.name);
  return Finish(b, kCreate(b, header, m.parent, name));
}

template <typename W, typename M>
Result<M> DecodeParentName(std::string_view payload, const char* what) {
  CVFS_ASSIGN_OR_RETURN(const W* r, Verified<W>(payload, what));
  CVFS_ASSIGN_OR_RETURN(MetaHeader header, HeaderOf(r->header(), what));
  CVFS_ASSIGN_OR_RETURN(std::string name, NameOf(r->name(), what, "name"));
  return M{std::move(header), r->parent(), std::move(name)};
}

// Requests of shape {header, inode}: GetAttr, Readlink.
template <auto kCreate, typename M>
std::string EncodeHeaderInode(const M& m) {
  flatbuffers::FlatBufferBuilder b(128);
  const auto header = ToWire(b, m.header);
  return Finish(b, kCreate(b, header, m.inode));
}

template <typename W, typename M>
Result<M> DecodeHeaderInode(std::string_view payload, const char* what) {
  CVFS_ASSIGN_OR_RETURN(const W* r, Verified<W>(payload, what));
  CVFS_ASSIGN_OR_RETURN(MetaHeader header, HeaderOf(r->header(), what));
  return M{std::move(header), r->inode()};
}

}  // namespace

std::string EncodeLookupRequest(const LookupRequest& m) {
  return EncodeParentName<fb::CreateLookupRequest>(m);
}
Result<LookupRequest> DecodeLookupRequest(std::string_view payload) {
  return DecodeParentName<fb::LookupRequest, LookupRequest>(payload, "MetaLookup");
}

std::string EncodeUnlinkRequest(const UnlinkRequest& m) {
  return EncodeParentName<fb::CreateUnlinkRequest>(m);
}
Result<UnlinkRequest> DecodeUnlinkRequest(std::string_view payload) {
  return DecodeParentName<fb::UnlinkRequest, UnlinkRequest>(payload, "MetaUnlink");
}

std::string EncodeRmdirRequest(const RmdirRequest& m) {
  return EncodeParentName<fb::CreateRmdirRequest>(m);
}
Result<RmdirRequest> DecodeRmdirRequest(std::string_view payload) {
  return DecodeParentName<fb::RmdirRequest, RmdirRequest>(payload, "MetaRmdir");
}

std::string EncodeGetAttrRequest(const GetAttrRequest& m) {
  return EncodeHeaderInode<fb::CreateGetAttrRequest>(m);
}
Result<GetAttrRequest> DecodeGetAttrRequest(std::string_view payload) {
  return DecodeHeaderInode<fb::GetAttrRequest, GetAttrRequest>(payload, "MetaGetAttr");
}

std::string EncodeReadlinkRequest(const ReadlinkRequest& m) {
  return EncodeHeaderInode<fb::CreateReadlinkRequest>(m);
}
Result<ReadlinkRequest> DecodeReadlinkRequest(std::string_view payload) {
  return DecodeHeaderInode<fb::ReadlinkRequest, ReadlinkRequest>(payload, "MetaReadlink");
}

std::string EncodeSetAttrRequest(const SetAttrRequest& m) {
  flatbuffers::FlatBufferBuilder b(192);
  const auto header = ToWire(b, m.header);
  return Finish(b, fb::CreateSetAttrRequest(b, header, m.inode, m.mask, m.mode, m.uid, m.gid,
                                            m.size, m.atime_ns, m.mtime_ns));
}

Result<SetAttrRequest> DecodeSetAttrRequest(std::string_view payload) {
  constexpr const char* kWhat = "MetaSetAttr";
  CVFS_ASSIGN_OR_RETURN(const fb::SetAttrRequest* r, Verified<fb::SetAttrRequest>(payload, kWhat));
  CVFS_ASSIGN_OR_RETURN(MetaHeader header, HeaderOf(r->header(), kWhat));
  return SetAttrRequest{std::move(header), r->inode(), r->mask(),     r->mode(),    r->uid(),
                        r->gid(),          r->size(),  r->atime_ns(), r->mtime_ns()};
}

std::string EncodeCreateRequest(const CreateRequest& m) {
  flatbuffers::FlatBufferBuilder b(160 + m.name.size() + m.symlink_target.size());
  const auto header = ToWire(b, m.header);
  const auto name = b.CreateString(m.name);
  const auto target = b.CreateString(m.symlink_target);
  return Finish(b, fb::CreateCreateRequest(b, header, m.parent, name, ToWire(m.type), m.mode,
                                           m.exclusive, m.truncate, target));
}

Result<CreateRequest> DecodeCreateRequest(std::string_view payload) {
  constexpr const char* kWhat = "MetaCreate";
  CVFS_ASSIGN_OR_RETURN(const fb::CreateRequest* r, Verified<fb::CreateRequest>(payload, kWhat));
  CreateRequest m;
  CVFS_ASSIGN_OR_RETURN(m.header, HeaderOf(r->header(), kWhat));
  m.parent = r->parent();
  CVFS_ASSIGN_OR_RETURN(m.name, NameOf(r->name(), kWhat, "name"));
  CVFS_ASSIGN_OR_RETURN(m.type, TypeOf(r->type(), kWhat));
  m.mode = r->mode();
  m.exclusive = r->exclusive();
  m.truncate = r->truncate();
  CVFS_ASSIGN_OR_RETURN(m.symlink_target, StringOf(r->symlink_target(), kWhat, "symlink_target",
                                                   kMaxWireTargetBytes, /*required=*/false));
  return m;
}

std::string EncodeMkdirRequest(const MkdirRequest& m) {
  flatbuffers::FlatBufferBuilder b(128 + m.name.size());
  const auto header = ToWire(b, m.header);
  const auto name = b.CreateString(m.name);
  return Finish(b, fb::CreateMkdirRequest(b, header, m.parent, name, m.mode));
}

Result<MkdirRequest> DecodeMkdirRequest(std::string_view payload) {
  constexpr const char* kWhat = "MetaMkdir";
  CVFS_ASSIGN_OR_RETURN(const fb::MkdirRequest* r, Verified<fb::MkdirRequest>(payload, kWhat));
  CVFS_ASSIGN_OR_RETURN(MetaHeader header, HeaderOf(r->header(), kWhat));
  CVFS_ASSIGN_OR_RETURN(std::string name, NameOf(r->name(), kWhat, "name"));
  return MkdirRequest{std::move(header), r->parent(), std::move(name), r->mode()};
}

std::string EncodeRenameRequest(const RenameRequest& m) {
  flatbuffers::FlatBufferBuilder b(160 + m.src_name.size() + m.dst_name.size());
  const auto header = ToWire(b, m.header);
  const auto src = b.CreateString(m.src_name);
  const auto dst = b.CreateString(m.dst_name);
  return Finish(b,
                fb::CreateRenameRequest(b, header, m.src_parent, src, m.dst_parent, dst, m.flags));
}

Result<RenameRequest> DecodeRenameRequest(std::string_view payload) {
  constexpr const char* kWhat = "MetaRename";
  CVFS_ASSIGN_OR_RETURN(const fb::RenameRequest* r, Verified<fb::RenameRequest>(payload, kWhat));
  RenameRequest m;
  CVFS_ASSIGN_OR_RETURN(m.header, HeaderOf(r->header(), kWhat));
  m.src_parent = r->src_parent();
  CVFS_ASSIGN_OR_RETURN(m.src_name, NameOf(r->src_name(), kWhat, "src_name"));
  m.dst_parent = r->dst_parent();
  CVFS_ASSIGN_OR_RETURN(m.dst_name, NameOf(r->dst_name(), kWhat, "dst_name"));
  m.flags = r->flags();
  return m;
}

std::string EncodeLinkRequest(const LinkRequest& m) {
  flatbuffers::FlatBufferBuilder b(128 + m.new_name.size());
  const auto header = ToWire(b, m.header);
  const auto name = b.CreateString(m.new_name);
  return Finish(b, fb::CreateLinkRequest(b, header, m.inode, m.new_parent, name));
}

Result<LinkRequest> DecodeLinkRequest(std::string_view payload) {
  constexpr const char* kWhat = "MetaLink";
  CVFS_ASSIGN_OR_RETURN(const fb::LinkRequest* r, Verified<fb::LinkRequest>(payload, kWhat));
  CVFS_ASSIGN_OR_RETURN(MetaHeader header, HeaderOf(r->header(), kWhat));
  CVFS_ASSIGN_OR_RETURN(std::string name, NameOf(r->new_name(), kWhat, "new_name"));
  return LinkRequest{std::move(header), r->inode(), r->new_parent(), std::move(name)};
}

std::string EncodeReaddirRequest(const ReaddirRequest& m) {
  flatbuffers::FlatBufferBuilder b(128);
  const auto header = ToWire(b, m.header);
  return Finish(b, fb::CreateReaddirRequest(b, header, m.dir, m.cookie, m.max_entries));
}

Result<ReaddirRequest> DecodeReaddirRequest(std::string_view payload) {
  constexpr const char* kWhat = "MetaReaddir";
  CVFS_ASSIGN_OR_RETURN(const fb::ReaddirRequest* r, Verified<fb::ReaddirRequest>(payload, kWhat));
  CVFS_ASSIGN_OR_RETURN(MetaHeader header, HeaderOf(r->header(), kWhat));
  if (r->max_entries() > kMaxReaddirEntries) {
    return TooLarge(kWhat, "max_entries", r->max_entries(), kMaxReaddirEntries);
  }
  return ReaddirRequest{std::move(header), r->dir(), r->cookie(), r->max_entries()};
}

std::string EncodeStatFsRequest(const StatFsRequest& m) {
  flatbuffers::FlatBufferBuilder b(128);
  const auto header = ToWire(b, m.header);
  return Finish(b, fb::CreateStatFsRequest(b, header));
}

Result<StatFsRequest> DecodeStatFsRequest(std::string_view payload) {
  constexpr const char* kWhat = "MetaStatFs";
  CVFS_ASSIGN_OR_RETURN(const fb::StatFsRequest* r, Verified<fb::StatFsRequest>(payload, kWhat));
  CVFS_ASSIGN_OR_RETURN(MetaHeader header, HeaderOf(r->header(), kWhat));
  return StatFsRequest{std::move(header)};
}

std::string EncodeOpenRequest(const OpenRequest& m) {
  flatbuffers::FlatBufferBuilder b(128);
  const auto header = ToWire(b, m.header);
  return Finish(b, fb::CreateOpenRequest(b, header, m.inode, m.flags));
}

Result<OpenRequest> DecodeOpenRequest(std::string_view payload) {
  constexpr const char* kWhat = "MetaOpen";
  CVFS_ASSIGN_OR_RETURN(const fb::OpenRequest* r, Verified<fb::OpenRequest>(payload, kWhat));
  CVFS_ASSIGN_OR_RETURN(MetaHeader header, HeaderOf(r->header(), kWhat));
  return OpenRequest{std::move(header), r->inode(), r->flags()};
}

std::string EncodeReleaseRequest(const ReleaseRequest& m) {
  flatbuffers::FlatBufferBuilder b(128);
  const auto header = ToWire(b, m.header);
  return Finish(b, fb::CreateReleaseRequest(b, header, m.inode, m.handle));
}

Result<ReleaseRequest> DecodeReleaseRequest(std::string_view payload) {
  constexpr const char* kWhat = "MetaRelease";
  CVFS_ASSIGN_OR_RETURN(const fb::ReleaseRequest* r, Verified<fb::ReleaseRequest>(payload, kWhat));
  CVFS_ASSIGN_OR_RETURN(MetaHeader header, HeaderOf(r->header(), kWhat));
  return ReleaseRequest{std::move(header), r->inode(), r->handle()};
}

std::string EncodeCommitSizeRequest(const CommitSizeRequest& m) {
  flatbuffers::FlatBufferBuilder b(128);
  const auto header = ToWire(b, m.header);
  return Finish(b, fb::CreateCommitSizeRequest(b, header, m.inode, m.size, m.mtime_ns));
}

Result<CommitSizeRequest> DecodeCommitSizeRequest(std::string_view payload) {
  constexpr const char* kWhat = "MetaCommitSize";
  CVFS_ASSIGN_OR_RETURN(const fb::CommitSizeRequest* r,
                        Verified<fb::CommitSizeRequest>(payload, kWhat));
  CVFS_ASSIGN_OR_RETURN(MetaHeader header, HeaderOf(r->header(), kWhat));
  return CommitSizeRequest{std::move(header), r->inode(), r->size(), r->mtime_ns()};
}

std::string EncodeApplyRequest(const ApplyRequest& m) {
  size_t bytes = 96 + m.batch.size();
  for (std::string_view more : m.more) bytes += 16 + more.size();
  flatbuffers::FlatBufferBuilder b(bytes);
  const auto batch = BytesToWire(b, m.batch);
  flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<fb::BatchBytes>>> more;
  if (!m.more.empty()) {
    std::vector<flatbuffers::Offset<fb::BatchBytes>> items;
    items.reserve(m.more.size());
    for (std::string_view one : m.more)
      items.push_back(fb::CreateBatchBytes(b, BytesToWire(b, one)));
    more = b.CreateVector(items);
  }
  return Finish(b,
                fb::CreateApplyRequest(b, m.fs_id, m.pg, m.sequence, m.epoch, batch, more, m.sync));
}

Result<ApplyRequest> DecodeApplyRequest(std::string_view payload) {
  constexpr const char* kWhat = "MetaApply";
  CVFS_ASSIGN_OR_RETURN(const fb::ApplyRequest* r, Verified<fb::ApplyRequest>(payload, kWhat));
  ApplyRequest m{r->fs_id(), r->pg(), r->sequence(), r->epoch(), {}, {}, r->sync()};
  CVFS_ASSIGN_OR_RETURN(m.batch, BytesOf(r->batch(), kWhat, "batch", kMaxApplyBatchBytes));
  size_t total = m.batch.size();
  if (const auto* more = r->more()) {
    if (more->size() > kMaxApplyMoreBatches) {
      return TooLarge(kWhat, "more", more->size(), kMaxApplyMoreBatches);
    }
    m.more.reserve(more->size());
    for (const fb::BatchBytes* one : *more) {
      if (one == nullptr) return Malformed(kWhat, "null batch in more");
      CVFS_ASSIGN_OR_RETURN(std::string_view bytes,
                            BytesOf(one->bytes(), kWhat, "more", kMaxApplyBatchBytes));
      total += bytes.size();
      if (total > kMaxApplyBatchBytes)
        return TooLarge(kWhat, "batches", total, kMaxApplyBatchBytes);
      m.more.push_back(bytes);
    }
  }
  return m;
}

std::string EncodePartRequest(const PartRequest& m) {
  flatbuffers::FlatBufferBuilder b(160 + m.body.size());
  const auto header = ToWire(b, m.header);
  const auto body = BytesToWire(b, m.body);
  return Finish(b, fb::CreatePartRequest(b, header, m.kind, m.intent_id, body));
}

Result<PartRequest> DecodePartRequest(std::string_view payload) {
  constexpr const char* kWhat = "MetaPart";
  CVFS_ASSIGN_OR_RETURN(const fb::PartRequest* r, Verified<fb::PartRequest>(payload, kWhat));
  CVFS_ASSIGN_OR_RETURN(MetaHeader header, HeaderOf(r->header(), kWhat));
  CVFS_ASSIGN_OR_RETURN(std::string_view body,
                        BytesOf(r->body(), kWhat, "body", kMaxPartBodyBytes));
  return PartRequest{std::move(header), r->kind(), r->intent_id(), body};
}

std::string EncodeAttrReply(const AttrReply& m) {
  flatbuffers::FlatBufferBuilder b(128);
  const auto attr = ToWire(b, m.attr);
  return Finish(b, fb::CreateAttrReply(b, attr, m.created, m.freed_inode));
}

Result<AttrReply> DecodeAttrReply(std::string_view payload) {
  constexpr const char* kWhat = "MetaAttr reply";
  CVFS_ASSIGN_OR_RETURN(const fb::AttrReply* r, Verified<fb::AttrReply>(payload, kWhat));
  CVFS_ASSIGN_OR_RETURN(Attr attr, AttrOf(r->attr(), kWhat));
  return AttrReply{attr, r->created(), r->freed_inode()};
}

std::string EncodeEntryReply(const EntryReply& m) {
  flatbuffers::FlatBufferBuilder b(128);
  flatbuffers::Offset<fb::Attr> attr = 0;
  if (m.has_attr) attr = ToWire(b, m.attr);
  return Finish(b, fb::CreateEntryReply(b, m.inode, ToWire(m.type), attr));
}

Result<EntryReply> DecodeEntryReply(std::string_view payload) {
  constexpr const char* kWhat = "MetaLookup reply";
  CVFS_ASSIGN_OR_RETURN(const fb::EntryReply* r, Verified<fb::EntryReply>(payload, kWhat));
  EntryReply m;
  m.inode = r->inode();
  CVFS_ASSIGN_OR_RETURN(m.type, TypeOf(r->type(), kWhat));
  m.has_attr = r->attr() != nullptr;
  if (m.has_attr) {
    CVFS_ASSIGN_OR_RETURN(m.attr, AttrOf(r->attr(), kWhat));
  }
  return m;
}

std::string EncodeReaddirReply(const ReaddirReply& m) {
  flatbuffers::FlatBufferBuilder b(64 + 48 * m.entries.size());
  std::vector<flatbuffers::Offset<fb::DirEntry>> entries;
  entries.reserve(m.entries.size());
  for (const DirEntry& e : m.entries) {
    const auto name = b.CreateString(e.name);
    entries.push_back(fb::CreateDirEntry(b, name, e.inode, ToWire(e.type), e.cookie));
  }
  const auto vec = b.CreateVector(entries);
  return Finish(b, fb::CreateReaddirReply(b, vec, m.eof));
}

Result<ReaddirReply> DecodeReaddirReply(std::string_view payload) {
  constexpr const char* kWhat = "MetaReaddir reply";
  CVFS_ASSIGN_OR_RETURN(const fb::ReaddirReply* r, Verified<fb::ReaddirReply>(payload, kWhat));
  ReaddirReply m;
  m.eof = r->eof();
  if (r->entries() == nullptr) return m;
  if (r->entries()->size() > kMaxReaddirEntries) {
    return TooLarge(kWhat, "entries", r->entries()->size(), kMaxReaddirEntries);
  }
  m.entries.reserve(r->entries()->size());
  for (const fb::DirEntry* e : *r->entries()) {
    DirEntry entry;
    CVFS_ASSIGN_OR_RETURN(entry.name, NameOf(e->name(), kWhat, "entries[].name"));
    entry.inode = e->inode();
    CVFS_ASSIGN_OR_RETURN(entry.type, TypeOf(e->type(), kWhat));
    entry.cookie = e->cookie();
    m.entries.push_back(std::move(entry));
  }
  return m;
}

std::string EncodeReadlinkReply(const ReadlinkReply& m) {
  flatbuffers::FlatBufferBuilder b(64 + m.target.size());
  const auto target = b.CreateString(m.target);
  return Finish(b, fb::CreateReadlinkReply(b, target));
}

Result<ReadlinkReply> DecodeReadlinkReply(std::string_view payload) {
  constexpr const char* kWhat = "MetaReadlink reply";
  CVFS_ASSIGN_OR_RETURN(const fb::ReadlinkReply* r, Verified<fb::ReadlinkReply>(payload, kWhat));
  CVFS_ASSIGN_OR_RETURN(std::string target, StringOf(r->target(), kWhat, "target",
                                                     kMaxWireTargetBytes, /*required=*/true));
  return ReadlinkReply{std::move(target)};
}

std::string EncodeStatFsReply(const StatFsReply& m) {
  flatbuffers::FlatBufferBuilder b(96);
  return Finish(b, fb::CreateStatFsReply(b, m.total_bytes, m.free_bytes, m.total_inodes,
                                         m.used_inodes, m.block_size, m.max_name));
}

Result<StatFsReply> DecodeStatFsReply(std::string_view payload) {
  CVFS_ASSIGN_OR_RETURN(const fb::StatFsReply* r,
                        Verified<fb::StatFsReply>(payload, "MetaStatFs reply"));
  return StatFsReply{r->total_bytes(), r->free_bytes(), r->total_inodes(),
                     r->used_inodes(), r->block_size(), r->max_name()};
}

std::string EncodeOpenReply(const OpenReply& m) {
  flatbuffers::FlatBufferBuilder b(128);
  const auto attr = ToWire(b, m.attr);
  return Finish(b, fb::CreateOpenReply(b, m.handle, attr));
}

Result<OpenReply> DecodeOpenReply(std::string_view payload) {
  constexpr const char* kWhat = "MetaOpen reply";
  CVFS_ASSIGN_OR_RETURN(const fb::OpenReply* r, Verified<fb::OpenReply>(payload, kWhat));
  CVFS_ASSIGN_OR_RETURN(Attr attr, AttrOf(r->attr(), kWhat));
  return OpenReply{r->handle(), attr};
}

std::string EncodePartReply(const PartReply& m) {
  flatbuffers::FlatBufferBuilder b(64 + m.body.size());
  const auto body = BytesToWire(b, m.body);
  return Finish(b, fb::CreatePartReply(b, body));
}

Result<PartReply> DecodePartReply(std::string_view payload) {
  constexpr const char* kWhat = "MetaPart reply";
  CVFS_ASSIGN_OR_RETURN(const fb::PartReply* r, Verified<fb::PartReply>(payload, kWhat));
  CVFS_ASSIGN_OR_RETURN(std::string_view body,
                        BytesOf(r->body(), kWhat, "body", kMaxPartBodyBytes));
  return PartReply{body};
}

std::string EncodeMetaEmptyReply() {
  flatbuffers::FlatBufferBuilder b(32);
  return Finish(b, fb::CreateEmptyReply(b));
}

Status DecodeMetaEmptyReply(std::string_view payload) {
  return Verified<fb::EmptyReply>(payload, "Meta empty reply").status();
}

}  // namespace cvfs::net::wire
