// Random: the only source of randomness in ConvergeFS. Seeded explicitly so that a test
// or fault-injection run can be replayed from its printed seed.
// Thread-safety: one Random per thread, or guard it externally.
#pragma once

#include <cstdint>
#include <random>
#include <string>

namespace cvfs {

class Random {
 public:
  explicit Random(uint64_t seed) : seed_(seed), engine_(seed) {}
  // A seed from the OS entropy source, for production instances.
  static uint64_t SeedFromEntropy();

  uint64_t seed() const { return seed_; }
  uint64_t Next64() { return engine_(); }
  // Uniform in [0, bound); bound must be > 0.
  uint64_t Uniform(uint64_t bound) {
    return std::uniform_int_distribution<uint64_t>(0, bound - 1)(engine_);
  }
  // Uniform in [lo, hi].
  int64_t Range(int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(engine_);
  }
  bool OneIn(uint64_t n) { return Uniform(n) == 0; }
  void Fill(void* data, size_t len);
  std::string Bytes(size_t len);

 private:
  uint64_t seed_;
  std::mt19937_64 engine_;
};

}  // namespace cvfs
