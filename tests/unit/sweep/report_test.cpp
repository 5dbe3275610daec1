#include "sweep/report.h"

#include "common/process.h"
#include "tests/unit/sweep/sweep_fixture.h"

namespace hyperrep::sweep::testing {
namespace {

TEST_F(SweepTest, ReportDrawsAPngPerTargetMetricAndNumericAxis) {
  if (find_executable("gnuplot").empty()) GTEST_SKIP() << "gnuplot not installed (apt-get install gnuplot-nox)";
  const auto s = load_sweep(sweep_file(R"("zoo.num_seeds=50,100,200", "zoo.activation=tanh,relu")"));
  ASSERT_EQ(s.runs.size(), 6u);
  for (size_t i = 0; i < s.runs.size(); ++i) {
    const double r2 = 0.3 + 0.1 * i;
    fake_done(s.runs[i], "target,method,metric,value,lambda\ntest_acc,s(W),r2," + std::to_string(r2 - 0.1) +
                             ",1\ntest_acc,E_cD,r2," + std::to_string(r2) + ",1\nepoch,E_cD,tau,0.8,\n");
  }
  const auto plots = write_report(s, collect(s));
  // Two (target, metric) pairs, one numeric axis (activation is not numeric).
  ASSERT_EQ(plots.size(), 2u);
  EXPECT_EQ(plots[0].png, "out/plots/test_acc__r2__zoo.num_seeds.png");
  EXPECT_EQ(plots[0].lines, 4u);  // {s(W), E_cD} x {tanh, relu}
  EXPECT_EQ(plots[1].png, "out/plots/epoch__tau__zoo.num_seeds.png");
  EXPECT_EQ(plots[1].lines, 2u);
  for (const auto& p : plots) {
    const std::string png = read(p.png);
    ASSERT_GT(png.size(), 4000u) << p.png;
    EXPECT_EQ(png.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8)) << p.png;
    EXPECT_FALSE(std::filesystem::exists(p.png + ".tmp"));
  }
  const std::string script = read(plots[0].script);
  EXPECT_NE(script.find("$line0 << EOD\n50 0.2\n100 0.4\n200 0.6\nEOD\n"), std::string::npos) << script;  // s(W), tanh
  EXPECT_NE(script.find("title 'E_cD, zoo.activation=relu'"), std::string::npos)
      << script;  // single quotes: gnuplot expands nothing
  const std::string md = read("out/report.md");
  EXPECT_NE(md.find("![test_acc r2 vs zoo.num_seeds](plots/test_acc__r2__zoo.num_seeds.png)"), std::string::npos) << md;
  EXPECT_NE(md.find("## test_acc: r2"), std::string::npos) << md;
}

TEST_F(SweepTest, ReportWithoutNumericAxisHasTablesOnly) {
  const auto s = load_sweep(sweep_file(R"("zoo.activation=tanh,relu")"));
  for (const auto& r : s.runs) fake_done(r, "target,method,metric,value,lambda\ntest_acc,W,r2,0.5,1\n");
  EXPECT_TRUE(write_report(s, collect(s)).empty());
  EXPECT_NE(read("out/report.md").find("No plots"), std::string::npos);
}

TEST_F(SweepTest, ReportNamesAMissingGnuplot) {
  const auto s = load_sweep(sweep_file(R"("zoo.num_seeds=50,100")"));
  for (const auto& r : s.runs) fake_done(r, "target,method,metric,value,lambda\ntest_acc,W,r2,0.5,1\n");
  try {
    write_report(s, collect(s), "no-such-gnuplot");
    FAIL() << "expected IoError";
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find("gnuplot-nox"), std::string::npos);
  }
}

}  // namespace
}  // namespace hyperrep::sweep::testing
