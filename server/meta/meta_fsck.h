// cvfs fsck on the server side (docs/admin/fsck.md): the consistency check of one
// filesystem's namespace over all of its metadata PGs, and its repairs.
//
// MetaService::RunFsck (meta_fsck.cc) dumps every PG from its metadata primary (kMetaDump
// pages), decodes the inode (`I`), entry (`D`) and open-orphan (`O`) records and hands them to
// FindFsckProblems, which checks:
//   - dangling entries: an entry whose inode does not exist (the step order of cross-PG
//     operations must make this impossible: always an error);
//   - orphans: inodes other than the root that no entry names and no client holds open (a
//     crash between a cross-PG mkdir's inode step and its entry step leaves one);
//   - link counts: a non-directory's nlink vs the entries naming it, a directory's nlink vs
//     2 + its subdirectory entries; a directory's entry counter vs its entries;
//   - a directory's parent pointer vs the directory whose entry names it.
// PGs are dumped one after the other, so an operation in flight can look like a problem for a
// moment: a pass that finds anything is repeated 2 s later and only the findings of both
// passes count (and are repaired).
// Thread-safety: value types and a pure function.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "server/meta/meta_records.h"

namespace cvfs::server::meta {

struct FsckEntry {
  uint64_t parent = 0;
  std::string name;
  uint64_t inode = 0;
  FileType type = FileType::kRegular;
};

// The records of one filesystem, gathered from every PG.
struct FsckRecords {
  std::map<uint64_t, InodeAttr> inodes;
  std::vector<FsckEntry> entries;
  std::set<uint64_t> held_open;  // `O` records: nlink 0, still open somewhere
  uint64_t undecodable = 0;      // records that did not decode (kCorruption)
};

struct FsckOrphan {
  uint64_t inode = 0;
  FileType type = FileType::kRegular;
  uint32_t nlink = 0;
  uint64_t entries = 0;  // directories: entries it still holds (not repairable by dropping)
};

struct FsckCountMismatch {
  uint64_t inode = 0;
  FileType type = FileType::kRegular;
  uint64_t actual = 0;
  uint64_t expected = 0;
};

struct FsckFindings {
  std::vector<FsckEntry> dangling_entries;
  std::vector<FsckOrphan> orphans;
  std::vector<FsckCountMismatch> nlink_mismatches;
  std::vector<FsckCountMismatch> entry_count_mismatches;  // a directory's `entries` field
  std::vector<FsckCountMismatch> parent_mismatches;       // actual/expected: parent inodes
  uint64_t total() const {
    return dangling_entries.size() + orphans.size() + nlink_mismatches.size() +
           entry_count_mismatches.size() + parent_mismatches.size();
  }
};

// Every problem in `records` (see the file comment).
FsckFindings FindFsckProblems(const FsckRecords& records);

// The findings of `later` that `earlier` found too (same inode, same values): the stable
// ones, which no operation in flight explains.
FsckFindings StableFindings(const FsckFindings& earlier, const FsckFindings& later);

struct FsckRepairs {
  uint64_t dangling_entries = 0;       // removed (kRemoveEntry)
  uint64_t orphans = 0;                // dropped (kAdjustLinks -nlink)
  uint64_t nlink = 0;                  // fixed (kAdjustLinks delta)
  uint64_t parents = 0;                // repointed (kSetParent)
  uint64_t failed = 0;                 // repairs tried that failed (logged)
  std::vector<uint64_t> freed_inodes;  // files dropped whose data stripes remain
};

struct FsckReport {
  uint32_t fs_id = 0;
  std::string filesystem;
  uint32_t pgs_checked = 0;
  uint64_t inodes = 0;
  uint64_t entries = 0;
  uint64_t undecodable = 0;
  int passes = 0;
  uint64_t transient = 0;  // findings of the first pass gone by the second
  bool repair = false;
  FsckFindings findings;
  FsckRepairs repaired;

  bool clean() const { return findings.total() == 0 && undecodable == 0; }
  // Findings that --repair did not (or could not) fix.
  uint64_t unrepaired() const;
  // The report as JSON, lists trimmed so that it fits one PartReply (at most ~48 KiB).
  std::string ToJson() const;
};

std::string_view FileTypeName(FileType type);

}  // namespace cvfs::server::meta
