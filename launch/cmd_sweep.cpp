// hyperrep sweep plan|run|status|collect|report: scaling studies over a base config (see
// src/sweep and configs/sweeps/); the runs are `hyperrep run` children of this process.
#include <iostream>

#include "common/fs.h"
#include "launch/args.h"
#include "launch/commands.h"
#include "sweep/collect.h"
#include "sweep/report.h"
#include "sweep/runner.h"

namespace hyperrep::cli {
namespace {

constexpr const char* kUsage = R"(usage: hyperrep sweep <verb> --config SWEEP.toml [--set section.key=value]...

A sweep file is a [sweep] section (base = config relative to the sweep file; axes =
["section.key=v1,v2,..."]; mode = grid | zip; out = directory; ranks = MPI ranks per run) plus
sections that override the base for every run. --set applies to every run and to [sweep].

verbs:
  plan      print the runs: name, state, run dir, zoo dir, overrides and command
  run       run the pending runs one after another (`hyperrep run` each, under mpirun when
            ranks > 1); complete runs (DONE_RUN) are skipped, a failed run is reported and the
            sweep goes on (exit 1 at the end if any failed)
              --only NAME        just this run
              --dry-run          print the commands, run nothing
              --slurm            write OUT/sweep.sbatch (a job array, one task per run) instead
              --template FILE    sbatch template for --slurm (default: cluster/sweep.sbatch)
  status    count done / failed / pending runs (--list: one line per run)
  collect   OUT/results.csv (axis values, target, method, metric, value) and OUT/results.md
  report    collect, then OUT/plots/*.png (gnuplot) of each metric against each numeric axis
            and OUT/report.md

Runs use the hyperrep executable beside this one; $HYPERREP_MPIRUN replaces the launcher
prefix for ranks > 1 (default: mpirun --oversubscribe --bind-to none [--allow-run-as-root]).
)";

}  // namespace

int cmd_sweep(Context& ctx) {
  const std::string verb = ctx.args.empty() ? "" : ctx.args[0];
  std::vector<std::string> rest(ctx.args.begin() + (ctx.args.empty() ? 0 : 1), ctx.args.end());
  Args args(rest, {"--config", "--only", "--template"}, {"--dry-run", "--slurm", "--list"});
  if (args.help() || verb.empty() || verb == "help" || verb == "--help" || verb == "-h") {
    std::cout << kUsage;
    return verb.empty() ? 2 : 0;
  }
  HYPERREP_CHECK(ctx.mpi.world_size() == 1, UsageError, "hyperrep sweep runs as one process (its runs use mpirun themselves)");
  HYPERREP_CHECK(args.positional().empty(), UsageError, "sweep ", verb, " takes no positional argument\n", kUsage);
  const sweep::Sweep s = sweep::load_sweep(args.required("--config"), args.sets());
  const sweep::LaunchOptions launch = sweep::default_launch();

  if (verb == "plan") {
    std::cout << sweep::plan_text(s, launch);
    return 0;
  }
  if (verb == "run") {
    if (args.has("--slurm")) {
      const std::string tmpl = args.has("--template") ? read_file(*args.value("--template")) : "";
      const std::string path = sweep::write_slurm_script(s, launch, tmpl);
      const auto c = sweep::count_states(s);
      std::cout << "wrote " << path << " (" << s.runs.size() << " array tasks; " << c.done
                << " runs already complete exit at once)\nsubmit with:\n  sbatch " << path << "\n";
      return 0;
    }
    const auto summary = sweep::run_sweep(s, launch, args.value_or("--only", ""), args.has("--dry-run"), std::cout);
    std::cout << "sweep " << s.name << ": " << summary.ran << " ran, " << summary.skipped << " complete before, "
              << summary.failed.size() << " failed\n";
    for (const auto& f : summary.failed) std::cout << "  failed: " << f << " (see " << s.settings.out << "/runs/" << f << ")\n";
    return summary.failed.empty() ? 0 : 1;
  }
  if (verb == "status") {
    const auto c = sweep::count_states(s);
    if (args.has("--list")) {
      for (const auto& r : s.runs) std::cout << sweep::state_name(sweep::run_state(r)) << "  " << r.name << "\n";
    }
    std::cout << "sweep " << s.name << ": " << s.runs.size() << " runs: " << c.done << " done, " << c.failed << " failed, "
              << c.pending << " pending\n";
    return 0;
  }
  if (verb == "collect" || verb == "report") {
    const auto collected = sweep::collect(s);
    sweep::write_collected(s, collected);
    std::cout << "collected " << collected.rows.size() << " results of " << s.runs.size() - collected.missing.size() << "/"
              << s.runs.size() << " complete runs: " << s.settings.out << "/results.csv, " << s.settings.out << "/results.md\n";
    if (verb == "report") {
      const auto plots = sweep::write_report(s, collected);
      std::cout << "report: " << s.settings.out << "/report.md with " << plots.size() << " plots in " << s.settings.out
                << "/plots/\n";
    }
    return 0;
  }
  HYPERREP_THROW(UsageError, "unknown verb 'sweep ", verb, "'\n", kUsage);
}

}  // namespace hyperrep::cli
