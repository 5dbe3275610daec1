#include "interop/npy.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <sstream>
#include <vector>

#include "common/error.h"
#include "common/fs.h"

namespace hyperrep::interop {

std::string npy_float32_header(int64_t rows, int64_t cols) {
  std::string header =
      "{'descr': '<f4', 'fortran_order': False, 'shape': (" + std::to_string(rows) + ", " + std::to_string(cols) + "), }";
  // magic (6) + version (2) + length (2) + header + '\n' is a multiple of 64.
  const size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  std::string out = "\x93NUMPY";
  out += static_cast<char>(1);
  out += static_cast<char>(0);
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>((header.size() >> 8) & 0xff);
  return out + header;
}

void write_npy(const std::string& path, const torch::Tensor& matrix) {
  auto m = matrix.to(torch::kFloat32).contiguous();
  HYPERREP_CHECK(m.dim() == 2, InternalError, "write_npy expects a matrix");
  std::string out = npy_float32_header(m.size(0), m.size(1));
  out.append(reinterpret_cast<const char*>(m.data_ptr<float>()), static_cast<size_t>(m.numel()) * sizeof(float));
  write_file_atomic(path, out);
}

namespace {

// The value of 'key' in the header dict: the text after "'key':" up to the next top-level comma
// or the closing brace (a tuple's commas are inside parentheses).
std::string header_value(const std::string& header, const std::string& key, const std::string& path) {
  const size_t k = header.find("'" + key + "'");
  HYPERREP_CHECK(k != std::string::npos, DataError, "'", path, "': the .npy header has no '", key, "' (", header, ")");
  size_t i = header.find(':', k);
  HYPERREP_CHECK(i != std::string::npos, DataError, "'", path, "': malformed .npy header (", header, ")");
  int depth = 0;
  size_t j = ++i;
  for (; j < header.size(); ++j) {
    const char c = header[j];
    if (c == '(') ++depth;
    if (c == ')') --depth;
    if (depth == 0 && (c == ',' || c == '}')) break;
  }
  const std::string v = header.substr(i, j - i);
  const size_t b = v.find_first_not_of(" "), e = v.find_last_not_of(" ");
  return b == std::string::npos ? "" : v.substr(b, e - b + 1);
}

int64_t shape_dim(const std::string& text, const std::string& path) {
  HYPERREP_CHECK(!text.empty() && text.size() <= 15 && text.find_first_not_of("0123456789") == std::string::npos, DataError, "'",
                 path, "': shape entry '", text, "' is not a non-negative integer");
  return std::stoll(text);
}

}  // namespace

NpyMatrix::NpyMatrix(const std::string& path) : path_(path) {
  int64_t size = 0;
  FileDescriptor fd = open_regular_file(path, &size);
  char pre[12] = {};
  const ssize_t got = ::pread(fd.get(), pre, sizeof pre, 0);
  HYPERREP_CHECK(got >= 10 && std::memcmp(pre, "\x93NUMPY", 6) == 0, DataError, "'", path,
                 "' is not a .npy file (no \\x93NUMPY magic)");
  const int major = static_cast<unsigned char>(pre[6]);
  HYPERREP_CHECK(major >= 1 && major <= 3, DataError, "'", path, "': .npy format version ", major, " (readable: 1, 2, 3)");
  int64_t header_len = 0, header_start = 0;
  if (major == 1) {
    header_len = static_cast<unsigned char>(pre[8]) | (static_cast<unsigned char>(pre[9]) << 8);
    header_start = 10;
  } else {
    HYPERREP_CHECK(got == 12, DataError, "'", path, "' is truncated inside its .npy preamble");
    for (int i = 3; i >= 0; --i) header_len = (header_len << 8) | static_cast<unsigned char>(pre[8 + i]);
    header_start = 12;
  }
  constexpr int64_t kMaxHeader = int64_t{1} << 20;
  HYPERREP_CHECK(header_len <= kMaxHeader && header_start + header_len <= size, DataError, "'", path, "': .npy header of ",
                 header_len, " bytes does not fit a ", size, "-byte file");
  std::string header(static_cast<size_t>(header_len), '\0');
  HYPERREP_CHECK(::pread(fd.get(), header.data(), header.size(), header_start) == static_cast<ssize_t>(header.size()), IoError,
                 "cannot read the .npy header of '", path, "'");
  data_offset_ = header_start + header_len;
  std::string descr = header_value(header, "descr", path);
  if (descr.size() >= 2 && (descr.front() == '\'' || descr.front() == '"')) descr = descr.substr(1, descr.size() - 2);
  HYPERREP_CHECK(descr == "<f4" || descr == "<f8", DataError, "'", path, "': dtype '", descr,
                 "' is not supported (float32 '<f4' or float64 '<f8', little-endian)");
  descr_ = descr;
  item_ = descr == "<f4" ? 4 : 8;
  HYPERREP_CHECK(header_value(header, "fortran_order", path) == "False", DataError, "'", path,
                 "' is in Fortran order; only C order is read");
  const std::string shape = header_value(header, "shape", path);
  HYPERREP_CHECK(shape.size() >= 2 && shape.front() == '(' && shape.back() == ')', DataError, "'", path, "': malformed shape ",
                 shape);
  std::vector<std::string> dims;
  std::stringstream ss(shape.substr(1, shape.size() - 2));
  for (std::string d; std::getline(ss, d, ',');) {
    const size_t b = d.find_first_not_of(" "), e = d.find_last_not_of(" ");
    if (b != std::string::npos) dims.push_back(d.substr(b, e - b + 1));
  }
  HYPERREP_CHECK(dims.size() == 2, DataError, "'", path, "': shape ", shape, " is not 2-D (one row per checkpoint)");
  rows_ = shape_dim(dims[0], path), cols_ = shape_dim(dims[1], path);
  // In doubles first: the product of two 15-digit sizes overflows int64.
  const double bytes = static_cast<double>(rows_) * static_cast<double>(cols_) * static_cast<double>(item_);
  HYPERREP_CHECK(bytes == static_cast<double>(size - data_offset_), DataError, "'", path, "': the header promises ", rows_, " x ",
                 cols_, " ", descr_, " (", bytes, " bytes of data) but the file holds ", size - data_offset_,
                 bytes > static_cast<double>(size - data_offset_) ? " (truncated)" : " (bytes past the data)");
  len_ = static_cast<size_t>(size);
  if (rows_ * cols_ > 0) {
    addr_ = ::mmap(nullptr, len_, PROT_READ, MAP_SHARED, fd.get(), 0);
    if (addr_ == MAP_FAILED) {
      addr_ = nullptr;
      HYPERREP_THROW(IoError, "cannot mmap '", path, "': ", std::strerror(errno));
    }
    ::madvise(addr_, len_, MADV_SEQUENTIAL);
  }
}

NpyMatrix::~NpyMatrix() {
  if (addr_) ::munmap(addr_, len_);
}

void NpyMatrix::read_row(int64_t r, float* out) const {
  HYPERREP_CHECK(r >= 0 && r < rows_, InternalError, "row ", r, " outside 0..", rows_ - 1, " of '", path_, "'");
  const char* src = static_cast<const char*>(addr_) + data_offset_ + r * cols_ * item_;
  if (item_ == 4) {
    std::memcpy(out, src, static_cast<size_t>(cols_) * 4);
  } else {
    for (int64_t i = 0; i < cols_; ++i) {
      double v;
      std::memcpy(&v, src + i * 8, 8);
      out[i] = static_cast<float>(v);
    }
  }
}

void NpyMatrix::release_pages() const {
  if (addr_) ::madvise(addr_, len_, MADV_DONTNEED);
}

}  // namespace hyperrep::interop
