#include "core/random.h"

#include <cstring>

namespace cvfs {

uint64_t Random::SeedFromEntropy() {
  std::random_device rd;
  return (static_cast<uint64_t>(rd()) << 32) ^ rd();
}

void Random::Fill(void* data, size_t len) {
  auto* out = static_cast<unsigned char*>(data);
  while (len >= 8) {
    const uint64_t v = engine_();
    std::memcpy(out, &v, 8);
    out += 8;
    len -= 8;
  }
  if (len > 0) {
    const uint64_t v = engine_();
    std::memcpy(out, &v, len);
  }
}

std::string Random::Bytes(size_t len) {
  std::string s(len, '\0');
  Fill(s.data(), len);
  return s;
}

}  // namespace cvfs
