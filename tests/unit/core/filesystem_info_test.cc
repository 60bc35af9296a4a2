// FilesystemInfo JSON: round trips (defined and placed), every validation FromJson promises,
// and the map's "filesystems" field (absent = none, duplicates refused).
#include <catch2/catch.hpp>

#include <string>

#include "core/cluster_map.h"
#include "core/placement.h"

namespace cvfs {
namespace {

using nlohmann::json;

ClusterMap SixNodeMap() {
  ClusterMap map;
  map.cluster = "test";
  map.epoch = Epoch{3};
  for (int i = 1; i <= 6; ++i) {
    NodeEntry entry;
    entry.record.id = NodeId("n" + std::to_string(i));
    entry.record.failure_domain = "d" + std::to_string(i);
    entry.record.host = entry.record.id.str();
    entry.record.drives.push_back(DriveInfo{"/drive0", 1 << 30, 1 << 29});
    map.nodes.emplace(entry.record.id, entry);
  }
  return map;
}

FilesystemInfo Defined() {
  FilesystemInfo fs;
  fs.name = "scratch";
  fs.id = 1;
  fs.geometry = StripeGeometry{4, 2, 128 * 1024};
  fs.pg_count = 16;
  fs.created_ms = 1700000000000;
  return fs;
}

FilesystemInfo Placed(const ClusterMap& map) {
  FilesystemInfo fs = Defined();
  auto groups = AssignPlacementGroups(map, PlacementPolicy{4, 2, 16});
  REQUIRE(groups.ok());
  fs.groups = *groups;
  return fs;
}

Status Decode(const json& j) { return FilesystemInfoFromJson(j).status(); }

TEST_CASE("FilesystemInfo JSON round trip, defined and placed") {
  const FilesystemInfo defined = Defined();
  const json j = FilesystemInfoToJson(defined);
  CHECK_FALSE(j.contains("groups"));
  CHECK(j["data_cells"] == 4);
  CHECK(j["cell_bytes"] == 128 * 1024);
  auto back = FilesystemInfoFromJson(j);
  REQUIRE(back.ok());
  CHECK(*back == defined);
  CHECK_FALSE(back->placed());

  const FilesystemInfo placed = Placed(SixNodeMap());
  auto back2 = FilesystemInfoFromJson(FilesystemInfoToJson(placed));
  REQUIRE(back2.ok());
  CHECK(*back2 == placed);
  CHECK(back2->placed());

  json empty_groups = j;
  empty_groups["groups"] = json::array();
  auto back3 = FilesystemInfoFromJson(empty_groups);
  REQUIRE(back3.ok());
  CHECK_FALSE(back3->placed());
}

TEST_CASE("FilesystemInfoFromJson refuses invalid fields without throwing") {
  const json good = FilesystemInfoToJson(Placed(SixNodeMap()));
  auto with = [&](const char* field, json value) {
    json j = good;
    j[field] = std::move(value);
    return Decode(j);
  };
  auto without = [&](const char* field) {
    json j = good;
    j.erase(field);
    return Decode(j);
  };
  CHECK(Decode(json::array()).code() == ErrorCode::kMalformedMessage);
  CHECK(Decode(json("x")).code() == ErrorCode::kMalformedMessage);
  for (const char* field : {"name", "id", "data_cells", "parity_cells", "cell_bytes", "pg_count"}) {
    INFO(field);
    CHECK(without(field).code() == ErrorCode::kMalformedMessage);
    CHECK(with(field, json::object()).code() == ErrorCode::kMalformedMessage);
  }
  CHECK(without("created_ms").ok());
  CHECK(with("name", "").code() == ErrorCode::kMalformedMessage);
  CHECK(with("name", "-x").code() == ErrorCode::kMalformedMessage);
  CHECK(with("name", "a/b").code() == ErrorCode::kMalformedMessage);
  CHECK(with("name", std::string(65, 'a')).code() == ErrorCode::kMalformedMessage);
  CHECK(with("id", 0).code() == ErrorCode::kMalformedMessage);
  CHECK(with("id", -1).code() == ErrorCode::kMalformedMessage);
  CHECK(with("id", uint64_t{1} << 33).code() == ErrorCode::kMalformedMessage);
  CHECK(with("data_cells", 1).code() == ErrorCode::kMalformedMessage);
  CHECK(with("parity_cells", 3).code() == ErrorCode::kMalformedMessage);
  CHECK(with("cell_bytes", 4097).code() == ErrorCode::kMalformedMessage);
  CHECK(with("cell_bytes", 0).code() == ErrorCode::kMalformedMessage);
  CHECK(with("pg_count", 0).code() == ErrorCode::kMalformedMessage);
  CHECK(with("pg_count", kMaxPgCount + 1).code() == ErrorCode::kMalformedMessage);
  // groups: pg_count PGs of width N+P, or none.
  CHECK(with("pg_count", 17).code() == ErrorCode::kMalformedMessage);
  CHECK(with("parity_cells", 4).code() == ErrorCode::kMalformedMessage);
  CHECK(with("groups", "x").code() == ErrorCode::kMalformedMessage);
  CHECK(with("groups", json::array({json::object()})).code() == ErrorCode::kMalformedMessage);
  auto message = with("name", "a b").message();
  CHECK(std::string(message).find("filesystem") != std::string::npos);
}

TEST_CASE("the map's filesystems field") {
  ClusterMap map = SixNodeMap();
  map.filesystems.emplace("scratch", Placed(map));
  FilesystemInfo other = Defined();
  other.name = "home";
  other.id = 2;
  map.filesystems.emplace("home", other);
  auto back = ParseClusterMap(SerializeClusterMap(map));
  REQUIRE(back.ok());
  CHECK(*back == map);

  json j = ClusterMapToJson(map);
  SECTION("absent means none") {
    j.erase("filesystems");
    auto parsed = ClusterMapFromJson(j);
    REQUIRE(parsed.ok());
    CHECK(parsed->filesystems.empty());
  }
  SECTION("duplicate names and ids are refused") {
    json dup_name = j;
    json copy = dup_name["filesystems"][0];
    copy["id"] = 7;
    dup_name["filesystems"].push_back(copy);
    CHECK(ClusterMapFromJson(dup_name).status().code() == ErrorCode::kMalformedMessage);
    json dup_id = j;
    json copy2 = dup_id["filesystems"][0];
    copy2["name"] = "other";
    dup_id["filesystems"].push_back(copy2);
    auto st = ClusterMapFromJson(dup_id).status();
    CHECK(st.code() == ErrorCode::kMalformedMessage);
    CHECK(std::string(st.message()).find("duplicate filesystem id") != std::string::npos);
  }
  SECTION("a bad filesystem or a non-array is refused") {
    json bad = j;
    bad["filesystems"][0]["pg_count"] = 0;
    CHECK(ClusterMapFromJson(bad).status().code() == ErrorCode::kMalformedMessage);
    bad["filesystems"] = json::object();
    CHECK(ClusterMapFromJson(bad).status().code() == ErrorCode::kMalformedMessage);
  }
}

TEST_CASE("ValidateFilesystemName") {
  CHECK(ValidateFilesystemName("scratch").ok());
  CHECK(ValidateFilesystemName("a.b_c-9").ok());
  CHECK(ValidateFilesystemName("9").ok());
  CHECK_FALSE(ValidateFilesystemName("").ok());
  CHECK_FALSE(ValidateFilesystemName(".x").ok());
  CHECK_FALSE(ValidateFilesystemName("x y").ok());
  CHECK_FALSE(ValidateFilesystemName(std::string(65, 'x')).ok());
}

}  // namespace
}  // namespace cvfs
