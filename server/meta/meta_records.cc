#include "server/meta/meta_records.h"

namespace cvfs::server::meta {
namespace {

constexpr uint8_t kFormat = 1;

void PutBig(std::string* out, uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
uint64_t GetBig(std::string_view s, size_t at, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v = (v << 8) | static_cast<uint8_t>(s[at + i]);
  return v;
}

std::string WithBig64(std::string key, uint64_t v) {
  PutBig(&key, v, 8);
  return key;
}

std::string FsKey(char prefix, uint32_t fs) {
  std::string out(1, prefix);
  PutBig(&out, fs, 4);
  return out;
}
std::string PgKey(char prefix, uint32_t fs, uint32_t pg) {
  std::string out = FsKey(prefix, fs);
  PutBig(&out, pg, 4);
  return out;
}
std::string FsInodeKey(char prefix, uint32_t fs, uint64_t inode) {
  return WithBig64(FsKey(prefix, fs), inode);
}

uint64_t SplitMix(uint64_t z) {
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// Runs `read` over `bytes` after the format byte; kCorruption naming `what` unless every
// field decoded and nothing is left over.
template <typename T, typename Fn>
Result<T> DecodeStrict(std::string_view bytes, const char* what, Fn read) {
  ByteReader r(bytes);
  if (r.U8() != kFormat) return Status::Corruption(std::string(what) + ": unknown format");
  T out{};
  read(r, &out);
  if (!r.done()) {
    return Status::Corruption(std::string(what) + " record of " + std::to_string(bytes.size()) +
                              " bytes does not decode");
  }
  return out;
}

// The format byte, then what `write` adds.
template <typename Fn>
std::string EncodeWith(Fn write) {
  std::string out;
  ByteWriter w(&out);
  w.U8(kFormat);
  write(w);
  return out;
}

FileType ReadType(ByteReader& r) {
  const uint8_t raw = r.U8();
  if (!IsValidFileType(raw)) r.Fail();
  return static_cast<FileType>(raw);
}

// The inode and type an entry record (dentry or cookie) starts with.
void WriteEntryHead(ByteWriter& w, uint64_t inode, FileType type) {
  w.U64(inode);
  w.U8(static_cast<uint8_t>(type));
}
void ReadEntryHead(ByteReader& r, uint64_t* inode, FileType* type) {
  *inode = r.U64();
  *type = ReadType(r);
}

}  // namespace

uint32_t DirectoryPg(uint64_t parent, std::string_view name, uint32_t pg_count) {
  if (pg_count == 0) return 0;
  uint64_t fnv = 0xcbf29ce484222325ull;  // FNV-1a 64
  for (char c : name) fnv = (fnv ^ static_cast<uint8_t>(c)) * 0x100000001b3ull;
  return static_cast<uint32_t>(SplitMix(SplitMix(parent) ^ fnv) % pg_count);
}

bool IsValidFileType(uint8_t raw) { return raw >= 1 && raw <= 3; }

PgMetaState InitialPgState(uint32_t pg) {
  PgMetaState state;
  state.next_inode_seq = pg == 0 ? 2 : 1;
  return state;
}

std::string InodeKey(uint32_t fs, uint64_t inode) { return FsInodeKey('I', fs, inode); }
std::string DentryKey(uint32_t fs, uint64_t parent, std::string_view name) {
  std::string out = FsInodeKey('D', fs, parent);
  out.append(name);
  return out;
}
std::string CookiePrefix(uint32_t fs, uint64_t parent) { return FsInodeKey('C', fs, parent); }
std::string CookieKey(uint32_t fs, uint64_t parent, uint64_t cookie) {
  return WithBig64(CookiePrefix(fs, parent), cookie);
}
std::string PgStateKey(uint32_t fs, uint32_t pg) { return PgKey('P', fs, pg); }

std::vector<std::string> PgKeyPrefixes(uint32_t fs, uint32_t pg) {
  // Inode-keyed records of the PG share the inode id's top 24 bits (its PG).
  constexpr size_t kPgBytes = 1 + 4 + 3;  // type, fs, the PG part of the big-endian inode
  std::vector<std::string> out;
  for (char type : {'C', 'D', 'I', 'O'}) {
    out.push_back(FsInodeKey(type, fs, MakeInodeId(pg, 0)).substr(0, kPgBytes));
  }
  for (char type : {'P', 'R', 'X'}) out.push_back(PgKey(type, fs, pg));
  return out;
}
std::string DedupPrefix(uint32_t fs, uint32_t pg) { return PgKey('R', fs, pg); }
std::string DedupKey(uint32_t fs, uint32_t pg, uint64_t client_id, uint64_t request_id) {
  return WithBig64(WithBig64(DedupPrefix(fs, pg), client_id), request_id);
}
std::string IntentPrefix(uint32_t fs, uint32_t pg) { return PgKey('X', fs, pg); }
std::string IntentKey(uint32_t fs, uint32_t pg, uint64_t intent_id) {
  return WithBig64(IntentPrefix(fs, pg), intent_id);
}
std::string OrphanKey(uint32_t fs, uint64_t inode) { return FsInodeKey('O', fs, inode); }

Result<uint64_t> CookieOfKey(std::string_view key) {
  if (key.size() != 1 + 4 + 8 + 8 || key[0] != 'C') {
    return Status::Corruption("not a cookie key (" + std::to_string(key.size()) + " bytes)");
  }
  return GetBig(key, 13, 8);
}

Result<uint64_t> IntentIdOfKey(std::string_view key) {
  if (key.size() != 1 + 4 + 4 + 8 || key[0] != 'X') {
    return Status::Corruption("not an intent key (" + std::to_string(key.size()) + " bytes)");
  }
  return GetBig(key, 9, 8);
}

void WriteInodeFields(ByteWriter& w, const InodeAttr& a) {
  w.U64(a.inode);
  w.U8(static_cast<uint8_t>(a.type));
  w.U32(a.mode);
  w.U32(a.uid);
  w.U32(a.gid);
  w.U32(a.nlink);
  w.U64(a.size);
  w.U64(static_cast<uint64_t>(a.atime_ns));
  w.U64(static_cast<uint64_t>(a.mtime_ns));
  w.U64(static_cast<uint64_t>(a.ctime_ns));
  w.U64(a.parent);
  w.U64(a.entries);
  w.U64(a.next_cookie);
  w.Bytes(a.symlink_target);
}

void ReadInodeFields(ByteReader& r, InodeAttr* a) {
  a->inode = r.U64();
  a->type = ReadType(r);
  a->mode = r.U32();
  if (a->mode & ~kModeBits) r.Fail();
  a->uid = r.U32();
  a->gid = r.U32();
  a->nlink = r.U32();
  a->size = r.U64();
  a->atime_ns = static_cast<int64_t>(r.U64());
  a->mtime_ns = static_cast<int64_t>(r.U64());
  a->ctime_ns = static_cast<int64_t>(r.U64());
  a->parent = r.U64();
  a->entries = r.U64();
  a->next_cookie = r.U64();
  a->symlink_target = r.Bytes(kMaxSymlinkBytes);
}

std::string EncodeInode(const InodeAttr& attr) {
  return EncodeWith([&](ByteWriter& w) { WriteInodeFields(w, attr); });
}
Result<InodeAttr> DecodeInode(std::string_view bytes) {
  return DecodeStrict<InodeAttr>(bytes, "inode",
                                 [](ByteReader& r, InodeAttr* a) { ReadInodeFields(r, a); });
}

std::string EncodeDentry(const DentryRecord& rec) {
  return EncodeWith([&](ByteWriter& w) {
    WriteEntryHead(w, rec.inode, rec.type);
    w.U64(rec.cookie);
  });
}
Result<DentryRecord> DecodeDentry(std::string_view bytes) {
  return DecodeStrict<DentryRecord>(bytes, "dentry", [](ByteReader& r, DentryRecord* d) {
    ReadEntryHead(r, &d->inode, &d->type);
    d->cookie = r.U64();
  });
}

std::string EncodeCookie(const CookieRecord& rec) {
  return EncodeWith([&](ByteWriter& w) {
    WriteEntryHead(w, rec.inode, rec.type);
    w.Bytes(rec.name);
  });
}
Result<CookieRecord> DecodeCookie(std::string_view bytes) {
  return DecodeStrict<CookieRecord>(bytes, "cookie", [](ByteReader& r, CookieRecord* c) {
    ReadEntryHead(r, &c->inode, &c->type);
    c->name = r.Bytes(kMaxNameBytes);
  });
}

std::string EncodePgState(const PgMetaState& s) {
  return EncodeWith([&](ByteWriter& w) {
    w.U64(s.next_inode_seq);
    w.U64(s.last_sequence);
    w.U64(s.inode_count);
    w.U64(s.entry_count);
  });
}
Result<PgMetaState> DecodePgState(std::string_view bytes) {
  return DecodeStrict<PgMetaState>(bytes, "pg state", [](ByteReader& r, PgMetaState* s) {
    s->next_inode_seq = r.U64();
    s->last_sequence = r.U64();
    s->inode_count = r.U64();
    s->entry_count = r.U64();
  });
}

std::string EncodeDedup(const DedupRecord& rec) {
  return EncodeWith([&](ByteWriter& w) {
    w.U64(static_cast<uint64_t>(rec.recorded_ns));
    w.Bytes(rec.reply);
  });
}
Result<DedupRecord> DecodeDedup(std::string_view bytes) {
  return DecodeStrict<DedupRecord>(bytes, "dedup", [](ByteReader& r, DedupRecord* d) {
    d->recorded_ns = static_cast<int64_t>(r.U64());
    d->reply = r.Bytes(64 * 1024);
  });
}

}  // namespace cvfs::server::meta
