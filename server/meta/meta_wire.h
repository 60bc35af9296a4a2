// Conversions between the metadata engine's records and net/wire/meta_messages structs.
// Thread-safety: pure functions.
#pragma once

#include <string>

#include "net/wire/meta_messages.h"
#include "server/meta/meta_records.h"
#include "server/meta/mutation_reply.h"

namespace cvfs::server::meta {

inline net::wire::InodeType ToWireType(FileType type) {
  return static_cast<net::wire::InodeType>(static_cast<uint8_t>(type));
}
// For validated wire types (kRegular, kDirectory, kSymlink).
inline FileType FromWireType(net::wire::InodeType type) {
  return static_cast<FileType>(static_cast<uint8_t>(type));
}

inline net::wire::Attr ToWireAttr(const InodeAttr& a) {
  net::wire::Attr w;
  w.inode = a.inode;
  w.type = ToWireType(a.type);
  w.mode = a.mode;
  w.uid = a.uid;
  w.gid = a.gid;
  w.nlink = a.nlink;
  w.size = a.size;
  w.atime_ns = a.atime_ns;
  w.mtime_ns = a.mtime_ns;
  w.ctime_ns = a.ctime_ns;
  w.parent = a.parent;
  return w;
}

// The AttrReply of a mutation (attr absent when the reply names no local inode).
inline std::string EncodeMutationReply(const MutationReply& reply) {
  net::wire::AttrReply out;
  if (reply.attr.inode != 0) out.attr = ToWireAttr(reply.attr);
  out.created = reply.created;
  out.freed_inode = reply.freed_inode;
  return net::wire::EncodeAttrReply(out);
}

}  // namespace cvfs::server::meta
