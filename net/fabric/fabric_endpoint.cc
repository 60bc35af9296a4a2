#include "net/fabric/fabric_endpoint.h"

#include <rdma/fabric.h>
#include <rdma/fi_cm.h>
#include <rdma/fi_domain.h>
#include <rdma/fi_endpoint.h>
#include <rdma/fi_errno.h>
#include <rdma/fi_rma.h>

#include <poll.h>
#include <sys/uio.h>
#include <unistd.h>

#include <filesystem>
#include <mutex>

#include "core/logging.h"

#include <cstring>

namespace cvfs::net::fabric {

namespace {

static_assert(sizeof(OpContextStorage) >= sizeof(fi_context2));

Status FiStatus(const char* call, int rc) {
  return Status::Unavailable(std::string(call) + ": " + fi_strerror(-rc));
}

// libfabric's shm provider names its regions /dev/shm/<pid>:<...> and a process killed
// with SIGKILL never removes them; a later process with the same pid then cannot open its
// shm endpoint ("Device or resource busy"). Before this process's first shm endpoint, every
// region named after its pid is such a leftover: remove them.
void RemoveStaleShmRegionsOnce() {
  static std::once_flag once;
  std::call_once(once, [] {
    const std::string prefix = std::to_string(getpid()) + ":";
    std::error_code ec;
    int removed = 0;
    for (auto it = std::filesystem::directory_iterator("/dev/shm", ec);
         !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
      if (it->path().filename().string().rfind(prefix, 0) == 0) {
        std::error_code ignored;
        if (std::filesystem::remove(it->path(), ignored)) ++removed;
      }
    }
    if (removed > 0) LOG_INFO("fabric.shm_stale_removed pid={} regions={}", getpid(), removed);
  });
}

}  // namespace

Result<std::shared_ptr<FabricEndpoint>> FabricEndpoint::Open(const FabricOptions& options) {
  std::shared_ptr<FabricEndpoint> ep(new FabricEndpoint());
  ep->provider_ = options.provider;
  const bool shm = options.provider == "shm";
  if (shm) RemoveStaleShmRegionsOnce();

  fi_info* hints = fi_allocinfo();
  if (hints == nullptr) return Status::ResourceExhausted("fi_allocinfo");
  hints->ep_attr->type = FI_EP_RDM;
  hints->caps = FI_MSG | FI_RMA | FI_SOURCE;
  hints->mode = FI_CONTEXT;
  hints->domain_attr->threading = FI_THREAD_SAFE;
  hints->domain_attr->mr_mode =
      FI_MR_LOCAL | FI_MR_VIRT_ADDR | FI_MR_ALLOCATED | FI_MR_PROV_KEY | FI_MR_ENDPOINT;
  hints->fabric_attr->prov_name = strdup(options.provider.c_str());
  std::string port = std::to_string(options.port);
  int rc = fi_getinfo(FI_VERSION(1, 17), shm ? nullptr : options.host.c_str(),
                      shm ? nullptr : port.c_str(), shm ? 0 : FI_SOURCE, hints, &ep->info_);
  fi_freeinfo(hints);
  if (rc != 0) {
    return Status::NotSupported("provider " + options.provider +
                                " unavailable: fi_getinfo: " + fi_strerror(-rc));
  }
  fi_info* info = ep->info_;
  ep->has_source_ = (info->caps & FI_SOURCE) != 0;
  const uint64_t mr_mode = info->domain_attr->mr_mode;
  ep->mr_local_ = (mr_mode & FI_MR_LOCAL) != 0;
  ep->mr_virt_addr_ = (mr_mode & FI_MR_VIRT_ADDR) != 0;
  ep->mr_prov_key_ = (mr_mode & FI_MR_PROV_KEY) != 0;
  ep->mr_endpoint_ = (mr_mode & FI_MR_ENDPOINT) != 0;
  ep->max_msg_size_ = info->ep_attr->max_msg_size;

  if ((rc = fi_fabric(info->fabric_attr, &ep->fabric_, nullptr)) != 0) {
    return FiStatus("fi_fabric", rc);
  }
  if ((rc = fi_domain(ep->fabric_, info, &ep->domain_, nullptr)) != 0) {
    return FiStatus("fi_domain", rc);
  }
  fi_av_attr av_attr{};
  av_attr.type = FI_AV_MAP;
  if ((rc = fi_av_open(ep->domain_, &av_attr, &ep->av_, nullptr)) != 0) {
    return FiStatus("fi_av_open", rc);
  }
  fi_cq_attr cq_attr{};
  cq_attr.format = FI_CQ_FORMAT_DATA;
  cq_attr.size = options.cq_size;
  // A file descriptor to wait on (tcp;ofi_rxm): poll() returns when any socket of the
  // endpoint has traffic, including RMA that targets this endpoint and produces no
  // completion; fi_cq_sread would swallow such wake-ups and sleep again.
  cq_attr.wait_obj = shm ? FI_WAIT_UNSPEC : FI_WAIT_FD;
  if (!shm && fi_cq_open(ep->domain_, &cq_attr, &ep->cq_, nullptr) == 0) {
    int fd = -1;
    if (fi_control(&ep->cq_->fid, FI_GETWAIT, &fd) == 0 && fd >= 0) {
      ep->wait_fd_ = fd;
      ep->can_wait_ = true;
    } else {
      fi_close(&ep->cq_->fid);
      ep->cq_ = nullptr;
    }
  }
  cq_attr.wait_obj = FI_WAIT_UNSPEC;
  if (ep->cq_ != nullptr) {
    // opened above with FI_WAIT_FD
  } else if (fi_cq_open(ep->domain_, &cq_attr, &ep->cq_, nullptr) == 0) {
    // shm (libfabric 1.17) accepts a wait object but fi_cq_sread ignores its timeout, so a
    // blocked progress thread could miss deadlines and Shutdown: poll it instead.
    ep->can_wait_ = !shm;
  } else {
    cq_attr.wait_obj = FI_WAIT_NONE;
    if ((rc = fi_cq_open(ep->domain_, &cq_attr, &ep->cq_, nullptr)) != 0) {
      return FiStatus("fi_cq_open", rc);
    }
  }
  if ((rc = fi_endpoint(ep->domain_, info, &ep->ep_, nullptr)) != 0) {
    return FiStatus("fi_endpoint", rc);
  }
  if ((rc = fi_ep_bind(ep->ep_, &ep->av_->fid, 0)) != 0) return FiStatus("fi_ep_bind(av)", rc);
  if ((rc = fi_ep_bind(ep->ep_, &ep->cq_->fid, FI_TRANSMIT | FI_RECV)) != 0) {
    return FiStatus("fi_ep_bind(cq)", rc);
  }
  if ((rc = fi_enable(ep->ep_)) != 0) return FiStatus("fi_enable", rc);

  char name[256];
  size_t name_len = sizeof(name);
  if ((rc = fi_getname(&ep->ep_->fid, name, &name_len)) != 0) return FiStatus("fi_getname", rc);
  ep->name_.assign(name, name_len);
  return ep;
}

void FabricEndpoint::CloseEndpoint() {
  if (ep_) fi_close(&ep_->fid);
  ep_ = nullptr;
}

FabricEndpoint::~FabricEndpoint() {
  CloseEndpoint();
  if (cq_) fi_close(&cq_->fid);
  if (av_) fi_close(&av_->fid);
  if (domain_) fi_close(&domain_->fid);
  if (fabric_) fi_close(&fabric_->fid);
  if (info_) fi_freeinfo(info_);
}

Result<uint64_t> FabricEndpoint::InsertAddress(std::string_view raw_name) {
  if (raw_name.empty() || raw_name.size() > 256) {
    return Status::InvalidArgument("fabric address has a bad length");
  }
  // Providers read a fixed-size address from the buffer: pad to the maximum.
  char buf[256] = {};
  std::memcpy(buf, raw_name.data(), raw_name.size());
  fi_addr_t addr = FI_ADDR_NOTAVAIL;
  int n = fi_av_insert(av_, buf, 1, &addr, 0, nullptr);
  if (n != 1 || addr == FI_ADDR_NOTAVAIL) {
    return Status::InvalidArgument("fi_av_insert rejected the address");
  }
  return static_cast<uint64_t>(addr);
}

int FabricEndpoint::PostRecv(void* buf, size_t len, void* desc, OpContextStorage* ctx) {
  return static_cast<int>(fi_recv(ep_, buf, len, desc, FI_ADDR_UNSPEC, ctx));
}

int FabricEndpoint::PostSend(uint64_t dest, const void* buf, size_t len, void* desc,
                             OpContextStorage* ctx) {
  return static_cast<int>(fi_send(ep_, buf, len, desc, dest, ctx));
}

int FabricEndpoint::PostWrite(uint64_t dest, const void* buf, size_t len, void* desc,
                              uint64_t remote_addr, uint64_t key, OpContextStorage* ctx,
                              bool deliver) {
  // FI_DELIVERY_COMPLETE: the completion means the bytes are in the target's memory (the
  // default, transmit-complete, only means they left this buffer; tcp;ofi_rxm reports that
  // before the target has them).
  iovec iov{const_cast<void*>(buf), len};
  fi_rma_iov rma{remote_addr, len, key};
  fi_msg_rma msg{};
  msg.msg_iov = &iov;
  msg.desc = &desc;
  msg.iov_count = 1;
  msg.addr = dest;
  msg.rma_iov = &rma;
  msg.rma_iov_count = 1;
  msg.context = ctx;
  // shm copies straight into the target (CMA), so its transmit completion already means
  // delivered, while its delivery-complete path waits for the target's progress thread.
  // Elsewhere (tcp;ofi_rxm: one connection per peer, read in order by the target;
  // verbs: one RC queue pair) writes to a peer are placed in order, so a delivery
  // completion of the last write covers the earlier ones.
  const uint64_t flags =
      provider_ == "shm" || !deliver ? FI_COMPLETION : FI_COMPLETION | FI_DELIVERY_COMPLETE;
  return static_cast<int>(fi_writemsg(ep_, &msg, flags));
}

int FabricEndpoint::PostRead(uint64_t dest, void* buf, size_t len, void* desc, uint64_t remote_addr,
                             uint64_t key, OpContextStorage* ctx) {
  return static_cast<int>(fi_read(ep_, buf, len, desc, dest, remote_addr, key, ctx));
}

int FabricEndpoint::Poll(Completion* out, int max, int timeout_ms, bool* woke) {
  constexpr int kBatch = 32;
  fi_cq_data_entry entries[kBatch];
  fi_addr_t sources[kBatch];
  if (max > kBatch) max = kBatch;
  if (woke != nullptr) *woke = false;
  ssize_t n;
  if (timeout_ms > 0 && wait_fd_ >= 0) {
    fid* fids[1] = {&cq_->fid};
    // fi_trywait: FI_SUCCESS only when nothing is pending (it progresses and checks the
    // queue itself), so the fd is then safe to block on.
    if (fi_trywait(fabric_, fids, 1) == FI_SUCCESS) {
      pollfd pfd{wait_fd_, POLLIN, 0};
      const int ready = ::poll(&pfd, 1, timeout_ms);
      if (woke != nullptr) *woke = ready > 0;
    } else if (woke != nullptr) {
      *woke = true;  // the provider has work pending
    }
    n = fi_cq_readfrom(cq_, entries, max, sources);
  } else if (timeout_ms > 0 && can_wait_) {
    n = fi_cq_sreadfrom(cq_, entries, max, sources, nullptr, timeout_ms);
  } else {
    n = fi_cq_readfrom(cq_, entries, max, sources);
  }
  if (n > 0) {
    for (ssize_t i = 0; i < n; ++i) {
      out[i].context = entries[i].op_context;
      out[i].flags = entries[i].flags;
      out[i].length = entries[i].len;
      out[i].source = has_source_ ? sources[i] : kNoAddress;
      out[i].error = 0;
    }
    return static_cast<int>(n);
  }
  if (n == -FI_EAVAIL) {
    fi_cq_err_entry err{};
    if (fi_cq_readerr(cq_, &err, 0) == 1) {
      out[0].context = err.op_context;
      out[0].flags = err.flags;
      out[0].length = err.len;
      out[0].source = kNoAddress;
      out[0].error = err.err != 0 ? err.err : FI_EOTHER;
      return 1;
    }
  }
  return 0;
}

void FabricEndpoint::Wake() {
  if (can_wait_) fi_cq_signal(cq_);
}

Result<std::unique_ptr<FabricMr>> FabricEndpoint::Register(void* data, size_t len) {
  if (data == nullptr || len == 0) return Status::InvalidArgument("empty memory region");
  std::unique_ptr<FabricMr> mr(new FabricMr());
  mr->owner_ = shared_from_this();
  mr->data_ = data;
  mr->size_ = len;
  const uint64_t access = FI_SEND | FI_RECV | FI_READ | FI_WRITE | FI_REMOTE_READ | FI_REMOTE_WRITE;
  const uint64_t requested_key = mr_prov_key_ ? 0 : next_key_.fetch_add(1);
  int rc = fi_mr_reg(domain_, data, len, access, 0, requested_key, 0, &mr->mr_, nullptr);
  if (rc != 0) {
    mr->mr_ = nullptr;
    return FiStatus("fi_mr_reg", rc);
  }
  if (mr_endpoint_) {
    if ((rc = fi_mr_bind(mr->mr_, &ep_->fid, 0)) != 0) return FiStatus("fi_mr_bind", rc);
    if ((rc = fi_mr_enable(mr->mr_)) != 0) return FiStatus("fi_mr_enable", rc);
  }
  mr->desc_ = fi_mr_desc(mr->mr_);
  mr->key_ = fi_mr_key(mr->mr_);
  return mr;
}

FabricMr::~FabricMr() {
  if (mr_) fi_close(&mr_->fid);
}

uint64_t FabricMr::remote_base() const {
  return owner_->mr_virt_addr() ? reinterpret_cast<uint64_t>(data_) : 0;
}

}  // namespace cvfs::net::fabric
