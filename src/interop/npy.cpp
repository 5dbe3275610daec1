#include "interop/npy.h"

#include "common/error.h"
#include "common/fs.h"

namespace hyperrep::interop {

void write_npy(const std::string& path, const torch::Tensor& matrix) {
  auto m = matrix.to(torch::kFloat32).contiguous();
  HYPERREP_CHECK(m.dim() == 2, InternalError, "write_npy expects a matrix");
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + std::to_string(m.size(0)) + ", " +
                       std::to_string(m.size(1)) + "), }";
  // magic (6) + version (2) + length (2) + header + '\n' is a multiple of 64.
  const size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  std::string out = "\x93NUMPY";
  out += static_cast<char>(1);
  out += static_cast<char>(0);
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>((header.size() >> 8) & 0xff);
  out += header;
  out.append(reinterpret_cast<const char*>(m.data_ptr<float>()), static_cast<size_t>(m.numel()) * sizeof(float));
  write_file_atomic(path, out);
}

}  // namespace hyperrep::interop
