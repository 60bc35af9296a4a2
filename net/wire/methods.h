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
  kFirstData = 1000,

  // 60000-60999: reserved for tests; never used by production code.
  kFirstTest = 60000,
  kLastTest = 60999,
};

constexpr uint16_t MethodId(Method m) { return static_cast<uint16_t>(m); }

}  // namespace cvfs::net
