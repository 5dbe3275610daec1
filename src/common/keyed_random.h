// Counter-based random draws keyed by (seed, step, row key, stream, element) and nothing else:
// not by the rank, a row's position in a local batch, the thread or a generator's history. A row
// key names a sample globally (the trainer uses 2 * global row + view), so N ranks that each hold
// part of a global batch draw exactly what one process holding all of it draws, and a resume at
// any world size continues the same draws. Streams separate independent uses (each dropout call,
// the permutation, noise and erasing of augmentation, a padded tokenizer's window); values are
// computed on the CPU and callers move them to their device, so CUDA runs draw the same numbers.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <vector>

namespace hyperrep {

// splitmix64's finaliser: a bijection with full avalanche.
inline uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

class KeyedDraws {
 public:
  KeyedDraws(uint64_t seed, uint64_t step, std::vector<int64_t> rows);
  // rows: int64 tensor on any device.
  KeyedDraws(uint64_t seed, uint64_t step, const torch::Tensor& rows);

  int64_t rows() const { return static_cast<int64_t>(rows_.size()); }
  const std::vector<int64_t>& row_keys() const { return rows_; }

  // [rows, n] float64, uniform on [0, 1) with 53 random bits.
  torch::Tensor uniform(uint64_t stream, int64_t n) const;
  // [rows] int64, uniform on [lo, hi).
  torch::Tensor integers(uint64_t stream, int64_t lo, int64_t hi) const;
  // [rows, n] float32, standard normal (Box-Muller on pairs of elements).
  torch::Tensor normal(uint64_t stream, int64_t n) const;
  // float32 of `shape` (leading dimension = rows): 1 / (1 - p) where the element is kept (with
  // probability 1 - p), 0 where it is dropped.
  torch::Tensor keep_mask(uint64_t stream, c10::IntArrayRef shape, double p) const;

 private:
  uint64_t row_key(uint64_t stream, int64_t r) const;
  // Calls fill(r, key) for every row r with its key under `stream`, rows spread over threads.
  template <class Fill>
  void each_row(uint64_t stream, const Fill& fill) const;

  uint64_t seed_, step_;
  std::vector<int64_t> rows_;
};

}  // namespace hyperrep
