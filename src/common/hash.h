// Checksums and content hashes: zlib's CRC32 for files on disk (zoo shards, manifests,
// journals, checkpoints) and 64-bit FNV-1a for content and config hashes. One of each.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace hyperrep {

// CRC32 (zlib) of n bytes, continuing from crc (0 starts a new one); any size.
uint32_t crc32_bytes(const void* data, size_t n, uint32_t crc = 0);
inline uint32_t crc32_bytes(std::string_view s, uint32_t crc = 0) { return crc32_bytes(s.data(), s.size(), crc); }
// CRC32 of a regular file read in chunks (a FIFO or device is refused, never read); the size
// read goes to *bytes when given.
uint32_t crc32_file(const std::string& path, int64_t* bytes = nullptr);
// Eight lower-case hex digits.
std::string crc32_hex(uint32_t crc);

// 64-bit FNV-1a, fed incrementally. Its start value is hyperrep's own, 1469598103934665603, not
// the published offset basis (14695981039346656037, one digit longer): every content, config and
// sweep-name hash ever written was made with it, so it stays.
struct Fnv64 {
  uint64_t h = 1469598103934665603ULL;
  void add(const void* data, size_t n);
  void add(std::string_view s) { add(s.data(), s.size()); }
  template <typename T>
  void add_pod(const T& v) {
    add(&v, sizeof(T));
  }
  // Sixteen lower-case hex digits.
  std::string hex() const;
};

}  // namespace hyperrep
