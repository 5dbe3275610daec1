// Running a sweep: the state of each run on disk (DONE_RUN / SWEEP_FAILED), the plan, running
// the pending runs one after another as `hyperrep run` children (under mpirun when ranks > 1),
// and the Slurm job-array script that runs them on a cluster instead.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

#include "sweep/sweep_spec.h"

namespace hyperrep::sweep {

enum class RunState { kDone, kFailed, kPending };
const char* state_name(RunState s);
// done: RUN/DONE_RUN exists; failed: the last attempt left RUN/SWEEP_FAILED; else pending.
RunState run_state(const SweepRun& run);

struct StatusCounts {
  size_t done = 0, failed = 0, pending = 0;
};
StatusCounts count_states(const Sweep& sweep);

struct LaunchOptions {
  std::string binary;               // the hyperrep executable the runs use
  std::vector<std::string> mpirun;  // launcher prefix for ranks > 1 (without -np N)
};
// hyperrep next to this executable; mpirun from $HYPERREP_MPIRUN (space separated) or Open MPI's
// mpirun with the flags of the tests (--oversubscribe --bind-to none, --allow-run-as-root as root).
LaunchOptions default_launch();

std::string run_config_path(const SweepRun& run);  // RUN/sweep_config.toml
void write_run_config(const SweepRun& run);
// Under the launcher when the run's config.sweep.ranks > 1.
std::vector<std::string> run_command(const SweepRun& run, const LaunchOptions& launch);

// One line per run: name, state, run dir, overrides.
std::string plan_text(const Sweep& sweep, const LaunchOptions& launch);

struct RunSummary {
  size_t ran = 0, skipped = 0;
  std::vector<std::string> failed;
};
// Runs the pending (and failed) runs in order, or only `only`; complete runs are skipped. A failed
// run writes RUN/SWEEP_FAILED (its exit code) and the sweep goes on. dry_run prints commands only.
RunSummary run_sweep(const Sweep& sweep, const LaunchOptions& launch, const std::string& only, bool dry_run, std::ostream& log);

// The job-array script: tmpl (cluster/sweep.sbatch, embedded at build time, when empty) with its
// {{FIELD}}s filled; one array task per run. workdir: where the runs' relative paths start.
std::string slurm_script(const Sweep& sweep, const LaunchOptions& launch, const std::string& workdir,
                         const std::string& tmpl = "");
// Writes every run's config and OUT/sweep.sbatch (creating OUT/logs); returns the script's path.
std::string write_slurm_script(const Sweep& sweep, const LaunchOptions& launch, const std::string& tmpl = "");

}  // namespace hyperrep::sweep
