// Losses of the autoencoder (METHOD.md §5): reconstruction (plain or layer-wise normalised,
// with masks), NT-Xent over the views of the whole (possibly all-gathered) batch, γ mixing.
#pragma once

#include <torch/torch.h>

namespace hyperrep::model {

// Mean over the counted entries of weight * (recon - target)^2, where
//   counted = mask (all entries when mask is undefined; mask broadcasts against recon),
//   weight  = 1 (plain MSE, layer_variance undefined) or 1 / max(var_l, floor) for the layer
//             l = layer[entry] of each entry (layer-wise normalisation, NeurIPS 2022).
// So layer_norm equals MSE when every layer variance is 1, and a layer whose weights vary
// little weighs as much per value, relative to its spread, as a wide-spread one.
// layer: int64 broadcastable to recon; layer_variance: [num_layers] (the training split's).
// counted > 0 replaces the local count of counted entries as the denominator: a batch that
// several ranks share is averaged over its global count (reconstruction_entries, summed).
torch::Tensor reconstruction_loss(const torch::Tensor& recon, const torch::Tensor& target, const torch::Tensor& mask,
                                  const torch::Tensor& layer, const torch::Tensor& layer_variance, double floor,
                                  double counted = 0);
// The number of entries reconstruction_loss counts for recon and mask.
double reconstruction_entries(const torch::Tensor& recon, const torch::Tensor& mask);

// Rows [offset, offset + count) of the gathered views that this rank owns; count < 0 = all.
struct ViewSlice {
  int64_t offset = 0;
  int64_t count = -1;
};

// NT-Xent (SimCLR) over 2M views: a [M, o] holds the first view of every sample of the global
// batch and b [M, o] the second, row i of a being the twin of row i of b. Each of the 2M views
// is an anchor whose positive is its twin and whose negatives are the other 2M-2 views:
//   l_i = -log( exp(cos(v_i, twin_i)/t) / sum_{k != i} exp(cos(v_i, v_k)/t) ),
//   L   = (1 / 2M) * sum_i l_i.
// Distributed contract: pass the all-gathered a and b (rank order, identical on every rank)
// and the rank's own rows as `local`. The function returns (1 / 2M) * the sum of l_i over the
// 2*count anchors a[local] and b[local], so the partial losses of the ranks sum to L. The
// gradient w.r.t. the gathered tensors is exact for these terms; with an all_gather whose
// backward sums gradients over ranks (reduce-scatter), every rank gets dL/d(its views) and
// parameter gradients must then be summed over ranks (scale by world size when averaging).
// With local = all rows every rank computes the whole L instead (then the gather's backward
// must only keep the local slice, without summing).
torch::Tensor nt_xent(const torch::Tensor& a, const torch::Tensor& b, double temperature, ViewSlice local = {});

// L = gamma * contrast + (1 - gamma) * recon; a term whose weight is 0 may be undefined.
torch::Tensor mix_losses(double gamma, const torch::Tensor& contrast, const torch::Tensor& recon);

}  // namespace hyperrep::model
