// run_probes over continuous and categorical targets, the [probe] options, and probes.csv rows.
#include <gtest/gtest.h>

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>

#include "common/config_sections.h"
#include "common/csv.h"
#include "common/error.h"
#include "distributed/communicator.h"
#include "probe/metrics.h"
#include "probe/probe_runner.h"
#include "probe/ridge_probe.h"

namespace hyperrep::probe {
namespace {

// Features [n, 6]; "acc" is linear in them plus a little noise, "noise" is independent of them,
// "act" is decided by the sign of feature 2 (a linearly separable category).
ProbeSplit make_split(int64_t n, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  ProbeSplit s;
  s.features = torch::randn({n, 6}, gen, torch::kFloat64);
  s.features.select(1, 2).add_(torch::where(s.features.select(1, 2) > 0, 1.0, -1.0));  // a margin
  auto w = torch::tensor({0.5, -0.2, 0.0, 0.1, 0.3, 0.0}, torch::kFloat64);
  s.continuous["acc"] = torch::mv(s.features, w) + 0.05 * torch::randn({n}, gen, torch::kFloat64) + 0.6;
  s.continuous["noise"] = torch::randn({n}, gen, torch::kFloat64);
  for (int64_t i = 0; i < n; ++i) s.categorical["act"].push_back(s.features[i][2].item<double>() > 0 ? "tanh" : "relu");
  return s;
}

ProbeOptions options(std::vector<std::string> targets) {
  ProbeConfig cfg;
  cfg.targets = std::move(targets);
  cfg.classifier_epochs = 10;
  cfg.classifier_lr = 1e-2;
  return ProbeOptions::from_config(cfg, 5);
}

TEST(RunProbes, ContinuousAndCategoricalTargetsInConfiguredOrder) {
  dist::LocalCommunicator comm;
  auto train = make_split(200, 1), val = make_split(60, 2), test = make_split(80, 3);
  auto results = run_probes("E_cD", train, val, test, options({"act", "acc", "noise"}), comm);
  ASSERT_EQ(results.size(), 5u);
  const std::vector<std::pair<std::string, std::string>> expected = {
      {"act", "acc"}, {"acc", "r2"}, {"acc", "tau"}, {"noise", "r2"}, {"noise", "tau"}};
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(results[i].target, expected[i].first);
    EXPECT_EQ(results[i].metric, expected[i].second);
    EXPECT_EQ(results[i].method, "E_cD");
    EXPECT_EQ(results[i].n_train, 200);
    EXPECT_EQ(results[i].n_val, 60);
    EXPECT_EQ(results[i].n_test, 80);
  }
  EXPECT_DOUBLE_EQ(results[0].value, 1.0);
  EXPECT_TRUE(std::isnan(results[0].lambda));
  EXPECT_GT(results[1].value, 0.95);  // noise 0.05 against a signal of std ~0.6
  EXPECT_GT(results[1].val_value, 0.95);
  EXPECT_GT(results[2].value, 0.85);
  EXPECT_LT(results[3].value, 0.05);
  EXPECT_LT(std::abs(results[4].value), 0.3);  // tau of independent data: std 0.076 at 80 rows
  EXPECT_FALSE(std::isnan(results[1].lambda));
  EXPECT_TRUE(std::isnan(results[2].val_value));
  // tau is Kendall's tau between the chosen ridge's test predictions and the test targets.
  auto stats = [](const ProbeSplit& s) {
    RidgeStats r(6, 1);
    r.accumulate(s.features, s.continuous.at("noise"));
    return r;
  };
  RidgeProbe ridge(true);
  ridge.fit(stats(train), stats(val), ProbeConfig().lambdas);
  EXPECT_EQ(ridge.result().best_lambda[0], results[3].lambda);
  EXPECT_NEAR(results[3].value, ridge.evaluate(stats(test)).r2[0].item<double>(), 1e-12);
  EXPECT_NEAR(results[4].value, kendall_tau(ridge.predict(test.features).squeeze(1), test.continuous.at("noise")), 1e-12);
}

TEST(RunProbes, MultiTargetRidgeEqualsOneTargetAtATime) {
  dist::LocalCommunicator comm;
  auto train = make_split(120, 4), val = make_split(40, 5), test = make_split(50, 6);
  auto both = run_probes("W", train, val, test, options({"acc", "noise"}), comm);
  auto noise = run_probes("W", train, val, test, options({"noise"}), comm);
  EXPECT_NEAR(both[2].value, noise[0].value, 1e-12);
  EXPECT_EQ(both[2].lambda, noise[0].lambda);
}

TEST(RunProbes, UnknownOrInconsistentTargetsAreErrors) {
  dist::LocalCommunicator comm;
  auto train = make_split(30, 7), val = make_split(10, 8), test = make_split(10, 9);
  try {
    run_probes("W", train, val, test, options({"epoch"}), comm);
    FAIL();
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("'epoch' is missing in the train split (properties: acc noise act)"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(run_probes("W", train, val, test, options({"acc", "acc"}), comm), DataError);
  auto short_val = val;
  short_val.continuous["acc"] = short_val.continuous["acc"].narrow(0, 0, 5);
  EXPECT_THROW(run_probes("W", train, short_val, test, options({"acc"}), comm), DataError);
  auto empty_test = test;
  empty_test.features = torch::zeros({0, 6}, torch::kFloat64);
  empty_test.continuous["acc"] = torch::zeros({0}, torch::kFloat64);
  EXPECT_THROW(run_probes("W", train, val, empty_test, options({"acc"}), comm), DataError);
}

TEST(RunProbes, OutOfDistributionSplitIsScoredByTheSameProbes) {
  dist::LocalCommunicator comm;
  auto train = make_split(200, 1), val = make_split(60, 2), test = make_split(80, 3);
  auto ood = test;
  for (int i = 0; i < 10; ++i) ood.categorical["act"][i] = "gelu";  // a label the probe never saw
  auto results = run_probes("E_cD", train, val, test, options({"acc", "act"}), comm, &ood);
  ASSERT_EQ(results.size(), 6u);
  const std::vector<std::string> metrics = {"r2", "tau", "ood_r2", "ood_tau", "acc", "ood_acc"};
  for (size_t i = 0; i < metrics.size(); ++i) EXPECT_EQ(results[i].metric, metrics[i]);
  EXPECT_DOUBLE_EQ(results[2].value, results[0].value);  // the same rows: the same scores
  EXPECT_DOUBLE_EQ(results[3].value, results[1].value);
  EXPECT_EQ(results[2].lambda, results[0].lambda);
  EXPECT_DOUBLE_EQ(results[4].value, 1.0);
  EXPECT_DOUBLE_EQ(results[5].value, 70.0 / 80.0);
  EXPECT_EQ(results[5].n_test, 80);
  auto narrow = ood;
  narrow.features = narrow.features.narrow(1, 0, 5);
  EXPECT_THROW(run_probes("E_cD", train, val, test, options({"acc"}), comm, &narrow), DataError);
}

TEST(ProbeOptions, FromTheProbeSection) {
  ProbeConfig cfg;
  auto o = ProbeOptions::from_config(cfg, 42);
  EXPECT_EQ(o.lambdas.size(), 17u);
  EXPECT_EQ(o.lambdas.front(), 1e3);
  EXPECT_EQ(o.lambdas.back(), 1e-5);
  EXPECT_EQ(o.classifier.epochs, 50);
  EXPECT_EQ(o.classifier.lr, 1e-4);
  EXPECT_EQ(o.classifier.weight_decay, 1e-6);
  EXPECT_EQ(o.classifier.batch_size, 10);
  EXPECT_EQ(o.classifier.seed, 42u);
  EXPECT_TRUE(o.standardize);
}

TEST(ProbesCsv, RowsWithEpochTargetMethodMetricValueLambda) {
  EXPECT_EQ(probes_csv_header(), "epoch,target,method,metric,value,lambda");
  ProbeResult r;
  r.target = "test_acc";
  r.method = "E_cD";
  r.metric = "r2";
  r.value = 0.9375;
  r.lambda = 3e-5;
  ProbeResult c = r;
  c.target = "activation";
  c.method = "s(W)";
  c.metric = "acc";
  c.value = 0.75;
  c.lambda = std::nan("");
  ProbeResult odd = r;
  odd.method = "E,\"x\"";
  auto rows = to_csv_rows({r, c, odd}, 12);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0], "12,test_acc,E_cD,r2,0.9375,3e-05");
  EXPECT_EQ(rows[1], "12,activation,s(W),acc,0.75,nan");
  EXPECT_EQ(rows[2], "12,test_acc,\"E,\"\"x\"\"\",r2,0.9375,3e-05");
}

TEST(ResultsCsv, NamesWithCommasQuotesAndLineBreaksAreQuoted) {
  ProbeResult r;
  r.target = "lr, log";
  r.method = "E_\"x\"";
  r.metric = "r2";
  r.value = 0.125;
  r.lambda = 1e-3;
  ProbeResult c = r;
  c.target = "two\r\nlines";
  c.metric = "acc";
  c.lambda = std::nan("");
  const std::string csv = results_csv({r, c});
  EXPECT_EQ(csv,
            "target,method,metric,value,lambda\n\"lr, log\",\"E_\"\"x\"\"\",r2,0.125,0.001\n"
            "\"two\r\nlines\",\"E_\"\"x\"\"\",acc,0.125,nan\n");
  // The first row reads back field by field (the second spans two physical lines, by design).
  const auto first = csv.substr(csv.find('\n') + 1, csv.find('\n', csv.find('\n') + 1) - csv.find('\n') - 1);
  EXPECT_EQ(parse_csv_line(first), (std::vector<std::string>{"lr, log", "E_\"x\"", "r2", "0.125", "0.001"}));
}

}  // namespace
}  // namespace hyperrep::probe
