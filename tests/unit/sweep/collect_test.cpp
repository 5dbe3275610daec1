#include "sweep/collect.h"

#include "tests/unit/sweep/sweep_fixture.h"

namespace hyperrep::sweep::testing {
namespace {

TEST_F(SweepTest, CollectBuildsOneTableOfTheCompleteRuns) {
  const auto s = load_sweep(sweep_file(R"("zoo.num_seeds=50,100", "loss.gamma=0,0.5")"));
  ASSERT_EQ(s.runs.size(), 4u);
  // Runs 0, 1 and 3 are complete (run 3's file has its columns in another order); run 2 is not.
  fake_done(s.runs[0],
            "target,method,metric,value,lambda\ntest_acc,W,r2,0.41,10\ntest_acc,E_cD,r2,0.62,1\nactivation,E_cD,acc,0.9,\n");
  fake_done(s.runs[1], "target,method,metric,value,lambda\ntest_acc,W,r2,0.41,10\ntest_acc,E_cD,r2,0.66,0.1\n");
  write(s.runs[2].dir + "/results.csv", "target,method,metric,value,lambda\ntest_acc,E_cD,r2,0.1,1\n");
  fake_done(s.runs[3], "lambda,value,metric,method,target\n100,0.7,r2,E_cD,test_acc\n1,0.55,tau,E_cD,\"gap, test-train\"\n");

  const auto c = collect(s);
  EXPECT_EQ(c.missing, (std::vector<std::string>{"zoo.num_seeds=100__loss.gamma=0"}));
  EXPECT_EQ(collected_csv(s, c),
            "zoo.num_seeds,loss.gamma,target,method,metric,value\n"
            "50,0,test_acc,W,r2,0.41\n"
            "50,0,test_acc,E_cD,r2,0.62\n"
            "50,0,activation,E_cD,acc,0.9\n"
            "50,0.5,test_acc,W,r2,0.41\n"
            "50,0.5,test_acc,E_cD,r2,0.66\n"
            "100,0.5,test_acc,E_cD,r2,0.7\n"
            "100,0.5,\"gap, test-train\",E_cD,tau,0.55\n");

  const std::string md = collected_markdown(s, c);
  EXPECT_NE(md.find("3 of 4 runs complete"), std::string::npos) << md;
  EXPECT_NE(md.find("## test_acc: r2\n\n| zoo.num_seeds | loss.gamma | W | E_cD |\n|---|---|---|---|\n"
                    "| 50 | 0 | 0.41 | 0.62 |\n| 50 | 0.5 | 0.41 | 0.66 |\n| 100 | 0.5 |  | 0.7 |\n"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("## activation: acc\n\n| zoo.num_seeds | loss.gamma | E_cD |\n|---|---|---|\n| 50 | 0 | 0.9 |\n"),
            std::string::npos)
      << md;

  write_collected(s, c);
  EXPECT_EQ(read("out/results.csv"), collected_csv(s, c));
  EXPECT_EQ(read("out/results.md"), md);
}

TEST_F(SweepTest, CollectRejectsMalformedResults) {
  const auto s = load_sweep(sweep_file(R"("loss.gamma=0")"));
  fake_done(s.runs[0], "target,method,value\nx,W,1\n");
  EXPECT_THROW(collect(s), DataError);
  fake_done(s.runs[0], "target,method,metric,value,lambda\nx,W,r2\n");
  EXPECT_THROW(collect(s), DataError);
}

}  // namespace
}  // namespace hyperrep::sweep::testing
