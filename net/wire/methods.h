// Method ids of the ConvergeFS RPC protocol. Ids are stable wire numbers: never renumber
// or reuse one. Each service owns a range; a method's payload format is documented next to
// its handler.
// Thread-safety: constants only.
#pragma once

#include <cstdint>

namespace cvfs::net {

enum class Method : uint16_t {
  kPing = 1,      // built in: echoes the request payload
  kNodeInfo = 2,  // server/: the node's identity and state

  // 100-999: control plane, 1000-1999: data path (server/, client/).
  kFirstControl = 100,
  // server/admin_service: add a drive directory to this cvfsd (uid 0 only).
  // Request JSON {"path"}; reply JSON {"index", "path", "capacity_bytes", "free_bytes"}.
  kAddDrive = 110,
  kScrubStatus = 111,   // cvfs -> cvfsd: {} -> the scrubber's state JSON (server/admin_service.h)
  kScrubStart = 112,    // cvfs -> cvfsd: {} -> {"pass": n} (root only)
  kReplaceDrive = 113,  // cvfs -> cvfsd: {index, path} -> {index, path, serial, ...} (root only)
  kFirstData = 1000,
  // Data path (docs/design/datapath.md); payloads in net/wire/data.fbs.
  kWriteStripe = 1000,     // client -> primary: WriteStripeRequest -> WriteStripeReply
  kPrepareCell = 1001,     // primary -> member: PrepareCellRequest -> EmptyReply
  kCommitCell = 1002,      // primary -> member: CellVersionRequest -> EmptyReply
  kAbortCell = 1003,       // primary -> member: CellVersionRequest -> EmptyReply
  kCellVersions = 1004,    // primary -> member: CellVersionsRequest -> CellVersionsReply
  kReadCell = 1005,        // client/primary -> member: ReadCellRequest -> ReadCellReply
  kReportCell = 1006,      // client -> primary: ReportCellRequest -> EmptyReply
  kTruncateObject = 1007,  // client -> primary: TruncateObjectRequest -> EmptyReply
  kDeleteStripes = 1008,   // primary -> node: DeleteStripesRequest -> EmptyReply
  kListStripes = 1009,     // primary -> member: ListStripesRequest -> ListStripesReply

  // 2000-2999: metadata (docs/design/namespace.md); payloads in net/wire/meta.fbs.
  // "Parent's primary": the primary of the directory's PG (inode >> 40). kMetaCreate makes
  // files and symlinks; kMetaCommitSize extends size/mtime after writes.
  kFirstMeta = 2000,
  kMetaLookup = 2000,      // client -> parent's primary: LookupRequest -> EntryReply
  kMetaGetAttr = 2001,     // client -> inode primary: GetAttrRequest -> AttrReply
  kMetaSetAttr = 2002,     // client -> inode primary: SetAttrRequest -> AttrReply
  kMetaCreate = 2003,      // client -> parent's primary: CreateRequest -> AttrReply
  kMetaMkdir = 2004,       // client -> parent's primary: MkdirRequest -> AttrReply
  kMetaUnlink = 2005,      // client -> parent's primary: UnlinkRequest -> AttrReply
  kMetaRmdir = 2006,       // client -> parent's primary: RmdirRequest -> EmptyReply
  kMetaRename = 2007,      // client -> source parent's primary: RenameRequest -> AttrReply
  kMetaLink = 2008,        // client -> new parent's primary: LinkRequest -> AttrReply
  kMetaReaddir = 2009,     // client -> directory primary: ReaddirRequest -> ReaddirReply
  kMetaReadlink = 2010,    // client -> inode primary: ReadlinkRequest -> ReadlinkReply
  kMetaStatFs = 2011,      // client -> root's primary: StatFsRequest -> StatFsReply
  kMetaApply = 2012,       // primary -> replica: ApplyRequest (replicated batch) -> EmptyReply
  kMetaOpen = 2013,        // client -> inode primary: OpenRequest -> OpenReply
  kMetaRelease = 2014,     // client -> inode primary: ReleaseRequest -> EmptyReply
  kMetaPart = 2015,        // primary -> other PG primary: PartRequest -> PartReply (cross-PG step)
  kMetaCommitSize = 2016,  // client -> inode primary: CommitSizeRequest -> AttrReply
  // primary -> replica: PartRequest (kind kSequence) -> PartReply (its last op sequence of
  // the PG, decimal); separate from kMetaPart so that it runs on the worker tier.
  kMetaSequence = 2017,
  // new primary -> an up-to-date replica: PartRequest (body: resume after this key) ->
  // PartReply (a page of the PG's records) for a primary that fell behind to copy its PG.
  kMetaDump = 2018,
  // cvfs CLI (root) -> any cvfsd: PartRequest{header.fs_id; body "repair"|"check"} ->
  // PartReply{body JSON report} (server/meta/meta_fsck.h).
  kMetaFsck = 2019,
  // primary -> a replica being rebuilt or resynced: PartRequest{kind 1 on the first page,
  // intent_id = the transfer, body: a page of the PG's records (DumpPage)} -> PartReply{}.
  // The replica replaces the PG with the pages when the last one (done) arrives.
  kMetaInstall = 2020,

  // 60000-60999: reserved for tests; never used by production code.
  kFirstTest = 60000,
  kLastTest = 60999,
};

constexpr uint16_t MethodId(Method m) { return static_cast<uint16_t>(m); }

}  // namespace cvfs::net
