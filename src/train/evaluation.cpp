#include "train/evaluation.h"

#include <spdlog/spdlog.h>

#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <set>

#include "common/error.h"
#include "common/fs.h"
#include "probe/weight_statistics.h"

namespace hyperrep::train {

probe::ProbeSplit make_probe_split(const data::ZooDataset& rows, const torch::Tensor& features,
                                   const std::vector<std::string>& targets) {
  probe::ProbeSplit s;
  s.features = features.to(torch::kFloat64);
  // A row's key: (member, epoch) as one int64, member in the high 31 bits (epochs are stored
  // non-negative; an imported zoo's epoch is its training step).
  s.keys = torch::empty({rows.size()}, torch::kInt64);
  auto* key = s.keys.data_ptr<int64_t>();
  for (int64_t i = 0; i < rows.size(); ++i) {
    const int64_t member = rows.member_ids()[i], epoch = rows.epochs()[i];
    HYPERREP_CHECK(member >= 0 && member < (int64_t{1} << 31) && epoch >= 0 && epoch < (int64_t{1} << 32), DataError,
                   "probe rows: member ", member, " or epoch ", epoch,
                   " is outside the probe's row key (member < 2^31, epoch < 2^32)");
    key[i] = (member << 32) + epoch;
  }
  const auto& cats = rows.categorical_names();
  for (const auto& t : targets) {
    const int col = rows.numeric_column(t);
    if (col >= 0) s.continuous[t] = rows.numeric().select(1, col).clone();
    else if (std::find(cats.begin(), cats.end(), t) != cats.end()) s.categorical[t] = rows.categorical(t);
  }
  return s;
}

namespace {

// True when a target takes one value on the training rows of every rank (NaN ignored): a
// probe of it would score nothing. Collective.
bool constant_target(const probe::ProbeSplit& train, const std::string& target, dist::Communicator& comm) {
  auto c = train.continuous.find(target);
  if (c != train.continuous.end()) {
    const auto v = c->second.to(torch::kFloat64);
    const auto finite = v.masked_select(torch::isfinite(v));
    const double inf = std::numeric_limits<double>::infinity();
    auto lo = torch::tensor({finite.numel() ? finite.min().item<double>() : inf}, torch::kFloat64);
    auto hi = torch::tensor({finite.numel() ? finite.max().item<double>() : -inf}, torch::kFloat64);
    comm.all_reduce(lo, dist::ReduceOp::kMin);
    comm.all_reduce(hi, dist::ReduceOp::kMax);
    return !(hi.item<double>() > lo.item<double>());
  }
  std::set<std::string> labels(train.categorical.at(target).begin(), train.categorical.at(target).end());
  std::string mine;
  for (const auto& l : labels) mine += l + '\n';
  for (const auto& theirs : comm.all_gather_bytes(mine)) {
    for (size_t a = 0, b; (b = theirs.find('\n', a)) != std::string::npos; a = b + 1) labels.insert(theirs.substr(a, b - a));
  }
  return labels.size() <= 1;
}

// Each note once per process (the baselines and every method ask about the same targets).
void note_once(const dist::Communicator& comm, const std::string& text) {
  static std::set<std::string> said;
  if (comm.rank() == 0 && said.insert(text).second) spdlog::info("{}", text);
}

}  // namespace

std::vector<probe::ProbeResult> probe_features(const std::string& method, const TrainData& data,
                                               const std::vector<torch::Tensor>& features, const Config& cfg,
                                               dist::Communicator& comm, const probe::ProbeSplit* ood) {
  const char* names[3] = {"train", "val", "test"};
  std::vector<probe::ProbeSplit> splits;
  for (int i = 0; i < 3; ++i) splits.push_back(make_probe_split(*data.split(names[i]).rows, features[i], cfg.probe.targets));
  auto options = probe::ProbeOptions::from_config(cfg.probe, static_cast<uint64_t>(cfg.train.seed));
  std::vector<std::string> present;
  for (const auto& t : options.targets) {
    if (!splits[0].continuous.count(t) && !splits[0].categorical.count(t)) {
      note_once(comm, "probe: target '" + t + "' is not a property of this zoo: skipped");
    } else if (constant_target(splits[0], t, comm)) {
      note_once(comm, "probe: target '" + t + "' is constant on the training members: skipped");
    } else {
      present.push_back(t);
    }
  }
  if (present.empty()) return {};
  options.targets = present;
  return probe::run_probes(method, splits[0], splits[1], splits[2], options, comm, ood);
}

std::vector<probe::ProbeResult> probe_baselines(const TrainData& data, const Config& cfg, dist::Communicator& comm) {
  probe::WeightStatistics stats(data.architecture());
  std::vector<torch::Tensor> raw, summary;
  for (const char* s : {"train", "val", "test"}) {
    const auto& w = data.split(s).rows->weights();
    raw.push_back(probe::raw_weight_features(w));
    summary.push_back(stats.compute(w));
  }
  auto out = probe_features("W", data, raw, cfg, comm);
  auto sw = probe_features("s(W)", data, summary, cfg, comm);
  out.insert(out.end(), sw.begin(), sw.end());
  return out;
}

}  // namespace hyperrep::train
