// Runs the configured probes on one feature set (W, s(W) or an embedding such as E_cD) over
// sharded train/val/test rows, and formats the results as rows of RUN/probes.csv.
#pragma once

#include <torch/torch.h>

#include <map>
#include <string>
#include <vector>

#include "probe/linear_classifier.h"

namespace hyperrep {
struct ProbeConfig;
}
namespace hyperrep::dist {
class Communicator;
}

namespace hyperrep::probe {

struct ProbeResult {
  std::string target;
  std::string method;  // the feature set: "W", "s(W)", "E_cD", ...
  std::string metric;  // "r2" and "tau" (continuous), "acc" (categorical); on test, or with
                       // the prefix "ood_" on the out-of-distribution split
  double value = 0.0;
  double val_value = 0.0;                      // the same metric on val (R² at the chosen λ; accuracy); NaN for tau
  double lambda = 0.0;                         // chosen ridge λ; NaN for the classifier
  int64_t n_train = 0, n_val = 0, n_test = 0;  // rows over all ranks (n_test: of the evaluated split)
};

// The rows of one split held by this rank: features and the properties of the same rows. A
// target is continuous or categorical by the map that holds it; ranks may hold no rows
// (features [0, d]) but must list the same columns.
struct ProbeSplit {
  torch::Tensor features;                                       // [m, d]
  torch::Tensor keys;                                           // [m] int64 row keys, distinct over all ranks (optional)
  std::map<std::string, torch::Tensor> continuous;              // name -> [m]
  std::map<std::string, std::vector<std::string>> categorical;  // name -> m labels
};

struct ProbeOptions {
  std::vector<std::string> targets;
  std::vector<double> lambdas;
  bool standardize = true;  // z-score features with train statistics (ridge and classifier)
  bool kendall_tau = true;  // also report Kendall's tau of the ridge's test predictions
  ClassifierOptions classifier;
  // The [probe] section; seed drives the classifier's initialisation and shuffles.
  static ProbeOptions from_config(const ProbeConfig& cfg, uint64_t seed);
};

// Every configured target, in order: continuous targets share one multi-target ridge fit (one
// factorisation; λ chosen per target) and give "r2" (and "tau"); categorical targets each train a
// linear classifier on labels indexed in the sorted order of the labels seen on any split and rank,
// giving "acc". With ood (e.g. another zoo embedded by the same encoder), the probes fitted here
// are also scored on it ("ood_r2", "ood_tau", "ood_acc"; labels unseen in train/val/test count as
// wrong). Collective: every rank calls it with the same method, options and ood presence.
std::vector<ProbeResult> run_probes(const std::string& method, const ProbeSplit& train, const ProbeSplit& val,
                                    const ProbeSplit& test, const ProbeOptions& options, dist::Communicator& comm,
                                    const ProbeSplit* ood = nullptr);

// RUN/probes.csv: header and one row per result (no trailing newline); λ is "nan" for the
// classifier, which pandas reads as NaN.
std::string probes_csv_header();
std::vector<std::string> to_csv_rows(const std::vector<ProbeResult>& results, int64_t epoch);
// RUN/results.csv: target,method,metric,value,lambda, a line per result.
std::string results_csv(const std::vector<ProbeResult>& results);
// A markdown table: one row per target and metric, one column per method in `methods` order;
// R^2 and accuracy in percent as in the paper's tables, Kendall's tau as is.
std::string results_table(const std::vector<ProbeResult>& results, const std::vector<std::string>& methods);

}  // namespace hyperrep::probe
