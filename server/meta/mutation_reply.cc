#include "server/meta/mutation_reply.h"

#include "server/meta/byte_codec.h"

namespace cvfs::server::meta {
namespace {

constexpr uint8_t kReplyFormat = 1;

}  // namespace

std::string EncodeReply(const MutationReply& reply) {
  std::string out;
  ByteWriter w(&out);
  w.U8(kReplyFormat);
  WriteInodeFields(w, reply.attr);
  w.U8(reply.created ? 1 : 0);
  w.U64(reply.freed_inode);
  w.U64(reply.remote_unlink_inode);
  w.U8(static_cast<uint8_t>(reply.remote_unlink_type));
  w.U64(reply.reparent_inode);
  w.U64(reply.reparent_to);
  return out;
}

Result<MutationReply> DecodeReply(std::string_view bytes) {
  ByteReader r(bytes);
  MutationReply reply;
  if (r.U8() != kReplyFormat) return Status::Corruption("mutation reply: unknown format");
  ReadInodeFields(r, &reply.attr);
  const uint8_t created = r.U8();
  reply.created = created == 1;
  reply.freed_inode = r.U64();
  reply.remote_unlink_inode = r.U64();
  const uint8_t type = r.U8();
  reply.remote_unlink_type = static_cast<FileType>(type);
  reply.reparent_inode = r.U64();
  reply.reparent_to = r.U64();
  if (!r.done() || created > 1 || !IsValidFileType(type)) {
    return Status::Corruption("mutation reply of " + std::to_string(bytes.size()) +
                              " bytes does not decode");
  }
  return reply;
}

}  // namespace cvfs::server::meta
