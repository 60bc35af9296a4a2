// MetaService::RunFsck and kMetaFsck (see meta_fsck.h), and the pure checks.
#include "server/meta/meta_fsck.h"

#include <nlohmann/json.hpp>

#include <chrono>
#include <mutex>
#include <thread>
#include <tuple>

#include "core/logging.h"
#include "core/stripe_routing.h"
#include "server/meta/meta_parts.h"
#include "server/meta/meta_service.h"
#include "server/meta/mutation_reply.h"

namespace cvfs::server::meta {

namespace wire = net::wire;

namespace {

constexpr size_t kInodeKeyBytes = 1 + 4 + 8;  // I|O fs inode
constexpr auto kRecheckDelay = std::chrono::seconds(2);
constexpr size_t kReplyBudget = 48 * 1024;  // JSON report bytes (PartReply caps at 64 KiB)

// One fsck at a time per process: two would repair the same findings twice.
std::mutex g_fsck_mu;

uint64_t BigAt(std::string_view s, size_t at) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(s[at + i]);
  return v;
}

// Adds one dumped record to `out` (other record types are ignored).
void AddRecord(std::string_view key, std::string_view value, FsckRecords* out) {
  if (key.size() < kInodeKeyBytes) return;
  const uint64_t id = BigAt(key, 5);
  switch (key[0]) {
    case 'I': {
      if (key.size() != kInodeKeyBytes) return;
      auto attr = DecodeInode(value);
      if (!attr.ok()) {
        out->undecodable++;
        return;
      }
      out->inodes[id] = *attr;
      return;
    }
    case 'D': {
      auto rec = DecodeDentry(value);
      if (!rec.ok() || key.size() == kInodeKeyBytes) {
        out->undecodable++;
        return;
      }
      out->entries.push_back(
          FsckEntry{id, std::string(key.substr(kInodeKeyBytes)), rec->inode, rec->type});
      return;
    }
    case 'O':
      if (key.size() == kInodeKeyBytes) out->held_open.insert(id);
      return;
    default:
      return;
  }
}

// The findings of `later` whose key is among the keys of `earlier`'s.
template <typename T, typename KeyFn>
std::vector<T> Intersect(const std::vector<T>& earlier, const std::vector<T>& later, KeyFn key) {
  std::set<decltype(key(earlier.front()))> seen;
  for (const T& f : earlier) seen.insert(key(f));
  std::vector<T> out;
  for (const T& f : later) {
    if (seen.count(key(f)) != 0) out.push_back(f);
  }
  return out;
}

nlohmann::json EntryJson(const FsckEntry& e) {
  return {{"parent", e.parent},
          {"name", e.name},
          {"inode", e.inode},
          {"type", std::string(FileTypeName(e.type))}};
}

nlohmann::json CountJson(const FsckCountMismatch& m, const char* actual_name) {
  return {{"inode", m.inode},
          {"type", std::string(FileTypeName(m.type))},
          {actual_name, m.actual},
          {"expected", m.expected}};
}

template <typename T, typename Fn>
nlohmann::json ListJson(const std::vector<T>& items, size_t limit, Fn to_json) {
  nlohmann::json out = nlohmann::json::array();
  for (size_t i = 0; i < items.size() && i < limit; ++i) out.push_back(to_json(items[i]));
  return out;
}

}  // namespace

std::string_view FileTypeName(FileType type) {
  switch (type) {
    case FileType::kRegular:
      return "file";
    case FileType::kDirectory:
      return "directory";
    case FileType::kSymlink:
      return "symlink";
  }
  return "unknown";
}

FsckFindings FindFsckProblems(const FsckRecords& records) {
  FsckFindings out;
  std::map<uint64_t, uint64_t> names;     // inode -> entries naming it
  std::map<uint64_t, uint64_t> children;  // directory -> its entries
  std::map<uint64_t, uint64_t> subdirs;   // directory -> its directory entries
  std::map<uint64_t, uint64_t> named_in;  // directory -> the directory holding its entry
  for (const FsckEntry& e : records.entries) {
    children[e.parent]++;
    if (e.type == FileType::kDirectory) subdirs[e.parent]++;
    if (records.inodes.count(e.inode) == 0) {
      out.dangling_entries.push_back(e);
      continue;
    }
    names[e.inode]++;
    if (e.type == FileType::kDirectory) named_in[e.inode] = e.parent;
  }
  auto count = [](const std::map<uint64_t, uint64_t>& m, uint64_t k) -> uint64_t {
    auto it = m.find(k);
    return it == m.end() ? 0 : it->second;
  };
  for (const auto& [inode, attr] : records.inodes) {
    const uint64_t named = count(names, inode);
    const bool dir = attr.type == FileType::kDirectory;
    if (inode != kRootInode && named == 0) {
      if (records.held_open.count(inode) != 0) continue;  // unlinked, still open: fine
      out.orphans.push_back({inode, attr.type, attr.nlink, dir ? count(children, inode) : 0});
      continue;
    }
    if (!dir) {
      if (attr.nlink != named)
        out.nlink_mismatches.push_back({inode, attr.type, attr.nlink, named});
      continue;
    }
    const uint64_t want_nlink = 2 + count(subdirs, inode);
    if (attr.nlink != want_nlink) {
      out.nlink_mismatches.push_back({inode, attr.type, attr.nlink, want_nlink});
    }
    const uint64_t held = count(children, inode);
    if (attr.entries != held) {
      out.entry_count_mismatches.push_back({inode, attr.type, attr.entries, held});
    }
    const uint64_t want_parent = inode == kRootInode ? kRootInode : count(named_in, inode);
    if (attr.parent != want_parent) {
      out.parent_mismatches.push_back({inode, attr.type, attr.parent, want_parent});
    }
  }
  return out;
}

FsckFindings StableFindings(const FsckFindings& earlier, const FsckFindings& later) {
  FsckFindings out;
  out.dangling_entries =
      Intersect(earlier.dangling_entries, later.dangling_entries,
                [](const FsckEntry& e) { return std::make_tuple(e.parent, e.name, e.inode); });
  out.orphans = Intersect(earlier.orphans, later.orphans, [](const FsckOrphan& o) {
    return std::make_tuple(o.inode, o.nlink, o.entries);
  });
  auto mismatch = [](const FsckCountMismatch& m) {
    return std::make_tuple(m.inode, m.actual, m.expected);
  };
  out.nlink_mismatches = Intersect(earlier.nlink_mismatches, later.nlink_mismatches, mismatch);
  out.entry_count_mismatches =
      Intersect(earlier.entry_count_mismatches, later.entry_count_mismatches, mismatch);
  out.parent_mismatches = Intersect(earlier.parent_mismatches, later.parent_mismatches, mismatch);
  return out;
}

uint64_t FsckReport::unrepaired() const {
  const uint64_t fixed =
      repaired.dangling_entries + repaired.orphans + repaired.nlink + repaired.parents;
  const uint64_t total = findings.total() + undecodable;
  return total > fixed ? total - fixed : 0;
}

std::string FsckReport::ToJson() const {
  for (size_t limit : {size_t{100}, size_t{20}, size_t{0}}) {
    nlohmann::json j;
    j["filesystem"] = filesystem;
    j["fs_id"] = fs_id;
    j["pgs_checked"] = pgs_checked;
    j["inodes"] = inodes;
    j["entries"] = entries;
    j["passes"] = passes;
    j["transient"] = transient;
    j["undecodable_records"] = undecodable;
    j["dangling_entries"] = ListJson(findings.dangling_entries, limit, EntryJson);
    j["dangling_entries_total"] = findings.dangling_entries.size();
    j["orphans"] = ListJson(findings.orphans, limit, [](const FsckOrphan& o) {
      return nlohmann::json{{"inode", o.inode},
                            {"type", std::string(FileTypeName(o.type))},
                            {"nlink", o.nlink},
                            {"entries", o.entries}};
    });
    j["orphans_total"] = findings.orphans.size();
    j["nlink_mismatches"] = ListJson(findings.nlink_mismatches, limit,
                                     [](const auto& m) { return CountJson(m, "nlink"); });
    j["nlink_mismatches_total"] = findings.nlink_mismatches.size();
    j["entry_count_mismatches"] = ListJson(findings.entry_count_mismatches, limit,
                                           [](const auto& m) { return CountJson(m, "entries"); });
    j["entry_count_mismatches_total"] = findings.entry_count_mismatches.size();
    j["parent_mismatches"] = ListJson(findings.parent_mismatches, limit,
                                      [](const auto& m) { return CountJson(m, "parent"); });
    j["parent_mismatches_total"] = findings.parent_mismatches.size();
    j["listed_at_most"] = limit;
    j["repair"] = repair;
    nlohmann::json freed = nlohmann::json::array();
    for (size_t i = 0; i < repaired.freed_inodes.size() && i < limit; ++i) {
      freed.push_back(repaired.freed_inodes[i]);
    }
    j["repaired"] = {{"dangling_entries", repaired.dangling_entries},
                     {"orphans", repaired.orphans},
                     {"nlink", repaired.nlink},
                     {"parents", repaired.parents},
                     {"failed", repaired.failed},
                     {"freed_inodes", freed}};
    j["unrepaired"] = repair ? unrepaired() : findings.total() + undecodable;
    j["clean"] = clean();
    // Names need not be UTF-8: replace what is not (dump would fail otherwise).
    std::string out = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    if (out.size() <= kReplyBudget || limit == 0) return out;
  }
  return "{}";
}

Result<FsckReport> MetaService::RunFsck(uint32_t fs_id, bool repair) {
  std::unique_lock busy(g_fsck_mu, std::try_to_lock);
  if (!busy.owns_lock()) {
    return Status::ResourceExhausted("an fsck is already running on " + options_.self.str());
  }
  FsckReport report;
  report.fs_id = fs_id;
  report.repair = repair;

  // One pass: every PG's records from its metadata primary.
  auto collect = [&](int pass) -> Result<FsckRecords> {
    std::shared_ptr<const ClusterMap> map;
    {
      std::lock_guard lock(map_mu_);
      map = map_;
    }
    if (map == nullptr) return Status::Unavailable("this node has no cluster map yet");
    const FilesystemInfo* fs = FindFilesystemById(*map, fs_id);
    if (fs == nullptr) {
      return Status::NotFound("filesystem " + std::to_string(fs_id) + " is not in the map");
    }
    report.filesystem = fs->name;
    FsckRecords records;
    const uint32_t pg_count = fs->pg_count;
    for (uint32_t id = 0; id < pg_count; ++id) {
      // Through the normal step path first: the primary finishes its takeover check (and
      // PG 0 its root) before its records are read.
      PartBody probe;
      probe.inode = MakeInodeId(id, 0);
      auto ready = SendPart(fs_id, id, static_cast<uint8_t>(PartKind::kGetAttr), RequestKey{},
                            EncodePartBody(probe));
      if (!ready.ok() && ready.status().code() != ErrorCode::kNotFound) {
        return ready.status().WithContext("PG " + std::to_string(id));
      }
      Pg pg;
      pg.map = map;
      pg.fs = fs;
      pg.id = id;
      CVFS_ASSIGN_OR_RETURN(pg.route, RouteMetaPg(*map, *fs, id));
      CVFS_RETURN_IF_ERROR(pg.route.CheckAvailable());
      std::string after;
      for (int page = 0;; ++page) {
        if (page > 10'000'000) return Status::Internal("endless PG dump");
        CVFS_ASSIGN_OR_RETURN(std::string body,
                              AskReplica(pg, pg.route.primary, net::Method::kMetaDump, after));
        CVFS_ASSIGN_OR_RETURN(DumpPage decoded, DecodeDumpPage(body));
        for (const auto& [key, value] : decoded.records) AddRecord(key, value, &records);
        if (decoded.done || decoded.records.empty()) break;
        after = decoded.records.back().first;
      }
      if ((id + 1) * 10 / pg_count != id * 10 / pg_count) {
        LOG_INFO("meta.fsck_progress fs={} pass={} pgs={}/{} inodes={} entries={}", fs_id, pass,
                 id + 1, pg_count, records.inodes.size(), records.entries.size());
      }
    }
    report.pgs_checked = pg_count;
    return records;
  };

  LOG_INFO("meta.fsck_start fs={} repair={}", fs_id, repair);
  CVFS_ASSIGN_OR_RETURN(FsckRecords first, collect(1));
  report.passes = 1;
  report.inodes = first.inodes.size();
  report.entries = first.entries.size();
  report.undecodable = first.undecodable;
  report.findings = FindFsckProblems(first);
  if (report.findings.total() != 0) {
    // An operation in flight looks like a problem for a moment: keep what lasts.
    std::this_thread::sleep_for(kRecheckDelay);
    CVFS_ASSIGN_OR_RETURN(FsckRecords second, collect(2));
    report.passes = 2;
    report.inodes = second.inodes.size();
    report.entries = second.entries.size();
    report.undecodable = second.undecodable;
    const uint64_t before = report.findings.total();
    report.findings = StableFindings(report.findings, FindFsckProblems(second));
    report.transient = before - report.findings.total();
  }

  if (repair && report.findings.total() != 0) {
    FsckRepairs& done = report.repaired;
    auto step = [&](uint32_t pg, PartKind kind, const PartBody& body,
                    const std::string& what) -> std::optional<MutationReply> {
      auto reply =
          SendPart(fs_id, pg, static_cast<uint8_t>(kind), NextStepKey(), EncodePartBody(body));
      Result<MutationReply> decoded =
          reply.ok() ? DecodeReply(*reply) : Result<MutationReply>(reply.status());
      if (!decoded.ok()) {
        done.failed++;
        LOG_WARN("meta.fsck_repair_failed fs={} what=\"{}\" error=\"{}\"", fs_id, what,
                 decoded.status().ToString());
        return std::nullopt;
      }
      LOG_INFO("meta.fsck_repaired fs={} what=\"{}\"", fs_id, what);
      return *decoded;
    };
    for (const FsckEntry& e : report.findings.dangling_entries) {
      PartBody body;
      body.parent = e.parent;
      body.name = e.name;
      body.inode = e.inode;
      if (step(PgOfInode(e.parent), PartKind::kRemoveEntry, body,
               "remove dangling entry " + std::to_string(e.parent) + "/" + e.name)) {
        done.dangling_entries++;
      }
    }
    for (const FsckOrphan& o : report.findings.orphans) {
      if (o.type == FileType::kDirectory && o.entries != 0) continue;  // reported, left
      PartBody body;
      body.inode = o.inode;
      const std::string what =
          "drop orphan " + std::string(FileTypeName(o.type)) + " " + std::to_string(o.inode);
      if (o.nlink == 0) {  // AdjustLinks frees an inode when its count reaches 0
        body.delta = 1;
        if (!step(PgOfInode(o.inode), PartKind::kAdjustLinks, body, what + " (raise)")) continue;
        body.delta = -1;
      } else {
        body.delta = -static_cast<int32_t>(o.nlink);
      }
      auto dropped = step(PgOfInode(o.inode), PartKind::kAdjustLinks, body, what);
      if (!dropped) continue;
      done.orphans++;
      if (dropped->freed_inode != 0) done.freed_inodes.push_back(dropped->freed_inode);
    }
    for (const FsckCountMismatch& m : report.findings.nlink_mismatches) {
      PartBody body;
      body.inode = m.inode;
      body.delta =
          static_cast<int32_t>(static_cast<int64_t>(m.expected) - static_cast<int64_t>(m.actual));
      if (step(PgOfInode(m.inode), PartKind::kAdjustLinks, body,
               "nlink of " + std::to_string(m.inode) + " " + std::to_string(m.actual) + " -> " +
                   std::to_string(m.expected))) {
        done.nlink++;
      }
    }
    for (const FsckCountMismatch& m : report.findings.parent_mismatches) {
      if (m.expected == 0) continue;
      PartBody body;
      body.inode = m.inode;
      body.parent = m.expected;
      if (step(PgOfInode(m.inode), PartKind::kSetParent, body,
               "parent of " + std::to_string(m.inode) + " " + std::to_string(m.actual) + " -> " +
                   std::to_string(m.expected))) {
        done.parents++;
      }
    }
  }
  LOG_INFO(
      "meta.fsck_done fs={} pgs={} inodes={} entries={} dangling={} orphans={} nlink={} "
      "entry_counts={} parents={} transient={} repaired={} unrepaired={}",
      fs_id, report.pgs_checked, report.inodes, report.entries,
      report.findings.dangling_entries.size(), report.findings.orphans.size(),
      report.findings.nlink_mismatches.size(), report.findings.entry_count_mismatches.size(),
      report.findings.parent_mismatches.size(), report.transient,
      report.repaired.dangling_entries + report.repaired.orphans + report.repaired.nlink +
          report.repaired.parents,
      report.unrepaired());
  return report;
}

Result<std::string> MetaService::HandleFsck(const net::RpcContext& c, std::string_view p) {
  CVFS_ASSIGN_OR_RETURN(wire::PartRequest req, wire::DecodePartRequest(p));
  if (c.peer_uid != 0) {
    return Status(ErrorCode::kNotPermitted,
                  "cvfs fsck must run as root (connection uid " + std::to_string(c.peer_uid) + ")");
  }
  if (req.body != "repair" && req.body != "check") {
    return Status::InvalidArgument("fsck body must be \"repair\" or \"check\"");
  }
  CVFS_ASSIGN_OR_RETURN(FsckReport report, RunFsck(req.header.fs_id, req.body == "repair"));
  const std::string json = report.ToJson();
  return wire::EncodePartReply({json});
}

}  // namespace cvfs::server::meta
