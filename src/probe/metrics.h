// Probe metrics: coefficient of determination, Kendall's tau-b (with ties) and accuracy, on
// tensors held by one rank.
#pragma once

#include <torch/torch.h>

namespace hyperrep::probe {

// R² = 1 - SSE / SST with SST around the target's own mean (sklearn's r2_score); prediction
// and target are 1-D of equal length. NaN when the target is constant or empty.
double r2_score(const torch::Tensor& prediction, const torch::Tensor& target);

// Kendall's tau-b between two 1-D sequences, ties in either corrected as scipy.stats.kendalltau
// does; O(n log n) (Knight's algorithm), so it stays cheap on tens of thousands of rows. NaN
// when fewer than two rows or when either sequence is constant.
double kendall_tau(const torch::Tensor& x, const torch::Tensor& y);

// Fraction of rows with predicted == target (integer labels, 1-D). NaN when empty.
double accuracy(const torch::Tensor& predicted, const torch::Tensor& target);

}  // namespace hyperrep::probe
