#include "train/train_data.h"

#include <algorithm>
#include <map>
#include <set>

#include "common/enums.h"
#include "common/error.h"
#include "common/logging.h"

namespace hyperrep::train {

std::vector<int64_t> members_of_rank(const std::vector<int64_t>& all, int rank, int world) {
  std::vector<int64_t> out;
  for (size_t i = static_cast<size_t>(rank); i < all.size(); i += static_cast<size_t>(world)) out.push_back(all[i]);
  return out;
}

namespace {

// Keys (member, epoch) of every row, packed for all_gather_bytes.
std::string pack_keys(const data::ZooDataset& d) {
  std::string out;
  for (int64_t i = 0; i < d.size(); ++i) {
    const int64_t key[2] = {d.member_ids()[i], d.epochs()[i]};
    out.append(reinterpret_cast<const char*>(key), sizeof key);
  }
  return out;
}

}  // namespace

void check_config_against_zoo(const Config& cfg, const store::ZooReader& reader) {
  std::vector<ConfigIssue> issues;
  const auto& h = reader.header();
  std::set<int64_t> stored;
  for (int64_t m = 0; m < reader.num_members(); ++m)
    stored.insert(reader.member(m).epochs.begin(), reader.member(m).epochs.end());
  std::vector<std::string> epochs;
  for (int64_t e : stored) epochs.push_back(std::to_string(e));
  for (int64_t e : cfg.data.epochs) {
    if (!stored.count(e)) {
      issues.push_back(config_issue(cfg, "data.epochs",
                                    "epoch " + std::to_string(e) + " is stored by no member of zoo '" + cfg.data.zoo +
                                        "' (its epochs: " + quote_few(epochs, 12) + ")"));
    }
  }
  std::vector<std::string> properties = {"member", "epoch"};
  for (const auto& n : h.numeric_properties)
    if (n != "member" && n != "epoch") properties.push_back(n);
  properties.insert(properties.end(), h.categorical_properties.begin(), h.categorical_properties.end());
  // Targets a config names must exist; the default list (test_acc, ggap, epoch) is cut down to
  // what the zoo has, with a note, so an imported zoo without ggap trains at the defaults.
  const bool named = cfg.origins.count("probe.targets") > 0;
  for (const auto& t : cfg.probe.targets) {
    if (std::find(properties.begin(), properties.end(), t) != properties.end()) continue;
    const std::string what =
        "'" + t + "' is not a property of zoo '" + cfg.data.zoo + "' (its properties: " + quote_few(properties, 12) + ")";
    if (named) issues.push_back(config_issue(cfg, "probe.targets", what));
    else spdlog::warn("default probe.targets: {}; not probed", what);
  }
  if (!issues.empty()) throw ConfigErrors(std::move(issues));
}

TrainData::TrainData(const Config& cfg, dist::Communicator& comm) {
  reader_ = std::make_unique<store::ZooReader>(cfg.data.zoo);
  const auto& header = reader_->header();
  arch_ = zoo::Architecture::parse(header.architecture, header.input_shape);
  check_config_against_zoo(cfg, *reader_);
  members_ = data::member_split(cfg.data, *reader_);
  HYPERREP_CHECK(!members_.train.empty(), DataError, "zoo '", cfg.data.zoo, "' has no training members with data.split = [",
                 cfg.data.split[0], ", ", cfg.data.split[1], ", ", cfg.data.split[2], "]");
  const auto filter = data::ZooFilter::from_config(cfg.data);
  const int rank = comm.rank(), world = comm.world_size();
  train_.rows = std::make_unique<data::ZooDataset>(*reader_, members_of_rank(members_.train, rank, world), filter);
  val_.rows = std::make_unique<data::ZooDataset>(*reader_, members_of_rank(members_.val, rank, world), filter);
  test_.rows = std::make_unique<data::ZooDataset>(*reader_, members_of_rank(members_.test, rank, world), filter);

  // Global training-row table in (member, epoch) order, identical on every rank.
  std::vector<std::pair<std::pair<int64_t, int64_t>, int64_t>> keys;  // key -> owner-local row (or -1)
  const auto parts = comm.all_gather_bytes(pack_keys(*train_.rows));
  for (int r = 0; r < world; ++r) {
    const auto* k = reinterpret_cast<const int64_t*>(parts[r].data());
    const int64_t n = static_cast<int64_t>(parts[r].size() / (2 * sizeof(int64_t)));
    for (int64_t i = 0; i < n; ++i) keys.push_back({{k[2 * i], k[2 * i + 1]}, r == rank ? i : -1});
  }
  std::sort(keys.begin(), keys.end());
  local_of_global_.reserve(keys.size());
  for (const auto& k : keys) local_of_global_.push_back(k.second);
  const int64_t dropped = comm.all_reduce_int(train_.rows->dropped_nonfinite() + train_.rows->dropped_large());
  spdlog::info("zoo {}: {} members ({} train / {} val / {} test), {} training rows over {} rank(s), {} dropped by filters",
               cfg.data.zoo, reader_->num_members(), members_.train.size(), members_.val.size(), members_.test.size(),
               keys.size(), world, dropped);

  const auto blocks = data::block_sizes_of(header);
  standardizer_ = data::BlockStandardizer::compute(train_.rows->weights(), blocks, &comm);
  standardized_ = parse_enum<Standardize>(cfg.data.standardize, "data.standardize") == Standardize::kLayer;
  for (ShardedSplit* s : {&train_, &val_, &test_}) {
    s->weights = standardized_ ? standardizer_.standardize(s->rows->weights()) : s->rows->weights();
  }

  // Per-layer variance (weights and bias of a layer together) over all training rows.
  const auto& layers = arch_.param_layers();
  auto sums = torch::zeros({static_cast<int64_t>(layers.size()), 3}, torch::kFloat64);
  const auto w = train_.weights.to(torch::kFloat64);
  for (size_t k = 0; k < layers.size(); ++k) {
    const auto& l = arch_.layers()[layers[k]];
    auto part = w.narrow(1, l.weight_offset, l.param_numel());  // bias follows its weight
    sums[k][0] = part.sum();
    sums[k][1] = part.pow(2).sum();
    sums[k][2] = static_cast<double>(part.numel());
  }
  comm.all_reduce(sums, dist::ReduceOp::kSum);
  auto n = sums.select(1, 2).clamp_min(1);
  auto mean = sums.select(1, 0) / n;
  layer_variance_ = (sums.select(1, 1) / n - mean * mean).clamp_min(0).to(torch::kFloat32);
}

const ShardedSplit& TrainData::split(const std::string& name) const {
  if (name == "train") return train_;
  if (name == "val") return val_;
  HYPERREP_CHECK(name == "test", InternalError, "unknown split ", name);
  return test_;
}

}  // namespace hyperrep::train
