#include "server/data/data_service.h"

namespace cvfs::server {

DataService::DataService(net::RpcEndpoint& endpoint, DataServiceOptions options)
    : pool_(endpoint, options.staging_buffers_per_class),
      peers_(endpoint),
      member_(endpoint, options.stores, pool_,
              [this](uint32_t fs_id, uint64_t inode, uint64_t first) {
                coordinator_.ForgetStripes(fs_id, inode, first);
              }),
      coordinator_(endpoint, member_, pool_, peers_,
                   CoordinatorOptions{options.self, options.crash_points, options.member_timeout}) {
}

void DataService::Register() {
  member_.Register();
  coordinator_.Register();
}

}  // namespace cvfs::server
