#include "probe/probe_runner.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <set>
#include <sstream>

#include "common/config_sections.h"
#include "common/csv.h"
#include "common/error.h"
#include "common/format.h"
#include "distributed/communicator.h"
#include "probe/metrics.h"
#include "probe/ridge_probe.h"

namespace hyperrep::probe {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

int64_t rows(const ProbeSplit& s, const char* split) {
  HYPERREP_CHECK(s.features.defined() && s.features.dim() == 2, DataError, "run_probes: ", split,
                 " features must be [rows, dims]");
  return s.features.size(0);
}

bool is_continuous(const std::string& target, const ProbeSplit& s, const char* split) {
  const bool cont = s.continuous.count(target) > 0, cat = s.categorical.count(target) > 0;
  if (cont != cat) return cont;
  std::ostringstream known;
  for (const auto& [name, _] : s.continuous) known << " " << name;
  for (const auto& [name, _] : s.categorical) known << " " << name;
  HYPERREP_THROW(DataError, "run_probes: target '", target, "' is ", cont ? "both continuous and categorical" : "missing",
                 " in the ", split, " split (properties:", known.str(), ")");
}

torch::Tensor continuous_columns(const ProbeSplit& s, const std::vector<std::string>& targets, const char* split) {
  const int64_t m = rows(s, split);
  std::vector<torch::Tensor> cols;
  for (const auto& t : targets) {
    const auto& c = s.continuous.at(t);
    HYPERREP_CHECK(c.dim() == 1 && c.size(0) == m, DataError, "run_probes: ", split, " target '", t, "' has shape ", c.sizes(),
                   ", expected [", m, "]");
    cols.push_back(c.to(torch::kCPU, torch::kFloat64));
  }
  return torch::stack(cols, 1);
}

RidgeStats stats_of(const ProbeSplit& s, const torch::Tensor& y, dist::Communicator& comm) {
  RidgeStats stats(s.features.size(1), y.size(1));
  stats.accumulate(s.features, y);
  stats.all_reduce(comm);
  return stats;
}

// The sorted union of the target's labels over every split and rank.
std::vector<std::string> label_vocabulary(const std::string& target, const std::vector<const ProbeSplit*>& splits,
                                          dist::Communicator& comm) {
  std::set<std::string> local;
  for (const auto* s : splits) {
    for (const auto& label : s->categorical.at(target)) {
      HYPERREP_CHECK(label.find('\n') == std::string::npos, DataError, "run_probes: label of '", target, "' contains a newline");
      local.insert(label);
    }
  }
  std::string joined;
  for (const auto& label : local) joined += label + "\n";
  std::set<std::string> all;
  for (const auto& part : comm.all_gather_bytes(joined)) {
    std::istringstream in(part);
    for (std::string label; std::getline(in, label);) all.insert(label);
  }
  return {all.begin(), all.end()};
}

torch::Tensor label_indices(const ProbeSplit& s, const std::string& target, const std::vector<std::string>& vocab,
                            const char* split) {
  const auto& labels = s.categorical.at(target);
  HYPERREP_CHECK(static_cast<int64_t>(labels.size()) == s.features.size(0), DataError, "run_probes: ", split, " target '", target,
                 "' has ", labels.size(), " labels for ", s.features.size(0), " rows");
  auto out = torch::empty({static_cast<int64_t>(labels.size())}, torch::kInt64);
  auto* p = out.data_ptr<int64_t>();
  for (size_t i = 0; i < labels.size(); ++i) {
    auto it = std::lower_bound(vocab.begin(), vocab.end(), labels[i]);
    p[i] = it != vocab.end() && *it == labels[i] ? it - vocab.begin() : -1;  // -1: unseen, never predicted
  }
  return out;
}

}  // namespace

ProbeOptions ProbeOptions::from_config(const ProbeConfig& cfg, uint64_t seed) {
  ProbeOptions o;
  o.targets = cfg.targets;
  o.lambdas = cfg.lambdas;
  o.standardize = cfg.standardize;
  o.classifier.epochs = cfg.classifier_epochs;
  o.classifier.lr = cfg.classifier_lr;
  o.classifier.weight_decay = cfg.classifier_weight_decay;
  o.classifier.batch_size = cfg.classifier_batch_size;
  o.classifier.seed = seed;
  o.classifier.standardize = cfg.standardize;
  return o;
}

namespace {

// The results of one run_probes call, by target: emitted at the end in the configured order.
struct ProbeJob {
  const ProbeSplit &train, &val, &test;
  const ProbeSplit* ood;
  const ProbeOptions& options;
  dist::Communicator& comm;
  const ProbeResult base;  // method and split sizes
  const int64_t n_ood;
  std::map<std::string, std::vector<ProbeResult>> by_target;

  // One ridge over every continuous target (lambda chosen on val per target): R^2 and tau.
  void ridge(const std::vector<std::string>& continuous) {
    const int64_t k = static_cast<int64_t>(continuous.size());
    RidgeProbe probe(options.standardize);
    const auto& fit = probe.fit(stats_of(train, continuous_columns(train, continuous, "train"), comm),
                                stats_of(val, continuous_columns(val, continuous, "val"), comm), options.lambdas);
    // R² from all-reduced statistics; τ needs every row in one place, but only k predictions and
    // k targets per row travel.
    auto evaluate = [&](const ProbeSplit& s, const char* name, const std::string& prefix, int64_t n) {
      auto y = continuous_columns(s, continuous, name);
      auto score = probe.evaluate(stats_of(s, y, comm));
      torch::Tensor gathered;
      if (options.kendall_tau) gathered = comm.all_gather_varying(torch::cat({probe.predict(s.features), y}, 1).contiguous());
      for (int64_t t = 0; t < k; ++t) {
        ProbeResult r = base;
        r.target = continuous[t];
        r.metric = prefix + "r2";
        r.value = score.r2[t].item<double>();
        r.val_value = fit.best_val_r2(t);
        r.lambda = fit.best_lambda[t];
        r.n_test = n;
        by_target[r.target].push_back(r);
        if (options.kendall_tau) {
          r.metric = prefix + "tau";
          r.value = kendall_tau(gathered.select(1, t), gathered.select(1, k + t));
          r.val_value = kNaN;
          by_target[r.target].push_back(r);
        }
      }
    };
    evaluate(test, "test", "", base.n_test);
    if (ood) evaluate(*ood, "ood", "ood_", n_ood);
  }

  // A linear classifier per categorical target: accuracy.
  void classify(const std::string& target) {
    const auto vocab = label_vocabulary(target, {&train, &val, &test}, comm);
    HYPERREP_CHECK(vocab.size() >= 2, DataError, "run_probes: target '", target, "' has fewer than two labels");
    LinearClassifierProbe clf(options.classifier);
    clf.fit(train.features, label_indices(train, target, vocab, "train"), static_cast<int64_t>(vocab.size()), comm, train.keys);
    ProbeResult r = base;
    r.target = target;
    r.metric = "acc";
    r.value = clf.accuracy(test.features, label_indices(test, target, vocab, "test"), comm);
    r.val_value = clf.accuracy(val.features, label_indices(val, target, vocab, "val"), comm);
    r.lambda = kNaN;
    by_target[target].push_back(r);
    if (ood) {
      r.metric = "ood_acc";
      r.value = clf.accuracy(ood->features, label_indices(*ood, target, vocab, "ood"), comm);
      r.n_test = n_ood;
      by_target[target].push_back(r);
    }
  }
};

}  // namespace

std::vector<ProbeResult> run_probes(const std::string& method, const ProbeSplit& train, const ProbeSplit& val,
                                    const ProbeSplit& test, const ProbeOptions& options, dist::Communicator& comm,
                                    const ProbeSplit* ood) {
  HYPERREP_CHECK(!options.targets.empty(), DataError, "run_probes: no targets");
  std::vector<std::pair<const ProbeSplit*, const char*>> splits = {{&train, "train"}, {&val, "val"}, {&test, "test"}};
  if (ood) splits.push_back({ood, "ood"});
  for (const auto& [s, name] : splits) rows(*s, name);
  const int64_t d = train.features.size(1);
  for (const auto& [s, name] : splits) {
    HYPERREP_CHECK(s->features.size(1) == d, DataError, "run_probes: features of ", method, " in the ", name, " split are ",
                   s->features.size(1), " wide, in train ", d);
  }
  ProbeResult base;
  base.method = method;
  base.n_train = comm.all_reduce_int(train.features.size(0));
  base.n_val = comm.all_reduce_int(val.features.size(0));
  base.n_test = comm.all_reduce_int(test.features.size(0));
  const int64_t n_ood = ood ? comm.all_reduce_int(ood->features.size(0)) : 0;
  HYPERREP_CHECK(base.n_train > 0 && base.n_val > 0 && base.n_test > 0 && (!ood || n_ood > 0), DataError, "run_probes: ", method,
                 " needs rows in every split (train ", base.n_train, ", val ", base.n_val, ", test ", base.n_test,
                 ood ? ", ood " + std::to_string(n_ood) : std::string(), ")");

  std::vector<std::string> continuous, categorical;
  for (const auto& t : options.targets) {
    HYPERREP_CHECK(std::count(options.targets.begin(), options.targets.end(), t) == 1, DataError, "run_probes: target '", t,
                   "' is listed more than once");
    const bool c = is_continuous(t, train, "train");
    for (const auto& [s, name] : splits) {
      HYPERREP_CHECK(is_continuous(t, *s, name) == c, DataError, "run_probes: target '", t, "' changes kind in the ", name,
                     " split");
    }
    (c ? continuous : categorical).push_back(t);
  }

  ProbeJob job{train, val, test, ood, options, comm, base, n_ood, {}};
  if (!continuous.empty()) job.ridge(continuous);
  for (const auto& target : categorical) job.classify(target);
  std::vector<ProbeResult> out;
  for (const auto& t : options.targets) out.insert(out.end(), job.by_target.at(t).begin(), job.by_target.at(t).end());
  return out;
}

std::string probes_csv_header() { return "epoch,target,method,metric,value,lambda"; }

std::vector<std::string> to_csv_rows(const std::vector<ProbeResult>& results, int64_t epoch) {
  std::vector<std::string> rows;
  for (const auto& r : results) {
    rows.push_back(std::to_string(epoch) + "," + csv_field(r.target) + "," + csv_field(r.method) + "," + csv_field(r.metric) +
                   "," + format_double(r.value) + "," + format_double(r.lambda));
  }
  return rows;
}

std::string results_csv(const std::vector<ProbeResult>& results) {
  std::string out = "target,method,metric,value,lambda\n";
  for (const auto& r : results) {
    out += csv_field(r.target) + "," + csv_field(r.method) + "," + csv_field(r.metric) + "," + format_double(r.value) + "," +
           format_double(r.lambda) + "\n";
  }
  return out;
}

std::string results_table(const std::vector<ProbeResult>& results, const std::vector<std::string>& methods) {
  std::vector<std::pair<std::string, std::string>> rows;  // (target, metric) in first-seen order
  std::map<std::pair<std::string, std::string>, std::map<std::string, double>> cell;
  for (const auto& r : results) {
    auto key = std::make_pair(r.target, r.metric);
    if (!cell.count(key)) rows.push_back(key);
    cell[key][r.method] = r.value;
  }
  std::string out = "| target | metric |";
  for (const auto& m : methods) out += " " + m + " |";
  out += "\n|---|---|";
  for (size_t i = 0; i < methods.size(); ++i) out += "---:|";
  out += "\n";
  char buf[32];
  for (const auto& key : rows) {
    out += "| " + key.first + " | " + key.second + " |";
    for (const auto& m : methods) {
      auto it = cell[key].find(m);
      if (it == cell[key].end()) out += " - |";
      else {
        // R^2 and accuracy in percent as in the paper's tables; tau as is.
        const bool percent = key.second != "tau" && key.second != "ood_tau";
        std::snprintf(buf, sizeof buf, percent ? " %.1f |" : " %.3f |", percent ? 100 * it->second : it->second);
        out += buf;
      }
    }
    out += "\n";
  }
  return out;
}

}  // namespace hyperrep::probe
