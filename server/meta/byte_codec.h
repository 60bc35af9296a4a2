// ByteWriter / ByteReader: the little-endian, length-prefixed encoding shared by every
// metadata record and by MetaBatch. The reader is bounded: every read checks the remaining
// bytes and a failed read latches `ok() == false`, so a decoder reads field after field and
// checks once at the end; garbage never reads out of bounds.
// Thread-safety: value types, one thread at a time.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace cvfs::server::meta {

class ByteWriter {
 public:
  explicit ByteWriter(std::string* out) : out_(out) {}
  void U8(uint64_t v) { Fixed(v, 1); }
  void U32(uint64_t v) { Fixed(v, 4); }
  void U64(uint64_t v) { Fixed(v, 8); }
  // A u32 length then the bytes.
  void Bytes(std::string_view b) {
    U32(b.size());
    out_->append(b);
  }

 private:
  void Fixed(uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) out_->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  }
  std::string* out_;
};

class ByteReader {
 public:
  explicit ByteReader(std::string_view in) : in_(in) {}
  uint8_t U8() { return static_cast<uint8_t>(Fixed(1)); }
  uint32_t U32() { return static_cast<uint32_t>(Fixed(4)); }
  uint64_t U64() { return Fixed(8); }
  // A length-prefixed byte string of at most `max_bytes`; fails (latched) when longer.
  std::string Bytes(size_t max_bytes) {
    const uint32_t n = U32();
    if (!ok_ || n > max_bytes || n > in_.size()) {
      ok_ = false;
      return {};
    }
    std::string out(in_.substr(0, n));
    in_.remove_prefix(n);
    return out;
  }
  // Every read so far succeeded.
  bool ok() const { return ok_; }
  // Every read succeeded and nothing is left over.
  bool done() const { return ok_ && in_.empty(); }
  size_t remaining() const { return in_.size(); }
  void Fail() { ok_ = false; }

 private:
  uint64_t Fixed(int bytes) {
    if (!ok_ || in_.size() < static_cast<size_t>(bytes)) {
      ok_ = false;
      return 0;
    }
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(in_[i]);
    in_.remove_prefix(bytes);
    return v;
  }
  std::string_view in_;
  bool ok_ = true;
};

}  // namespace cvfs::server::meta
