// Standalone driver for LLVMFuzzerTestOneInput when libFuzzer is unavailable: replays every
// file of the corpus directories given as arguments, then N seeded random and mutated
// inputs (N from CVFS_FUZZ_RUNS, default 20000). Prints the seed so a failure replays.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "net/wire/envelope.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

int main(int argc, char** argv) {
  std::vector<std::string> corpus;
  for (int i = 1; i < argc; ++i) {
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(argv[i], ec)) {
      std::ifstream in(entry.path(), std::ios::binary);
      corpus.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
  }
  // Valid envelopes seed the mutations so they reach past the verifier.
  cvfs::net::wire::EnvelopeFields f;
  f.kind = cvfs::net::wire::EnvelopeKind::kRequest;
  f.request_id = 7;
  f.method = 1;
  f.payload = "ping";
  f.sender_address = std::string("\x02\x00\x30\x39\x7f\x00\x00\x01", 8);
  corpus.push_back(cvfs::net::wire::EncodeEnvelope(f));
  f.kind = cvfs::net::wire::EnvelopeKind::kHello;
  f.hello_credential = "MUNGE:xyz:";
  f.hello_node_name = "n";
  corpus.push_back(cvfs::net::wire::EncodeEnvelope(f));

  for (const auto& c : corpus) {
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(c.data()), c.size());
  }
  const char* runs_env = std::getenv("CVFS_FUZZ_RUNS");
  const long runs = runs_env ? std::atol(runs_env) : 20000;
  const uint64_t seed = std::random_device()();
  std::printf("envelope_fuzz: %zu corpus inputs, %ld random runs, seed %llu\n", corpus.size(), runs,
              static_cast<unsigned long long>(seed));
  std::fflush(stdout);
  std::mt19937_64 rng(seed);
  for (long i = 0; i < runs; ++i) {
    std::string input;
    if (i % 2 == 0) {
      input.resize(rng() % 512);
      for (auto& c : input) c = static_cast<char>(rng());
    } else {
      input = corpus[rng() % corpus.size()];
      const int flips = 1 + static_cast<int>(rng() % 8);
      for (int k = 0; k < flips && !input.empty(); ++k) {
        input[rng() % input.size()] = static_cast<char>(rng());
      }
      if (rng() % 4 == 0) input.resize(rng() % (input.size() + 1));
    }
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(input.data()), input.size());
  }
  std::printf("envelope_fuzz: ok\n");
  return 0;
}
