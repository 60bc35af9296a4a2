#include "net/probe.h"

#include <infiniband/verbs.h>
#include <rdma/fabric.h>
#include <rdma/fi_domain.h>
#include <rdma/fi_endpoint.h>
#include <rdma/fi_errno.h>

#include <cstdio>
#include <cstring>

namespace cvfs::net {

namespace {

std::string PortStateName(ibv_port_state s) {
  switch (s) {
    case IBV_PORT_NOP:
      return "nop";
    case IBV_PORT_DOWN:
      return "down";
    case IBV_PORT_INIT:
      return "init";
    case IBV_PORT_ARMED:
      return "armed";
    case IBV_PORT_ACTIVE:
      return "active";
    case IBV_PORT_ACTIVE_DEFER:
      return "active_defer";
  }
  return "unknown";
}

std::string FiError(const char* call, int rc) {
  return std::string(call) + ": " + fi_strerror(-rc);
}

}  // namespace

Result<std::vector<RdmaDevice>> ListRdmaDevices() {
  std::vector<RdmaDevice> out;
  int count = 0;
  ibv_device** list = ibv_get_device_list(&count);
  if (list == nullptr) {
    // ENOSYS: no kernel support (no uverbs): the same as "no devices" for the operator.
    if (errno == ENOSYS) return out;
    return Status::Unavailable(std::string("ibv_get_device_list: ") + strerror(errno));
  }
  for (int i = 0; i < count; ++i) {
    RdmaDevice dev;
    dev.name = ibv_get_device_name(list[i]);
    char guid[32];
    std::snprintf(guid, sizeof(guid), "%016llx",
                  static_cast<unsigned long long>(be64toh(ibv_get_device_guid(list[i]))));
    dev.node_guid = guid;
    if (ibv_context* ctx = ibv_open_device(list[i])) {
      ibv_device_attr attr{};
      if (ibv_query_device(ctx, &attr) == 0) {
        for (int p = 1; p <= attr.phys_port_cnt; ++p) {
          ibv_port_attr pattr{};
          if (ibv_query_port(ctx, static_cast<uint8_t>(p), &pattr) == 0) {
            dev.ports.push_back(
                {p, PortStateName(pattr.state),
                 pattr.link_layer == IBV_LINK_LAYER_ETHERNET ? "Ethernet" : "InfiniBand"});
          }
        }
      }
      ibv_close_device(ctx);
    }
    out.push_back(std::move(dev));
  }
  ibv_free_device_list(list);
  return out;
}

std::vector<ProviderProbe> ProbeProviders(const std::vector<std::string>& providers) {
  std::vector<ProviderProbe> out;
  for (const auto& name : providers) {
    ProviderProbe probe;
    probe.provider = name;
    fi_info* hints = fi_allocinfo();
    hints->ep_attr->type = FI_EP_RDM;
    hints->caps = FI_MSG | FI_RMA;
    hints->mode = FI_CONTEXT;
    hints->domain_attr->mr_mode =
        FI_MR_LOCAL | FI_MR_VIRT_ADDR | FI_MR_ALLOCATED | FI_MR_PROV_KEY | FI_MR_ENDPOINT;
    hints->fabric_attr->prov_name = strdup(name.c_str());
    fi_info* info = nullptr;
    int rc = fi_getinfo(FI_VERSION(1, 17), name == "shm" ? nullptr : "127.0.0.1", nullptr, 0, hints,
                        &info);
    fi_freeinfo(hints);
    if (rc != 0) {
      probe.detail = FiError("fi_getinfo", rc);
      out.push_back(std::move(probe));
      continue;
    }
    fid_fabric* fabric = nullptr;
    fid_domain* domain = nullptr;
    fid_av* av = nullptr;
    fid_cq* cq = nullptr;
    fid_ep* ep = nullptr;
    do {
      if ((rc = fi_fabric(info->fabric_attr, &fabric, nullptr)) != 0) {
        probe.detail = FiError("fi_fabric", rc);
        break;
      }
      if ((rc = fi_domain(fabric, info, &domain, nullptr)) != 0) {
        probe.detail = FiError("fi_domain", rc);
        break;
      }
      fi_av_attr av_attr{};
      av_attr.type = FI_AV_MAP;
      if ((rc = fi_av_open(domain, &av_attr, &av, nullptr)) != 0) {
        probe.detail = FiError("fi_av_open", rc);
        break;
      }
      fi_cq_attr cq_attr{};
      cq_attr.format = FI_CQ_FORMAT_DATA;
      cq_attr.size = 16;
      if ((rc = fi_cq_open(domain, &cq_attr, &cq, nullptr)) != 0) {
        probe.detail = FiError("fi_cq_open", rc);
        break;
      }
      if ((rc = fi_endpoint(domain, info, &ep, nullptr)) != 0) {
        probe.detail = FiError("fi_endpoint", rc);
        break;
      }
      if ((rc = fi_ep_bind(ep, &av->fid, 0)) != 0 ||
          (rc = fi_ep_bind(ep, &cq->fid, FI_TRANSMIT | FI_RECV)) != 0) {
        probe.detail = FiError("fi_ep_bind", rc);
        break;
      }
      if ((rc = fi_enable(ep)) != 0) {
        probe.detail = FiError("fi_enable", rc);
        break;
      }
      probe.works = true;
      probe.detail =
          std::string("fabric ") + info->fabric_attr->name + ", domain " + info->domain_attr->name;
    } while (false);
    if (ep) fi_close(&ep->fid);
    if (cq) fi_close(&cq->fid);
    if (av) fi_close(&av->fid);
    if (domain) fi_close(&domain->fid);
    if (fabric) fi_close(&fabric->fid);
    fi_freeinfo(info);
    out.push_back(std::move(probe));
  }
  return out;
}

}  // namespace cvfs::net

#include <munge.h>

namespace cvfs::net {

MungeProbe ProbeMunge(const std::string& socket) {
  MungeProbe probe;
  munge_ctx_t ctx = munge_ctx_create();
  if (ctx == nullptr) {
    probe.detail = "munge_ctx_create failed (out of memory)";
    return probe;
  }
  if (!socket.empty() && munge_ctx_set(ctx, MUNGE_OPT_SOCKET, socket.c_str()) != EMUNGE_SUCCESS) {
    probe.detail = std::string("cannot use socket ") + socket + ": " + munge_ctx_strerror(ctx);
    munge_ctx_destroy(ctx);
    return probe;
  }
  char* cred = nullptr;
  munge_err_t err = munge_encode(&cred, ctx, nullptr, 0);
  if (err != EMUNGE_SUCCESS) {
    probe.detail = std::string("munge_encode: ") + munge_strerror(err) +
                   (socket.empty() ? "" : " (socket " + socket + ")");
    munge_ctx_destroy(ctx);
    return probe;
  }
  uid_t uid = 0;
  gid_t gid = 0;
  err = munge_decode(cred, ctx, nullptr, nullptr, &uid, &gid);
  free(cred);
  munge_ctx_destroy(ctx);
  if (err != EMUNGE_SUCCESS) {
    probe.detail = std::string("munge_decode: ") + munge_strerror(err);
    return probe;
  }
  probe.works = true;
  probe.uid = uid;
  probe.gid = gid;
  return probe;
}

}  // namespace cvfs::net
