#include "net/rpc/pending_calls.h"

namespace cvfs::net::rpc {

void PendingCalls::Insert(uint64_t request_id, PendingCall call) {
  std::lock_guard<std::mutex> lock(mu_);
  calls_.emplace(request_id, std::move(call));
}

std::optional<PendingCall> PendingCalls::Take(uint64_t request_id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = calls_.find(request_id);
  if (it == calls_.end()) return std::nullopt;
  PendingCall call = std::move(it->second);
  calls_.erase(it);
  return call;
}

std::vector<PendingCall> PendingCalls::TakeExpired(TimePoint now) {
  std::vector<PendingCall> out;
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = calls_.begin(); it != calls_.end();) {
    if (it->second.deadline <= now) {
      out.push_back(std::move(it->second));
      it = calls_.erase(it);
    } else {
      ++it;
    }
  }
  return out;
}

std::vector<PendingCall> PendingCalls::TakePeer(uint64_t peer) {
  std::vector<PendingCall> out;
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = calls_.begin(); it != calls_.end();) {
    if (it->second.peer == peer) {
      out.push_back(std::move(it->second));
      it = calls_.erase(it);
    } else {
      ++it;
    }
  }
  return out;
}

std::vector<PendingCall> PendingCalls::TakeAll() {
  std::vector<PendingCall> out;
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [id, call] : calls_) out.push_back(std::move(call));
  calls_.clear();
  return out;
}

std::optional<TimePoint> PendingCalls::NextDeadline() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::optional<TimePoint> best;
  for (const auto& [id, call] : calls_) {
    if (!best || call.deadline < *best) best = call.deadline;
  }
  return best;
}

size_t PendingCalls::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return calls_.size();
}

}  // namespace cvfs::net::rpc
