// hyperrep train: data-parallel training of the autoencoder on a zoo (also under mpirun).
#include <iostream>

#include "common/config.h"
#include "common/logging.h"
#include "common/runtime.h"
#include "launch/args.h"
#include "launch/commands.h"
#include "train/signals.h"
#include "train/trainer.h"

namespace hyperrep::cli {
namespace {

constexpr const char* kUsage = R"(usage: [mpirun -np N] hyperrep train --config FILE [--set section.key=value]... [--resume]
  Trains the autoencoder of [model] on the zoo of [data] with the losses of [loss] and the
  optimisation of [train]; every rank holds its shard of the zoo and the global batch is
  train.batch_size at any world size. Outputs go to run.dir: config.toml, log.txt,
  metrics.jsonl, probes.csv and checkpoints/epoch_NNNN/.
  --resume   continue from the newest complete checkpoint of run.dir (same science config;
             another world size continues with the same global batch)
  SIGTERM or SIGUSR1: every rank stops at the same step, saves a checkpoint and exits 0.
)";

}  // namespace

int cmd_train(Context& ctx) {
  Args args(ctx.args, {"--config"}, {"--resume"});
  if (args.help()) {
    std::cout << kUsage;
    return 0;
  }
  HYPERREP_CHECK(args.positional().empty(), UsageError, "train takes no positional argument\n", kUsage);
  // From here on, not only once training runs: a SIGTERM/SIGUSR1 that arrives while the zoo is
  // still loading is kept, and the trainer saves after its first step and exits 0 as always, so
  // that a Slurm job signalled during start-up requeues like any other.
  train::install_stop_signal_handlers();
  Config cfg = load_config_from(args);
  auto comm = start(ctx, cfg, CommFor::kTraining);
  train::Trainer trainer(cfg, *comm);
  auto result = trainer.run(args.has("--resume"));
  if (!result.stopped_by_signal) {
    spdlog::info("training done: {} epochs, {} steps, last epoch loss {:.5f}", result.epochs_done, result.steps,
                 result.last_epoch_loss);
  }
  return 0;
}

}  // namespace hyperrep::cli
