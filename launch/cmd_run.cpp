// hyperrep run: the whole pipeline (zoo -> train -> probe -> report), resumable, mpirun-able.
#include <iostream>

#include "common/clock.h"
#include "common/config.h"
#include "common/logging.h"
#include "common/runtime.h"
#include "launch/args.h"
#include "launch/commands.h"
#include "pipeline/pipeline.h"

namespace hyperrep::cli {

int cmd_run(Context& ctx) {
  Args args(ctx.args, {"--config"}, {});
  if (args.help()) {
    std::cout << "usage: [mpirun -np N] hyperrep run [--config FILE] [--set section.key=value]...\n"
                 "  Generates the zoo of [zoo] when zoo.path has none, trains one autoencoder per run.methods\n"
                 "  (E_D, E_C, E_cD) into run.dir/<method>, probes them and the baselines W and s(W), and writes\n"
                 "  run.dir/{results.csv, table.md, report.md, plots/}. Re-running resumes: finished stages are\n"
                 "  skipped. Without --config it runs the built-in defaults (`hyperrep config show`); the quick\n"
                 "  start is --config configs/quickstart.toml.\n";
    return 0;
  }
  HYPERREP_CHECK(args.positional().empty(), UsageError, "run takes no positional argument (see --help)");
  Config cfg = load_config_from(args);
  auto comm = start(ctx, cfg, CommFor::kTraining);
  const double t0 = now_s();
  auto result = pipeline::run_pipeline(cfg, *comm);
  const double seconds = now_s() - t0;
  if (result.interrupted) return 0;
  if (ctx.mpi.rank() == 0) {
    std::cout << "\n" << result.table << "\nreport: " << result.report << " (plots in " << cfg.run.dir << "/plots)\n";
    std::printf("total time: %.0f s\n", seconds);
  }
  return 0;
}

}  // namespace hyperrep::cli
