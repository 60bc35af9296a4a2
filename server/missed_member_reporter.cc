#include "server/missed_member_reporter.h"

#include <chrono>
#include <utility>
#include <vector>

#include "core/logging.h"

namespace cvfs::server {

namespace {
// Notes arriving within this window after a report go out together in the next one.
constexpr auto kCoalesce = std::chrono::milliseconds(200);
constexpr auto kRetry = std::chrono::seconds(1);
}  // namespace

MissedMemberReporter::MissedMemberReporter(NodeId self, Clock& clock, ReportFn report)
    : self_(std::move(self)), clock_(clock), report_(std::move(report)) {}

MissedMemberReporter::~MissedMemberReporter() { Stop(); }

void MissedMemberReporter::Start() {
  thread_ = std::thread([this] { Run(); });
}

void MissedMemberReporter::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void MissedMemberReporter::Note(const MissedMember& member) {
  control::StaleSlotRecord record;
  record.fs_id = member.fs_id;
  record.pg = member.pg;
  record.index = member.index;
  record.node = member.node;
  record.by = self_;
  record.at_ms = clock_.WallMillis();
  {
    std::lock_guard<std::mutex> lock(mu_);
    pending_[SlotKey{member.fs_id, member.pg, member.index}] = std::move(record);
  }
  cv_.notify_one();
}

uint64_t MissedMemberReporter::reported() const {
  std::lock_guard<std::mutex> lock(mu_);
  return reported_;
}

void MissedMemberReporter::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    cv_.wait(lock, [&] { return stopping_ || !pending_.empty(); });
    // At Stop, what is pending is reported once more (best effort) before the thread ends.
    const bool last = stopping_;
    if (last && pending_.empty()) return;
    std::map<SlotKey, control::StaleSlotRecord> batch;
    batch.swap(pending_);
    lock.unlock();
    std::vector<control::StaleSlotRecord> failed;
    uint64_t written = 0;
    for (auto& [key, record] : batch) {
      Status st = report_(record);
      if (st.ok()) {
        ++written;
        LOG_INFO("rebuild.member_missed_write fs={} pg={} index={} node={} (reported: resync)",
                 record.fs_id, record.pg, record.index, record.node.str());
      } else {
        LOG_WARN("rebuild.stale_report_failed fs={} pg={} index={} node={} error=\"{}\"",
                 record.fs_id, record.pg, record.index, record.node.str(), st.ToString());
        failed.push_back(std::move(record));
      }
    }
    lock.lock();
    reported_ += written;
    if (last) return;
    for (auto& record : failed) {
      // A newer note of the same slot supersedes the failed report.
      pending_.try_emplace(SlotKey{record.fs_id, record.pg, record.index}, std::move(record));
    }
    cv_.wait_for(lock, failed.empty() ? kCoalesce : kRetry, [&] { return stopping_; });
  }
}

}  // namespace cvfs::server
