// A zoo as the autoencoder's data set: members split into train/val/test (by member, seeded),
// checkpoint filters, the rows of the members a rank asked for, and per-block standardisation
// statistics built from sums and counts so that ranks can all-reduce them.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/config_sections.h"
#include "distributed/communicator.h"
#include "store/reader.h"

namespace hyperrep::data {

struct MemberSplit {
  std::vector<int64_t> train, val, test;  // member ids, ascending within each split
};

// Fisher-Yates shuffle of 0..num_members-1 driven by mt19937_64(seed) (identical on every
// platform), cut after round(f0*n) and round((f0+f1)*n) members. Fractions must sum to 1.
MemberSplit split_members(int64_t num_members, const std::vector<double>& fractions, int64_t seed);

// data.split_file: a CSV with a header naming a `member` column (hyperrep member ids) or a `run`
// column (the `run` property of imported zoos, e.g. the Small CNN Zoo's modeldir) and a `split`
// column (train, val or test); other columns are ignored. Members not listed are left out of
// every split (a published split may drop runs). DataError naming the file and line for an
// unknown member or split, a member listed twice, a missing column.
MemberSplit read_split_file(const std::string& path, const store::ZooReader& reader);

// The member split of a [data] section: its split_file when set, else split_members.
MemberSplit member_split(const DataConfig& data, const store::ZooReader& reader);

// Which checkpoints of the selected members are used.
struct ZooFilter {
  double max_abs_weight = 0.0;  // drop a row with any |w| above this; 0 = no limit
  std::vector<int64_t> epochs;  // keep only these epochs; empty = all stored
  static ZooFilter from_config(const DataConfig& data);
};

class ZooDataset {
 public:
  // Reads only the given members' rows (the reader maps only their shards), applies the
  // filter (non-finite rows are always dropped) and copies what is kept into memory.
  ZooDataset(const store::ZooReader& reader, std::vector<int64_t> members, const ZooFilter& filter);

  int64_t size() const { return static_cast<int64_t>(member_.size()); }
  int64_t num_params() const { return weights_.size(1); }
  const std::vector<int64_t>& members() const { return members_; }  // as requested, sorted

  const torch::Tensor& weights() const { return weights_; }  // float32 [N, L]
  // float64 [N, K]; columns = the zoo's numeric properties, plus "epoch" when not among them.
  const torch::Tensor& numeric() const { return numeric_; }
  const std::vector<std::string>& numeric_names() const { return numeric_names_; }
  int numeric_column(const std::string& name) const;  // -1 when absent
  const std::vector<std::string>& categorical_names() const { return categorical_names_; }
  const std::vector<std::string>& categorical(const std::string& name) const;  // [N]
  const std::vector<int64_t>& member_ids() const { return member_; }           // [N]
  const std::vector<int64_t>& epochs() const { return epoch_; }                // [N]

  int64_t dropped_nonfinite() const { return dropped_nonfinite_; }
  int64_t dropped_large() const { return dropped_large_; }

 private:
  std::vector<int64_t> members_;
  torch::Tensor weights_, numeric_;
  std::vector<std::string> numeric_names_, categorical_names_;
  std::map<std::string, std::vector<std::string>> categorical_;
  std::vector<int64_t> member_, epoch_;
  int64_t dropped_nonfinite_ = 0, dropped_large_ = 0;
};

// Sizes of the parameter blocks (weight, bias, ...) of the zoo's architecture, in flat order.
std::vector<int64_t> block_sizes_of(const store::ZooHeader& header);

// Mean and std of every parameter block over a set of rows (the training split), population
// (biased) estimate. Built from per-block sum, sum of squares and count in float64, which
// comm (when given) all-reduces, so every rank gets the statistics of the global split.
class BlockStandardizer {
 public:
  BlockStandardizer() = default;
  static BlockStandardizer compute(const torch::Tensor& weights, const std::vector<int64_t>& block_sizes,
                                   dist::Communicator* comm = nullptr);
  // From given per-block mean and std (float64 [B]); a std below 1e-12 becomes 1.
  BlockStandardizer(torch::Tensor mean, torch::Tensor std, std::vector<int64_t> block_sizes);

  const torch::Tensor& mean() const { return mean_; }  // float64 [B]
  const torch::Tensor& std() const { return std_; }    // float64 [B]
  const std::vector<int64_t>& block_sizes() const { return block_sizes_; }
  bool defined() const { return mean_.defined(); }

  // (w - mean) / std per block and the inverse, for w [..., L], any device, dtype kept.
  torch::Tensor standardize(const torch::Tensor& w) const;
  torch::Tensor destandardize(const torch::Tensor& w) const;

  // The tensor pair (mean, std) plus block sizes via torch::save, written atomically.
  void save(const std::string& path) const;
  static BlockStandardizer load(const std::string& path);

 private:
  torch::Tensor per_param(const torch::Tensor& per_block, const torch::Tensor& like) const;
  torch::Tensor mean_, std_;
  std::vector<int64_t> block_sizes_;
};

}  // namespace hyperrep::data
