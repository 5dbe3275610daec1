// Linear softmax classifier probe for categorical targets (METHOD.md §6: Adam 1e-4, weight decay
// 1e-6, 50 epochs, batch 10), on train-z-scored features, seeded and deterministic.
#pragma once

#include <torch/torch.h>

#include <cstdint>

namespace hyperrep::dist {
class Communicator;
}

namespace hyperrep::probe {

struct ClassifierOptions {
  int64_t epochs = 50;
  double lr = 1e-4;
  double weight_decay = 1e-6;  // L2 added to the gradient, as torch.optim.Adam's weight_decay
  int64_t batch_size = 10;
  uint64_t seed = 0;        // initial weights and the per-epoch shuffles
  bool standardize = true;  // z-score with the training rows' mean and population std
};

// Distribution: fit() all-gathers the labelled training rows (embeddings are small) so that every
// rank trains the same model on the same rows in the same order. Given row keys, the gathered rows
// are put in key order first, so the result depends only on the seed and the rows, not on how
// they were dealt to ranks (the trainer deals members round-robin: without keys, 1 and 2 ranks
// would train on two orders of the same rows). Without keys the order is the ranks' order of
// their shards. Scoring stays sharded: each rank predicts its own rows and the counts are
// all-reduced.
class LinearClassifierProbe {
 public:
  explicit LinearClassifierProbe(ClassifierOptions options = {}) : options_(options) {}

  // x: this rank's rows [m, d]; labels int64 [m] in [0, num_classes); keys (optional) int64 [m],
  // distinct over all ranks, the rows' global order. Mini-batch gradients are computed by hand
  // (softmax cross-entropy, mean over the batch) and stepped with Adam in float64, matching
  // torch.optim.Adam's update.
  void fit(const torch::Tensor& x, const torch::Tensor& labels, int64_t num_classes, dist::Communicator& comm,
           const torch::Tensor& keys = {});

  bool fitted() const { return weight_.defined(); }
  torch::Tensor logits(const torch::Tensor& x) const;   // [m, C] float64
  torch::Tensor predict(const torch::Tensor& x) const;  // [m] int64
  // Accuracy over the rows of every rank; NaN when no rank holds a row.
  double accuracy(const torch::Tensor& x, const torch::Tensor& labels, dist::Communicator& comm) const;

  const torch::Tensor& weight() const { return weight_; }  // [C, d], on z-scored features
  const torch::Tensor& bias() const { return bias_; }      // [C]
  double final_train_loss() const { return final_loss_; }  // mean cross-entropy, last epoch

 private:
  torch::Tensor standardized(const torch::Tensor& x) const;

  ClassifierOptions options_;
  torch::Tensor mean_, scale_, weight_, bias_;
  double final_loss_ = 0.0;
};

}  // namespace hyperrep::probe
