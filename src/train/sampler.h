// The global sample order: a permutation of the training rows that depends only on the seed
// and the epoch, never on the world size, cut into global batches. Each rank processes the
// rows of a global batch that it holds, so N ranks see exactly the batches one process sees.
#pragma once

#include <cstdint>
#include <vector>

namespace hyperrep::train {

class GlobalSampler {
 public:
  GlobalSampler(int64_t num_rows, int64_t batch_size, uint64_t seed);
  // Global batches per epoch; a last batch of fewer than 2 rows is dropped (NT-Xent and batch
  // norm need two rows).
  int64_t batches_per_epoch() const { return batches_; }
  // Global row ids of batch `step` of `epoch`.
  std::vector<int64_t> batch(int64_t epoch, int64_t step);

 private:
  int64_t rows_, batch_size_, batches_;
  uint64_t seed_;
  int64_t cached_epoch_ = -1;
  std::vector<int64_t> order_;
};

}  // namespace hyperrep::train
