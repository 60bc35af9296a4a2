#include "control/map_watcher.h"

#include <utility>

#include "core/logging.h"

namespace cvfs::control {

MapWatcher::MapWatcher(std::shared_ptr<EtcdClient> etcd, KeyLayout keys, MapCallback callback)
    : etcd_(std::move(etcd)), keys_(std::move(keys)), callback_(std::move(callback)) {}

Result<std::unique_ptr<MapWatcher>> MapWatcher::Start(std::shared_ptr<EtcdClient> etcd,
                                                      KeyLayout keys, MapCallback callback) {
  auto watcher = std::unique_ptr<MapWatcher>(
      new MapWatcher(std::move(etcd), std::move(keys), std::move(callback)));
  CVFS_ASSIGN_OR_RETURN(RangeResponse current, watcher->etcd_->Get(watcher->keys_.Map()));
  if (!current.kvs.empty()) watcher->Offer(current.kvs[0].value);
  WatchOptions wo;
  wo.key = watcher->keys_.Map();
  wo.start_revision = current.revision + 1;
  MapWatcher* self = watcher.get();
  CVFS_ASSIGN_OR_RETURN(watcher->watch_, watcher->etcd_->Watch(wo, [self](const WatchBatch& b) {
    self->OnBatch(b);
  }));
  return watcher;
}

MapWatcher::~MapWatcher() { Stop(); }

void MapWatcher::Stop() {
  if (watch_) watch_->Stop();
}

void MapWatcher::OnBatch(const WatchBatch& batch) {
  if (batch.resync_required) {
    auto current = etcd_->Get(keys_.Map());
    if (current.ok() && !current->kvs.empty()) Offer(current->kvs[0].value);
    return;
  }
  for (const auto& event : batch.events) {
    if (event.type == WatchEventType::kPut) Offer(event.kv.value);
  }
}

void MapWatcher::Offer(const std::string& value) {
  auto map = ParseClusterMap(value);
  if (!map.ok()) {
    LOG_WARN("map.undecodable cluster={} error={}", keys_.cluster(), map.status().ToString());
    return;
  }
  std::lock_guard<std::mutex> deliver(deliver_mu_);
  MapCallback callback;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (latest_ && map->epoch <= latest_->epoch) return;
    latest_ = *map;
    callback = callback_;
  }
  if (callback) callback(*map);
}

void MapWatcher::SetCallback(MapCallback callback) {
  std::lock_guard<std::mutex> deliver(deliver_mu_);
  std::optional<ClusterMap> current;
  {
    std::lock_guard<std::mutex> lock(mu_);
    callback_ = callback;
    current = latest_;
  }
  if (callback && current) callback(*current);
}

std::optional<ClusterMap> MapWatcher::latest() const {
  std::lock_guard<std::mutex> lock(mu_);
  return latest_;
}

}  // namespace cvfs::control
