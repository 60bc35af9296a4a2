// Metadata message codec (net/wire/meta_messages.h): every message round trips with every
// field set; every Decode* refuses truncated, garbled, random and oversize payloads and the
// payload of any other message with kMalformedMessage, and never crashes.
#include <catch2/catch.hpp>

#include <flatbuffers/flatbuffers.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "net/wire/meta_generated.h"
#include "net/wire/meta_messages.h"

using namespace cvfs;
using namespace cvfs::net::wire;

namespace {

MetaHeader Header() {
  MetaHeader h;
  h.fs_id = 7;
  h.pg = 513;
  h.epoch = 0x0102030405060708ull;
  h.client_id = 0xfeedfacecafebeefull;
  h.request_id = 0x1122334455667788ull;
  h.has_on_behalf = true;
  h.on_behalf.uid = 1000;
  h.on_behalf.gid = 100;
  h.on_behalf.groups = {4, 24, 27, 1000};
  return h;
}

Attr SampleAttr() {
  Attr a;
  a.inode = (uint64_t{3} << 40) | 42;
  a.type = InodeType::kSymlink;
  a.mode = 0120777;
  a.uid = 1000;
  a.gid = 100;
  a.nlink = 3;
  a.size = 0x123456789aull;
  a.atime_ns = -1;  // before 1970
  a.mtime_ns = 1700000000123456789;
  a.ctime_ns = 1700000000987654321;
  a.parent = 1;
  return a;
}

// One valid encoding per message, with its decoder reduced to a Status.
struct Codec {
  const char* name;
  std::string payload;
  std::function<Status(std::string_view)> decode;
};

template <typename F>
std::function<Status(std::string_view)> StatusOf(F decode) {
  return [decode](std::string_view p) { return decode(p).status(); };
}

const std::string kBatch = std::string("batch\0bytes", 11);
const std::string kBody = std::string("\x01\x02\x00part", 7);

LookupRequest SampleLookup() { return {Header(), 1, "name.txt"}; }
GetAttrRequest SampleGetAttr() { return {Header(), 99}; }
SetAttrRequest SampleSetAttr() {
  return {Header(), 99, kSetAttrMode | kSetAttrSize | kSetAttrMtimeNow, 0644, 5, 6, 4096, -7, 8};
}
CreateRequest SampleCreate() {
  return {Header(), 2, "link", InodeType::kSymlink, 0777, true, true, "../target/file"};
}
MkdirRequest SampleMkdir() { return {Header(), 2, "dir", 0755}; }
UnlinkRequest SampleUnlink() { return {Header(), 2, "gone"}; }
RmdirRequest SampleRmdir() { return {Header(), 2, "olddir"}; }
RenameRequest SampleRename() { return {Header(), 2, "a", 3, "b", kRenameNoReplace}; }
LinkRequest SampleLink() { return {Header(), 99, 4, "hard"}; }
ReaddirRequest SampleReaddir() { return {Header(), 5, 17, kMaxReaddirEntries}; }
ReadlinkRequest SampleReadlink() { return {Header(), 98}; }
StatFsRequest SampleStatFs() { return {Header()}; }
OpenRequest SampleOpen() { return {Header(), 97, 02 | 01000}; }
ReleaseRequest SampleRelease() { return {Header(), 97, 0xabcdef}; }
CommitSizeRequest SampleCommitSize() { return {Header(), 97, 1 << 30, 1700000000000000001}; }
ApplyRequest SampleApply() { return {7, 513, 1234567, 89, kBatch, {"second", "", "third"}, false}; }
PartRequest SamplePart() { return {Header(), 3, 0x5555aaaa5555aaaaull, kBody}; }
AttrReply SampleAttrReply() { return {SampleAttr(), true, 77}; }
EntryReply SampleEntry() { return {42, InodeType::kDirectory, true, SampleAttr()}; }
ReaddirReply SampleReaddirReply() {
  return {{{"a", 10, InodeType::kRegular, 3},
           {"sub", 11, InodeType::kDirectory, 4},
           {"ln", 12, InodeType::kSymlink, 9}},
          true};
}
ReadlinkReply SampleReadlinkReply() { return {"/abs/target"}; }
StatFsReply SampleStatFsReply() { return {1ull << 50, 1ull << 49, 1ull << 40, 12345, 4096, 200}; }
OpenReply SampleOpenReply() { return {0x77, SampleAttr()}; }
PartReply SamplePartReply() { return {kBody}; }

std::vector<Codec> AllCodecs() {
  return {
      {"Lookup", EncodeLookupRequest(SampleLookup()), StatusOf(DecodeLookupRequest)},
      {"GetAttr", EncodeGetAttrRequest(SampleGetAttr()), StatusOf(DecodeGetAttrRequest)},
      {"SetAttr", EncodeSetAttrRequest(SampleSetAttr()), StatusOf(DecodeSetAttrRequest)},
      {"Create", EncodeCreateRequest(SampleCreate()), StatusOf(DecodeCreateRequest)},
      {"Mkdir", EncodeMkdirRequest(SampleMkdir()), StatusOf(DecodeMkdirRequest)},
      {"Unlink", EncodeUnlinkRequest(SampleUnlink()), StatusOf(DecodeUnlinkRequest)},
      {"Rmdir", EncodeRmdirRequest(SampleRmdir()), StatusOf(DecodeRmdirRequest)},
      {"Rename", EncodeRenameRequest(SampleRename()), StatusOf(DecodeRenameRequest)},
      {"Link", EncodeLinkRequest(SampleLink()), StatusOf(DecodeLinkRequest)},
      {"Readdir", EncodeReaddirRequest(SampleReaddir()), StatusOf(DecodeReaddirRequest)},
      {"Readlink", EncodeReadlinkRequest(SampleReadlink()), StatusOf(DecodeReadlinkRequest)},
      {"StatFs", EncodeStatFsRequest(SampleStatFs()), StatusOf(DecodeStatFsRequest)},
      {"Open", EncodeOpenRequest(SampleOpen()), StatusOf(DecodeOpenRequest)},
      {"Release", EncodeReleaseRequest(SampleRelease()), StatusOf(DecodeReleaseRequest)},
      {"CommitSize", EncodeCommitSizeRequest(SampleCommitSize()),
       StatusOf(DecodeCommitSizeRequest)},
      {"Apply", EncodeApplyRequest(SampleApply()), StatusOf(DecodeApplyRequest)},
      {"Part", EncodePartRequest(SamplePart()), StatusOf(DecodePartRequest)},
      {"AttrReply", EncodeAttrReply(SampleAttrReply()), StatusOf(DecodeAttrReply)},
      {"EntryReply", EncodeEntryReply(SampleEntry()), StatusOf(DecodeEntryReply)},
      {"ReaddirReply", EncodeReaddirReply(SampleReaddirReply()), StatusOf(DecodeReaddirReply)},
      {"ReadlinkReply", EncodeReadlinkReply(SampleReadlinkReply()), StatusOf(DecodeReadlinkReply)},
      {"StatFsReply", EncodeStatFsReply(SampleStatFsReply()), StatusOf(DecodeStatFsReply)},
      {"OpenReply", EncodeOpenReply(SampleOpenReply()), StatusOf(DecodeOpenReply)},
      {"PartReply", EncodePartReply(SamplePartReply()), StatusOf(DecodePartReply)},
      {"EmptyReply", EncodeMetaEmptyReply(), DecodeMetaEmptyReply},
  };
}

// Decodes `encoded` and checks it equals `in`.
template <typename M, typename D>
void CheckRoundTrip(const M& in, const std::string& encoded, D decode) {
  auto out = decode(encoded);
  REQUIRE(out.ok());
  CHECK(*out == in);
}

bool Names(const Status& st, std::string_view what) {
  return st.message().find(what) != std::string_view::npos;
}

}  // namespace

TEST_CASE("meta requests round trip every field", "[net][wire][meta]") {
  CheckRoundTrip(SampleLookup(), EncodeLookupRequest(SampleLookup()), DecodeLookupRequest);
  CheckRoundTrip(SampleGetAttr(), EncodeGetAttrRequest(SampleGetAttr()), DecodeGetAttrRequest);
  CheckRoundTrip(SampleSetAttr(), EncodeSetAttrRequest(SampleSetAttr()), DecodeSetAttrRequest);
  CheckRoundTrip(SampleCreate(), EncodeCreateRequest(SampleCreate()), DecodeCreateRequest);
  CheckRoundTrip(SampleMkdir(), EncodeMkdirRequest(SampleMkdir()), DecodeMkdirRequest);
  CheckRoundTrip(SampleUnlink(), EncodeUnlinkRequest(SampleUnlink()), DecodeUnlinkRequest);
  CheckRoundTrip(SampleRmdir(), EncodeRmdirRequest(SampleRmdir()), DecodeRmdirRequest);
  CheckRoundTrip(SampleRename(), EncodeRenameRequest(SampleRename()), DecodeRenameRequest);
  CheckRoundTrip(SampleLink(), EncodeLinkRequest(SampleLink()), DecodeLinkRequest);
  CheckRoundTrip(SampleReaddir(), EncodeReaddirRequest(SampleReaddir()), DecodeReaddirRequest);
  CheckRoundTrip(SampleReadlink(), EncodeReadlinkRequest(SampleReadlink()), DecodeReadlinkRequest);
  CheckRoundTrip(SampleStatFs(), EncodeStatFsRequest(SampleStatFs()), DecodeStatFsRequest);
  CheckRoundTrip(SampleOpen(), EncodeOpenRequest(SampleOpen()), DecodeOpenRequest);
  CheckRoundTrip(SampleRelease(), EncodeReleaseRequest(SampleRelease()), DecodeReleaseRequest);
  CheckRoundTrip(SampleCommitSize(), EncodeCommitSizeRequest(SampleCommitSize()),
                 DecodeCommitSizeRequest);
  CheckRoundTrip(SampleApply(), EncodeApplyRequest(SampleApply()), DecodeApplyRequest);
  CheckRoundTrip(SamplePart(), EncodePartRequest(SamplePart()), DecodePartRequest);
}

TEST_CASE("meta replies round trip every field", "[net][wire][meta]") {
  CheckRoundTrip(SampleAttrReply(), EncodeAttrReply(SampleAttrReply()), DecodeAttrReply);
  CheckRoundTrip(SampleEntry(), EncodeEntryReply(SampleEntry()), DecodeEntryReply);
  CheckRoundTrip(SampleReaddirReply(), EncodeReaddirReply(SampleReaddirReply()),
                 DecodeReaddirReply);
  CheckRoundTrip(SampleReadlinkReply(), EncodeReadlinkReply(SampleReadlinkReply()),
                 DecodeReadlinkReply);
  CheckRoundTrip(SampleStatFsReply(), EncodeStatFsReply(SampleStatFsReply()), DecodeStatFsReply);
  CheckRoundTrip(SampleOpenReply(), EncodeOpenReply(SampleOpenReply()), DecodeOpenReply);
  CheckRoundTrip(SamplePartReply(), EncodePartReply(SamplePartReply()), DecodePartReply);
  CHECK(DecodeMetaEmptyReply(EncodeMetaEmptyReply()).ok());
}

TEST_CASE("meta optional parts round trip when absent", "[net][wire][meta]") {
  LookupRequest lookup = SampleLookup();
  lookup.header.has_on_behalf = false;
  lookup.header.on_behalf = {};
  CheckRoundTrip(lookup, EncodeLookupRequest(lookup), DecodeLookupRequest);

  lookup.header.has_on_behalf = true;  // on behalf, with no supplementary groups
  lookup.header.on_behalf = {0, 0, {}};
  CheckRoundTrip(lookup, EncodeLookupRequest(lookup), DecodeLookupRequest);

  EntryReply entry{42, InodeType::kRegular, false, {}};
  CheckRoundTrip(entry, EncodeEntryReply(entry), DecodeEntryReply);

  CreateRequest file = SampleCreate();
  file.type = InodeType::kRegular;
  file.symlink_target.clear();
  CheckRoundTrip(file, EncodeCreateRequest(file), DecodeCreateRequest);

  CheckRoundTrip(ReaddirReply{}, EncodeReaddirReply({}), DecodeReaddirReply);
  CheckRoundTrip(ApplyRequest{}, EncodeApplyRequest({}), DecodeApplyRequest);
  CheckRoundTrip(StatFsReply{}, EncodeStatFsReply({}), DecodeStatFsReply);
  CHECK(StatFsReply{}.max_name == 255);
}

TEST_CASE("meta opaque bytes are views into the payload", "[net][wire][meta]") {
  const std::string payload = EncodeApplyRequest(SampleApply());
  auto apply = DecodeApplyRequest(payload);
  REQUIRE(apply.ok());
  CHECK(apply->batch.data() >= payload.data());
  CHECK(apply->batch.data() + apply->batch.size() <= payload.data() + payload.size());
}

TEST_CASE("meta codec passes names the server judges, refuses wire bounds", "[net][wire][meta]") {
  // POSIX-invalid but within wire bounds: the server answers kInvalidArgument/kNameTooLong.
  for (const std::string& name :
       {std::string(), std::string("a/b"), std::string("a\0b", 3), std::string(4096, 'n')}) {
    LookupRequest m = SampleLookup();
    m.name = name;
    CheckRoundTrip(m, EncodeLookupRequest(m), DecodeLookupRequest);
  }

  auto refused = [](const Status& st, std::string_view what) {
    CHECK(st.code() == ErrorCode::kMalformedMessage);
    CHECK(Names(st, what));
  };
  const std::string too_long(kMaxWireNameBytes + 1, 'x');
  {
    LookupRequest m = SampleLookup();
    m.name = too_long;
    refused(DecodeLookupRequest(EncodeLookupRequest(m)).status(), "MetaLookup");
    RenameRequest r = SampleRename();
    r.dst_name = too_long;
    refused(DecodeRenameRequest(EncodeRenameRequest(r)).status(), "dst_name");
    LinkRequest l = SampleLink();
    l.new_name = too_long;
    refused(DecodeLinkRequest(EncodeLinkRequest(l)).status(), "new_name");
    ReaddirReply d = SampleReaddirReply();
    d.entries[1].name = too_long;
    refused(DecodeReaddirReply(EncodeReaddirReply(d)).status(), "MetaReaddir reply");
  }
  {
    CreateRequest m = SampleCreate();
    m.symlink_target = std::string(kMaxWireTargetBytes, 't');
    CheckRoundTrip(m, EncodeCreateRequest(m), DecodeCreateRequest);
    m.symlink_target += 't';
    refused(DecodeCreateRequest(EncodeCreateRequest(m)).status(), "symlink_target");
    refused(DecodeReadlinkReply(EncodeReadlinkReply({m.symlink_target})).status(), "target");
  }
  {
    ReaddirRequest m = SampleReaddir();
    m.max_entries = kMaxReaddirEntries + 1;
    refused(DecodeReaddirRequest(EncodeReaddirRequest(m)).status(), "max_entries");
    ReaddirReply d;
    d.entries.resize(kMaxReaddirEntries, DirEntry{"e", 1, InodeType::kRegular, 3});
    CheckRoundTrip(d, EncodeReaddirReply(d), DecodeReaddirReply);
    d.entries.push_back(d.entries.back());
    refused(DecodeReaddirReply(EncodeReaddirReply(d)).status(), "entries");
  }
  {
    GetAttrRequest m = SampleGetAttr();
    m.header.on_behalf.groups.assign(kMaxOnBehalfGroups, 5);
    CheckRoundTrip(m, EncodeGetAttrRequest(m), DecodeGetAttrRequest);
    m.header.on_behalf.groups.push_back(6);
    refused(DecodeGetAttrRequest(EncodeGetAttrRequest(m)).status(), "groups");
  }
  {
    const std::string batch(kMaxApplyBatchBytes, 'b');
    ApplyRequest m = SampleApply();
    m.batch = batch;
    m.more.clear();
    CheckRoundTrip(m, EncodeApplyRequest(m), DecodeApplyRequest);
    const std::string over = batch + "b";
    m.batch = over;
    refused(DecodeApplyRequest(EncodeApplyRequest(m)).status(), "batch");
    // The bound is on all the batches together, and on how many follow the first.
    m.batch = std::string_view(batch).substr(0, kMaxApplyBatchBytes / 2);
    m.more = {std::string_view(batch).substr(0, kMaxApplyBatchBytes / 2)};
    CheckRoundTrip(m, EncodeApplyRequest(m), DecodeApplyRequest);
    m.more.push_back("x");
    refused(DecodeApplyRequest(EncodeApplyRequest(m)).status(), "batches");
    m.batch = "first";
    m.more.assign(kMaxApplyMoreBatches, "m");
    CheckRoundTrip(m, EncodeApplyRequest(m), DecodeApplyRequest);
    m.more.push_back("m");
    refused(DecodeApplyRequest(EncodeApplyRequest(m)).status(), "more");
  }
  {
    const std::string body(kMaxPartBodyBytes + 1, 'p');
    PartRequest m = SamplePart();
    m.body = std::string_view(body).substr(1);
    CheckRoundTrip(m, EncodePartRequest(m), DecodePartRequest);
    m.body = body;
    refused(DecodePartRequest(EncodePartRequest(m)).status(), "body");
    refused(DecodePartReply(EncodePartReply({body})).status(), "MetaPart reply");
  }
  {
    Attr a = SampleAttr();
    a.type = static_cast<InodeType>(4);
    refused(DecodeAttrReply(EncodeAttrReply({a, false, 0})).status(), "inode type");
    CreateRequest c = SampleCreate();
    c.type = static_cast<InodeType>(200);
    refused(DecodeCreateRequest(EncodeCreateRequest(c)).status(), "inode type");
  }
}

TEST_CASE("meta decoders refuse missing required fields", "[net][wire][meta]") {
  namespace fb = cvfs::net::wire::meta;
  auto finish = [](flatbuffers::FlatBufferBuilder& b, fb::Body type,
                   flatbuffers::Offset<void> body) {
    b.Finish(fb::CreateMetaMessage(b, type, body));
    return std::string(reinterpret_cast<const char*>(b.GetBufferPointer()), b.GetSize());
  };
  {
    flatbuffers::FlatBufferBuilder b;
    const auto name = b.CreateString("n");
    const std::string p =
        finish(b, fb::Body::LookupRequest, fb::CreateLookupRequest(b, 0, 1, name).Union());
    Status st = DecodeLookupRequest(p).status();
    CHECK(st.code() == ErrorCode::kMalformedMessage);
    CHECK(Names(st, "header"));
  }
  {
    flatbuffers::FlatBufferBuilder b;
    const auto header = fb::CreateMetaHeader(b, 1, 2, 3, 4, 5);
    const std::string p =
        finish(b, fb::Body::UnlinkRequest, fb::CreateUnlinkRequest(b, header, 1, 0).Union());
    Status st = DecodeUnlinkRequest(p).status();
    CHECK(st.code() == ErrorCode::kMalformedMessage);
    CHECK(Names(st, "'name'"));
  }
  {
    flatbuffers::FlatBufferBuilder b;
    const std::string p = finish(b, fb::Body::AttrReply, fb::CreateAttrReply(b, 0, true).Union());
    CHECK(DecodeAttrReply(p).status().code() == ErrorCode::kMalformedMessage);
  }
  {
    flatbuffers::FlatBufferBuilder b;
    const std::string p = finish(b, fb::Body::NONE, 0);
    CHECK(DecodeMetaEmptyReply(p).code() == ErrorCode::kMalformedMessage);
  }
}

TEST_CASE("meta decoders refuse another message's table", "[net][wire][meta]") {
  const std::vector<Codec> codecs = AllCodecs();
  for (const Codec& payload : codecs) {
    for (const Codec& decoder : codecs) {
      INFO(payload.name << " decoded as " << decoder.name);
      Status st = decoder.decode(payload.payload);
      if (std::string_view(payload.name) == decoder.name) {
        CHECK(st.ok());
      } else {
        CHECK(st.code() == ErrorCode::kMalformedMessage);
        CHECK(Names(st, "another message"));
      }
    }
  }
}

TEST_CASE("meta decoders refuse every truncation", "[net][wire][meta]") {
  for (const Codec& c : AllCodecs()) {
    for (size_t len = 0; len < c.payload.size(); ++len) {
      INFO(c.name << " truncated to " << len << " of " << c.payload.size());
      Status st = c.decode(std::string_view(c.payload).substr(0, len));
      // Cutting only trailing alignment padding may leave a complete message.
      if (st.ok()) {
        CHECK(len + 8 > c.payload.size());
      } else {
        CHECK(st.code() == ErrorCode::kMalformedMessage);
      }
    }
  }
}

TEST_CASE("meta decoders survive garbled and random payloads", "[net][wire][meta]") {
  const std::vector<Codec> codecs = AllCodecs();
  const uint64_t seed = std::random_device()();
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  auto decode_all = [&](std::string_view bytes) {
    for (const Codec& d : codecs) {
      Status st = d.decode(bytes);
      if (!st.ok() && st.code() != ErrorCode::kMalformedMessage) {
        FAIL(d.name << ": " << st.ToString());
      }
    }
  };
  // Mutations of valid encodings reach past the verifier into the field checks.
  for (int i = 0; i < 4000; ++i) {
    std::string m = codecs[rng() % codecs.size()].payload;
    const int flips = 1 + static_cast<int>(rng() % 6);
    for (int k = 0; k < flips; ++k) m[rng() % m.size()] = static_cast<char>(rng());
    if (rng() % 4 == 0) m.resize(rng() % (m.size() + 1));
    decode_all(m);
  }
  for (int i = 0; i < 1000; ++i) {
    std::string r(rng() % 256, '\0');
    for (char& ch : r) ch = static_cast<char>(rng());
    decode_all(r);
  }
  decode_all("");
  decode_all(std::string(64, '\xff'));
  decode_all(std::string(64, '\0'));
}

// Not run by default: regenerates the seeds of tests/fuzz/meta_fuzz (after a schema change)
// with `net_meta_wire_test '[.write_corpus]'`.
TEST_CASE("write the meta_fuzz seed corpus", "[.write_corpus]") {
  const std::filesystem::path dir =
      std::filesystem::path(CVFS_SOURCE_DIR) / "tests/fuzz/meta_corpus";
  std::filesystem::create_directories(dir);
  for (const Codec& c : AllCodecs()) {
    std::ofstream out(dir / c.name, std::ios::binary | std::ios::trunc);
    out.write(c.payload.data(), static_cast<std::streamsize>(c.payload.size()));
    REQUIRE(out.good());
  }
}
