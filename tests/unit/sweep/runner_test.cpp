#include "sweep/runner.h"

#include <sstream>

#include "common/process.h"
#include "tests/unit/sweep/sweep_fixture.h"

namespace hyperrep::sweep::testing {
namespace {

// Stands in for `hyperrep run --config C`: records the call, then completes the run (results.csv
// + DONE_RUN in C's directory) unless the run is the d_model=48 one (exit 3) or the latent=0 one
// ("succeeds" without DONE_RUN).
constexpr const char* kFakeRun = R"(#!/bin/bash
echo "$*" >> calls.log
[ "$1" = run ] && [ "$2" = --config ] || exit 9
dir=$(dirname "$3")
case "$dir" in
  *d_model=48*) exit 3 ;;
  *d_model=40*) exit 0 ;;
esac
printf 'target,method,metric,value,lambda\ntest_acc,E_cD,r2,0.5,1\n' > "$dir/results.csv"
: > "$dir/DONE_RUN"
)";

class RunnerTest : public SweepTest {
 protected:
  LaunchOptions fake_launch() {
    write("fake_hyperrep", kFakeRun);
    std::filesystem::permissions("fake_hyperrep", std::filesystem::perms::owner_all);
    return {dir_ + "/fake_hyperrep", {"mpirun", "--oversubscribe"}};
  }
  static size_t lines(const std::string& path) {
    const std::string t = read(path);
    return std::count(t.begin(), t.end(), '\n');
  }
};

TEST_F(RunnerTest, CompleteRunsAreSkippedFailuresRecordedAndTheSweepGoesOn) {
  const auto s = load_sweep(sweep_file(R"("model.d_model=32,48,64,40")"));
  const auto launch = fake_launch();
  fake_done(s.runs[0], "target,method,metric,value,lambda\n");
  std::ostringstream log;
  auto summary = run_sweep(s, launch, "", false, log);
  EXPECT_EQ(summary.skipped, 1u);
  EXPECT_EQ(summary.ran, 3u);
  EXPECT_EQ(summary.failed, (std::vector<std::string>{"model.d_model=48", "model.d_model=40"}));
  EXPECT_EQ(lines("calls.log"), 3u);  // the complete run was not started
  EXPECT_EQ(read("out/runs/model.d_model=48/SWEEP_FAILED"), "3\n");
  EXPECT_EQ(read("out/runs/model.d_model=40/SWEEP_FAILED"), "1\n");  // exit 0 without DONE_RUN
  EXPECT_TRUE(std::filesystem::exists("out/runs/model.d_model=64/DONE_RUN"));
  EXPECT_NE(log.str().find("model.d_model=48: FAILED (exit code 3)"), std::string::npos) << log.str();
  // The child read the resolved config written for it.
  const auto cfg = load_config("out/runs/model.d_model=64/sweep_config.toml");
  EXPECT_EQ(cfg.model.d_model, 64);
  EXPECT_EQ(cfg.run.dir, "out/runs/model.d_model=64");

  const auto c = count_states(s);
  EXPECT_EQ(c.done, 2u);
  EXPECT_EQ(c.failed, 2u);
  EXPECT_EQ(c.pending, 0u);
  EXPECT_EQ(run_state(s.runs[1]), RunState::kFailed);

  // Again: only the two failed runs start; --only starts one.
  summary = run_sweep(s, launch, "", false, log);
  EXPECT_EQ(summary.skipped, 2u);
  EXPECT_EQ(summary.ran, 2u);
  EXPECT_EQ(lines("calls.log"), 5u);
  summary = run_sweep(s, launch, "model.d_model=48", false, log);
  EXPECT_EQ(summary.ran, 1u);
  EXPECT_EQ(lines("calls.log"), 6u);
  EXPECT_THROW(run_sweep(s, launch, "model.d_model=99", false, log), UsageError);
}

TEST_F(RunnerTest, DryRunStartsNothing) {
  const auto s = load_sweep(sweep_file(R"("model.d_model=32,64")"));
  std::ostringstream log;
  const auto summary = run_sweep(s, fake_launch(), "", true, log);
  EXPECT_EQ(summary.ran, 0u);
  EXPECT_FALSE(std::filesystem::exists("calls.log"));
  EXPECT_FALSE(std::filesystem::exists("out/runs"));
  EXPECT_NE(log.str().find("would run " + dir_ + "/fake_hyperrep run --config out/runs/model.d_model=64/sweep_config.toml"),
            std::string::npos)
      << log.str();
}

TEST_F(RunnerTest, RanksAboveOneRunUnderMpirun) {
  const auto s = load_sweep(sweep_file(R"("model.d_model=32")", "grid", ""), {"sweep.ranks=2"});
  const auto cmd = run_command(s.runs[0], fake_launch());
  EXPECT_EQ(shell_join(cmd),
            "mpirun --oversubscribe -np 2 " + dir_ + "/fake_hyperrep run --config out/runs/model.d_model=32/sweep_config.toml");
  EXPECT_NE(plan_text(s, fake_launch()).find("model.d_model=32  [pending]"), std::string::npos);
}

TEST_F(RunnerTest, RanksCanBeAnAxis) {
  const auto s = load_sweep(sweep_file(R"("sweep.ranks=1,3")"));
  ASSERT_EQ(s.runs.size(), 2u);
  EXPECT_EQ(s.runs[0].name, "sweep.ranks=1");
  EXPECT_EQ(run_command(s.runs[0], fake_launch()).front(), dir_ + "/fake_hyperrep");
  EXPECT_EQ(shell_join(run_command(s.runs[1], fake_launch())),
            "mpirun --oversubscribe -np 3 " + dir_ + "/fake_hyperrep run --config out/runs/sweep.ranks=3/sweep_config.toml");
  const std::string script = slurm_script(s, fake_launch(), "/w");
  EXPECT_NE(script.find("#SBATCH --ntasks=3\n"), std::string::npos);
  EXPECT_NE(script.find("RUN_RANKS=(1 3)\n"), std::string::npos);
  EXPECT_THROW(load_sweep(sweep_file(R"("sweep.out=a,b")")), ConfigError);
}

TEST_F(RunnerTest, SlurmScriptHasOneTaskPerRunAndIsValidBash) {
  const auto s = load_sweep(sweep_file(R"("zoo.num_seeds=50,100", "model.latent=8,16")"));
  fake_done(s.runs[0], "target,method,metric,value,lambda\n");
  const std::string path = write_slurm_script(s, fake_launch());
  EXPECT_EQ(path, "out/sweep.sbatch");
  const std::string text = read(path);
  EXPECT_EQ(text.find("{{"), std::string::npos);
  EXPECT_NE(text.find("#SBATCH --array=0-3\n"), std::string::npos);
  EXPECT_NE(text.find("#SBATCH --output=" + dir_ + "/out/logs/%x_%A_%a.out"), std::string::npos);
  EXPECT_NE(text.find("#SBATCH --job-name=sweep_test\n"), std::string::npos);
  EXPECT_NE(text.find("RUN_NAMES=(\n  zoo.num_seeds=50__model.latent=8\n  zoo.num_seeds=50__model.latent=16\n"
                      "  zoo.num_seeds=100__model.latent=8\n  zoo.num_seeds=100__model.latent=16\n)"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("  out/zoos/zoo.num_seeds=100\n)"), std::string::npos) << text;
  EXPECT_NE(text.find("cd " + dir_ + " ||"), std::string::npos);
  EXPECT_TRUE(std::filesystem::is_directory("out/logs"));
  EXPECT_TRUE(std::filesystem::exists("out/runs/zoo.num_seeds=100__model.latent=16/sweep_config.toml"));
  EXPECT_EQ(run_process({"bash", "-n", path}), 0);
  if (!find_executable("shellcheck").empty()) {
    EXPECT_EQ(run_process({"shellcheck", "-S", "warning", path}), 0);
  }
  EXPECT_THROW(slurm_script(s, fake_launch(), "/w", "#SBATCH --array=0-{{LAST_TASK}}\n{{TYPO}}\n"), ConfigError);
}

// A task of the generated array, run by bash as Slurm would: completes its run through the fake
// binary (zoo step included), and a complete run exits at once.
TEST_F(RunnerTest, SlurmTaskRunsItsRun) {
  const auto s = load_sweep(sweep_file(R"("model.d_model=32,64")"));
  const auto launch = fake_launch();
  // The fake "zoo generate" fails the exit-9 check: give the shared zoo a manifest so the task skips it.
  write("zoos/base/manifest", "");
  write_slurm_script(s, launch);
  EXPECT_EQ(run_process({"env", "SLURM_ARRAY_TASK_ID=1", "SLURM_JOB_ID=7", "bash", "out/sweep.sbatch"}, dir_ + "/task.log"), 0)
      << read("task.log");
  EXPECT_TRUE(std::filesystem::exists("out/runs/model.d_model=64/DONE_RUN"));
  EXPECT_FALSE(std::filesystem::exists("out/runs/model.d_model=32/DONE_RUN"));
  EXPECT_EQ(lines("calls.log"), 1u);
  EXPECT_EQ(run_process({"env", "SLURM_ARRAY_TASK_ID=1", "bash", "out/sweep.sbatch"}, dir_ + "/task.log"), 0);
  EXPECT_EQ(lines("calls.log"), 1u);
}

}  // namespace
}  // namespace hyperrep::sweep::testing
