// NumPy's .npy format: written (version 1.0) for the matrices hyperrep hands to Python
// (embeddings), read (versions 1-3) for the public zoos' weight matrices, memory-mapped.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>

namespace hyperrep::interop {

// A 2-D float32 or float64 C-order .npy file, memory-mapped and never read whole (the Small CNN
// Zoo's weights.npy is 5.4 GB). The header is checked against the file size: a truncated file,
// one with bytes past the data, an unknown or big-endian dtype, Fortran order or another rank is
// a DataError naming the file.
class NpyMatrix {
 public:
  explicit NpyMatrix(const std::string& path);
  ~NpyMatrix();
  NpyMatrix(const NpyMatrix&) = delete;
  NpyMatrix& operator=(const NpyMatrix&) = delete;

  int64_t rows() const { return rows_; }
  int64_t cols() const { return cols_; }
  // "<f4" or "<f8".
  const std::string& dtype() const { return descr_; }
  const std::string& path() const { return path_; }
  // Row r converted to float32 into out[0 .. cols()).
  void read_row(int64_t r, float* out) const;
  // Lets the kernel drop the pages read so far (resident memory stays bounded on long reads).
  void release_pages() const;

 private:
  std::string path_, descr_;
  int64_t rows_ = 0, cols_ = 0, item_ = 4, data_offset_ = 0;
  void* addr_ = nullptr;
  size_t len_ = 0;
};

// Writes a matrix as float32, C order, atomically; numpy.load reads it.
void write_npy(const std::string& path, const torch::Tensor& matrix);
// The bytes before the data of a version 1.0 float32 C-order [rows, cols] .npy file (a multiple
// of 64 long), for writers that stream the rows after it.
std::string npy_float32_header(int64_t rows, int64_t cols);

}  // namespace hyperrep::interop
