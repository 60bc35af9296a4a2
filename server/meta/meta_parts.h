// The steps one metadata primary asks of another PG's primary (kMetaPart): their kinds and
// one body layout for all of them (only the fields a kind names are meaningful).
// Thread-safety: value types and pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"
#include "server/meta/meta_records.h"
#include "server/meta/permissions.h"

namespace cvfs::server::meta {

struct RequestKeyParts {
  uint64_t client_id = 0;
  uint64_t request_id = 0;
};

enum class PartKind : uint8_t {
  kSequence = 1,            // -> the PG's last applied op sequence (takeover check)
  kMakeDirectoryInode = 2,  // caller, parent_attr, mode -> MutationReply
  kAddEntry = 3,            // parent, name, inode, type -> MutationReply
  kRemoveEntry = 4,         // parent, name, inode -> MutationReply
  kAdjustLinks = 5,         // inode, delta -> MutationReply
  kSetParent = 6,           // inode, parent -> MutationReply
  kCheckRmdirTarget = 7,    // inode -> empty
  kGetAttr = 8,             // inode -> the inode record
  kCheckCreate = 9,         // caller, parent, name -> the parent's inode record
  kLookup = 10,             // caller, parent, name -> the entry (dentry record)
};

// Distinct, deterministic keys for the steps of one client request: retries of the request
// replay every step instead of repeating it (step 0 is the request's own key).
inline RequestKeyParts StepKeyParts(uint64_t client_id, uint64_t request_id, int step) {
  return {client_id ^ (0x9e3779b97f4a7c15ull * static_cast<uint64_t>(step)), request_id};
}

struct PartBody {
  Caller caller;
  InodeAttr parent_attr;
  uint64_t parent = 0;
  uint64_t inode = 0;
  std::string name;
  FileType type = FileType::kRegular;
  uint32_t mode = 0;
  int32_t delta = 0;
};

// One page of a PG's records (kMetaDump).
struct DumpPage {
  std::vector<std::pair<std::string, std::string>> records;
  bool done = false;  // no records follow
};
std::string EncodeDumpPage(const DumpPage& page);
Result<DumpPage> DecodeDumpPage(std::string_view bytes);

std::string EncodePartBody(const PartBody& body);
// kMalformedMessage unless `bytes` is exactly one encoded body.
Result<PartBody> DecodePartBody(std::string_view bytes);

}  // namespace cvfs::server::meta
