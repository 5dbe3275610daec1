// The zoo as the trainer sees it on one rank: the members of each split that this rank holds
// (member i of a split goes to rank i mod world), the global table of training rows (so the
// global sample order is the same at any world size), per-block standardisation and per-layer
// variances computed over the whole training split by all-reduced sums.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/config.h"
#include "data/zoo_dataset.h"
#include "distributed/communicator.h"
#include "store/reader.h"
#include "zoo/architecture.h"

namespace hyperrep::train {

struct ShardedSplit {
  std::unique_ptr<data::ZooDataset> rows;  // this rank's members of the split
  torch::Tensor weights;                   // standardised (when configured) float32 [n, L]
};

// Keys that name things in the zoo, checked before any training: every data.epochs entry is
// stored by some member, every probe.targets entry a config names is a property of the zoo
// (default targets the zoo lacks are skipped with a warning). Throws ConfigErrors naming the
// key, its line and what the zoo has.
void check_config_against_zoo(const Config& cfg, const store::ZooReader& reader);

class TrainData {
 public:
  // Collective. Reads only this rank's members.
  TrainData(const Config& cfg, dist::Communicator& comm);

  const store::ZooReader& reader() const { return *reader_; }
  const zoo::Architecture& architecture() const { return arch_; }
  const ShardedSplit& split(const std::string& name) const;  // "train", "val", "test"
  // Training rows over all ranks, in (member, epoch) order: global row id -> local row or -1.
  int64_t global_rows() const { return static_cast<int64_t>(local_of_global_.size()); }
  int64_t local_row(int64_t global_row) const { return local_of_global_[global_row]; }
  const data::BlockStandardizer& standardizer() const { return standardizer_; }
  bool standardized() const { return standardized_; }
  // Variance of each parameter layer's values (weights and bias) over the training split, in
  // the space the model sees; [num_param_layers] float32.
  const torch::Tensor& layer_variance() const { return layer_variance_; }
  // The split's member ids (all ranks).
  const data::MemberSplit& members() const { return members_; }

 private:
  std::unique_ptr<store::ZooReader> reader_;
  zoo::Architecture arch_;
  data::MemberSplit members_;
  ShardedSplit train_, val_, test_;
  std::vector<int64_t> local_of_global_;
  data::BlockStandardizer standardizer_;
  bool standardized_ = false;
  torch::Tensor layer_variance_;
};

// The member ids of `all` that rank holds (every world-th, starting at rank).
std::vector<int64_t> members_of_rank(const std::vector<int64_t>& all, int rank, int world);

}  // namespace hyperrep::train
