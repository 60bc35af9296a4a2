#include "server/meta/meta_parts.h"

#include "server/meta/byte_codec.h"

namespace cvfs::server::meta {
namespace {
constexpr size_t kMaxGroups = 64;
constexpr size_t kMaxName = 4096;
}  // namespace

std::string EncodeDumpPage(const DumpPage& page) {
  std::string out;
  ByteWriter w(&out);
  w.U8(page.done ? 1 : 0);
  w.U32(page.records.size());
  for (const auto& [key, value] : page.records) {
    w.Bytes(key);
    w.Bytes(value);
  }
  return out;
}

Result<DumpPage> DecodeDumpPage(std::string_view bytes) {
  ByteReader r(bytes);
  DumpPage page;
  page.done = r.U8() != 0;
  const uint32_t count = r.U32();
  if (count > bytes.size()) r.Fail();  // every record takes at least 8 bytes
  for (uint32_t i = 0; r.ok() && i < count; ++i) {
    std::string key = r.Bytes(kMaxName);
    std::string value = r.Bytes(1 << 20);
    page.records.emplace_back(std::move(key), std::move(value));
  }
  if (!r.done()) return Status::MalformedMessage("malformed metadata dump page");
  return page;
}

std::string EncodePartBody(const PartBody& body) {
  std::string out;
  ByteWriter w(&out);
  w.U32(body.caller.uid);
  w.U32(body.caller.gid);
  w.U32(body.caller.groups.size());
  for (uint32_t g : body.caller.groups) w.U32(g);
  WriteInodeFields(w, body.parent_attr);
  w.U64(body.parent);
  w.U64(body.inode);
  w.Bytes(body.name);
  w.U8(static_cast<uint8_t>(body.type));
  w.U32(body.mode);
  w.U32(static_cast<uint32_t>(body.delta));
  return out;
}

Result<PartBody> DecodePartBody(std::string_view bytes) {
  ByteReader r(bytes);
  PartBody body;
  body.caller.uid = r.U32();
  body.caller.gid = r.U32();
  const uint32_t groups = r.U32();
  if (groups > kMaxGroups) r.Fail();
  for (uint32_t i = 0; r.ok() && i < groups; ++i) body.caller.groups.push_back(r.U32());
  ReadInodeFields(r, &body.parent_attr);
  body.parent = r.U64();
  body.inode = r.U64();
  body.name = r.Bytes(kMaxName);
  const uint8_t type = r.U8();
  if (type < 1 || type > 3) r.Fail();
  body.type = static_cast<FileType>(type);
  body.mode = r.U32();
  body.delta = static_cast<int32_t>(r.U32());
  if (!r.done()) return Status::MalformedMessage("malformed metadata part body");
  return body;
}

}  // namespace cvfs::server::meta
