// MapWatcher: follows KeyLayout::Map() and delivers each decoded ClusterMap to a callback.
// Used by every cvfsd (through ControlAgent) and later by clients.
//
// Invariant: delivered epochs strictly increase; a map with an epoch not newer than the
// last delivered one is dropped (an older write replayed after a reconnect, or a rewrite
// without a change). A map that fails to decode is logged and skipped. After a watch
// resync (history compacted) the map is re-read.
//
// Thread-safety: public methods are thread-safe. The callback runs on the watch thread
// (or, for SetCallback's immediate delivery, on the caller's thread) with no lock held,
// one map at a time; it must not call Stop().
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <optional>

#include "control/etcd_client.h"
#include "control/keys.h"
#include "core/cluster_map.h"

namespace cvfs::control {

using MapCallback = std::function<void(const ClusterMap&)>;

class MapWatcher {
 public:
  // Reads the current map (delivering it if present), then watches from that revision.
  // kUnavailable when etcd cannot be reached.
  static Result<std::unique_ptr<MapWatcher>> Start(std::shared_ptr<EtcdClient> etcd, KeyLayout keys,
                                                   MapCallback callback = {});
  ~MapWatcher();  // Stop()
  MapWatcher(const MapWatcher&) = delete;
  MapWatcher& operator=(const MapWatcher&) = delete;

  // Replaces the callback; if a map is known, the new callback receives it at once.
  void SetCallback(MapCallback callback);
  // The newest map seen (nullopt before the first manager wrote one).
  std::optional<ClusterMap> latest() const;
  // Stops watching; no callback runs after it returns. Idempotent.
  void Stop();

 private:
  MapWatcher(std::shared_ptr<EtcdClient> etcd, KeyLayout keys, MapCallback callback);
  void Offer(const std::string& value);  // decode and deliver if newer
  void OnBatch(const WatchBatch& batch);

  // Const after construction.
  const std::shared_ptr<EtcdClient> etcd_;
  const KeyLayout keys_;

  mutable std::mutex mu_;
  std::optional<ClusterMap> latest_;  // guarded by mu_
  MapCallback callback_;              // guarded by mu_
  std::mutex deliver_mu_;             // serializes callback invocations (held while calling out)
  std::unique_ptr<EtcdWatch> watch_;  // set once in Start
};

}  // namespace cvfs::control
