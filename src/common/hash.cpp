#include "common/hash.h"

#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

#include "common/error.h"
#include "common/fs.h"

namespace hyperrep {

uint32_t crc32_bytes(const void* data, size_t n, uint32_t crc) {
  const auto* p = static_cast<const Bytef*>(data);
  uLong c = crc;
  while (n > 0) {  // zlib takes uInt lengths: feed 1 GiB at a time
    const uInt chunk = static_cast<uInt>(std::min<size_t>(n, size_t{1} << 30));
    c = ::crc32(c, p, chunk);
    p += chunk;
    n -= chunk;
  }
  return static_cast<uint32_t>(c);
}

uint32_t crc32_file(const std::string& path, int64_t* bytes) {
  const FileDescriptor fd = open_regular_file(path);
  std::vector<char> buf(1 << 20);
  uint32_t crc = 0;
  int64_t total = 0;
  while (true) {
    const ssize_t r = ::read(fd.get(), buf.data(), buf.size());
    if (r < 0) {
      if (errno == EINTR) continue;
      HYPERREP_THROW(IoError, "cannot read '", path, "': ", std::strerror(errno));
    }
    if (r == 0) break;
    crc = crc32_bytes(buf.data(), static_cast<size_t>(r), crc);
    total += r;
  }
  if (bytes) *bytes = total;
  return crc;
}

std::string crc32_hex(uint32_t crc) {
  char b[16];
  std::snprintf(b, sizeof b, "%08x", crc);
  return b;
}

void Fnv64::add(const void* data, size_t n) {
  const auto* p = static_cast<const unsigned char*>(data);
  uint64_t x = h;  // a local: the loop stays in a register
  for (size_t i = 0; i < n; ++i) {
    x ^= p[i];
    x *= 1099511628211ULL;
  }
  h = x;
}

std::string Fnv64::hex() const {
  char b[20];
  std::snprintf(b, sizeof b, "%016llx", static_cast<unsigned long long>(h));
  return b;
}

}  // namespace hyperrep
