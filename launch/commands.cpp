#include "launch/commands.h"

namespace hyperrep::cli {

const std::vector<Command>& commands() {
  static const std::vector<Command> kCommands = {
      {"config", "check a config file, or show the resolved config with every key documented", cmd_config},
      {"model", "summarise the autoencoder of a config: parameters by part, tokens, token dims", cmd_model},
      {"zoo", "model zoos: generate (populations trained together, sharded over ranks) and zoo tools", cmd_zoo},
      {"run", "the whole pipeline: zoo -> train -> probe -> report (resumable); the quick start: --config configs/quickstart.toml", cmd_run},
      {"sweep", "scaling studies: plan, run (locally or as a Slurm job array), status, collect, report", cmd_sweep},
      {"train", "train the autoencoder on a zoo, data-parallel under mpirun; --resume continues a run", cmd_train},
      {"probe", "probe a trained run's embeddings at a checkpoint; --ood-zoo adds an out-of-distribution zoo", cmd_probe},
      {"embed", "export a run's embeddings (.npy) with the rows' properties (.csv), identical at any world size", cmd_embed},
      {"baseline", "probe the baselines W and s(W) of a zoo", cmd_baseline},
      {"checkpoint", "inspect run checkpoints: info DIR, diff DIR_A DIR_B", cmd_checkpoint},
      {"version", "print the version, the build's backends and the MPI world", cmd_version},
  };
  return kCommands;
}

}  // namespace hyperrep::cli
