#include "train/sampler.h"

#include <algorithm>
#include <numeric>
#include <random>

#include "common/error.h"

namespace hyperrep::train {

GlobalSampler::GlobalSampler(int64_t num_rows, int64_t batch_size, uint64_t seed)
    : rows_(num_rows), batch_size_(batch_size), seed_(seed) {
  HYPERREP_CHECK(num_rows >= 2, DataError, "the training split has ", num_rows, " rows; at least 2 are needed");
  HYPERREP_CHECK(batch_size >= 2, ConfigError, "train.batch_size must be at least 2 (NT-Xent and batch norm)");
  batches_ = rows_ / batch_size_ + ((rows_ % batch_size_) >= 2 ? 1 : 0);
}

std::vector<int64_t> GlobalSampler::batch(int64_t epoch, int64_t step) {
  if (epoch != cached_epoch_) {
    // mt19937_64 + Fisher-Yates: identical on every platform and rank.
    std::mt19937_64 gen(seed_ * 0x9E3779B97F4A7C15ULL + static_cast<uint64_t>(epoch) + 1);
    order_.resize(rows_);
    std::iota(order_.begin(), order_.end(), 0);
    for (int64_t i = rows_ - 1; i > 0; --i) {
      std::uniform_int_distribution<int64_t> pick(0, i);
      std::swap(order_[i], order_[pick(gen)]);
    }
    cached_epoch_ = epoch;
  }
  HYPERREP_CHECK(step >= 0 && step < batches_, InternalError, "batch ", step, " out of range");
  const int64_t begin = step * batch_size_;
  const int64_t end = std::min(rows_, begin + batch_size_);
  return std::vector<int64_t>(order_.begin() + begin, order_.begin() + end);
}

}  // namespace hyperrep::train
