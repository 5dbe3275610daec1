// Sufficient statistics of a (multi-target) linear regression: n, Σx, Σy, Σy², XᵀX, Xᵀy.
// Each rank accumulates its own rows; one all-reduce sums them, so no rank needs every row.
#pragma once

#include <torch/torch.h>

namespace hyperrep::dist {
class Communicator;
}

namespace hyperrep::probe {

class RidgeStats {
 public:
  RidgeStats() = default;
  // Empty statistics for `features` columns of X and `targets` columns of y. The shapes must be
  // known up front: a rank without rows still takes part in the all-reduce.
  RidgeStats(int64_t features, int64_t targets);
  // Copies are deep: the statistics live in one buffer that accumulate() updates in place.
  RidgeStats(const RidgeStats& other);
  RidgeStats& operator=(const RidgeStats& other);
  RidgeStats(RidgeStats&&) = default;
  RidgeStats& operator=(RidgeStats&&) = default;

  // Adds rows: x [m, d], y [m] (single target) or [m, k]; any floating dtype, summed in float64.
  void accumulate(const torch::Tensor& x, const torch::Tensor& y);
  // Adds another shard's statistics (same shapes).
  RidgeStats& operator+=(const RidgeStats& other);
  // Sums the statistics of every rank in place (one all-reduce of one float64 buffer).
  void all_reduce(dist::Communicator& comm);

  int64_t features() const { return d_; }
  int64_t targets() const { return k_; }
  double count() const;
  torch::Tensor sum_x() const;   // [d]
  torch::Tensor sum_y() const;   // [k]
  torch::Tensor sum_yy() const;  // [k], Σ y² per target
  torch::Tensor xtx() const;     // [d, d]
  torch::Tensor xty() const;     // [d, k]

  // Moments around this set's own means (μ = Σx/n, ȳ = Σy/n). They are formed from the raw
  // sums, so they lose precision when |mean| ≫ spread (relative error ~1e-16·mean²/var in
  // float64): harmless for embeddings, weights and the usual targets.
  torch::Tensor mean_x() const;       // [d]
  torch::Tensor mean_y() const;       // [k]
  torch::Tensor centred_xtx() const;  // Σ (x-μ)(x-μ)ᵀ  [d, d]
  torch::Tensor centred_xty() const;  // Σ (x-μ)(y-ȳ)ᵀ  [d, k]
  torch::Tensor centred_yy() const;   // Σ (y-ȳ)² per target [k]

 private:
  // View of `numel` values at `offset` of the packed buffer: n | Σx | Σy | Σy² | XᵀX | Xᵀy.
  torch::Tensor part(int64_t offset, int64_t numel) const { return buffer_.narrow(0, offset, numel); }
  int64_t off_sum_x() const { return 1; }
  int64_t off_sum_y() const { return 1 + d_; }
  int64_t off_sum_yy() const { return 1 + d_ + k_; }
  int64_t off_xtx() const { return 1 + d_ + 2 * k_; }
  int64_t off_xty() const { return 1 + d_ + 2 * k_ + d_ * d_; }
  void check_defined(const char* op) const;

  int64_t d_ = 0;
  int64_t k_ = 0;
  torch::Tensor buffer_;
};

}  // namespace hyperrep::probe
