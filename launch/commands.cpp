#include "launch/commands.h"

#include <cstdlib>

#include "common/enums.h"
#include "common/logging.h"
#include "common/runtime.h"

namespace hyperrep::cli {

const std::vector<Command>& commands() {
  static const std::vector<Command> kCommands = {
      {"config", "check a config file, or show the resolved config with every key documented", cmd_config},
      {"model", "summarise the autoencoder of a config: parameters by part, tokens, token dims", cmd_model},
      {"zoo", "model zoos: generate (populations trained together, sharded over ranks) and zoo tools", cmd_zoo},
      {"run",
       "the whole pipeline: zoo -> train -> probe -> report (resumable); the quick start: --config configs/quickstart.toml",
       cmd_run},
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

std::unique_ptr<dist::Communicator> start(Context& ctx, const Config& cfg, CommFor use) {
  init_logging(ctx.mpi.rank(), ctx.mpi.world_size(), cfg.run.log_level);
  const int threads = configure_threads(cfg.run.threads, ctx.mpi.local_size(),
                                        use == CommFor::kTraining ? training_thread_stage(cfg.run.device) : ThreadStage::kGeneral);
  const char* policy = std::getenv("OMP_WAIT_POLICY");
  spdlog::debug("{} intra-op thread(s) per rank, OpenMP wait policy {}, {} OpenBLAS thread(s)", threads,
                policy ? policy : "(libgomp's default)", blas_threads());
  if (use == CommFor::kHost) return dist::make_communicator(Backend::kAuto, &ctx.mpi);
  const bool cuda = resolve_device(cfg.run.device, ctx.mpi.local_rank()).is_cuda();
  return dist::make_communicator(parse_enum<Backend>(cfg.distributed.backend, "distributed.backend"), cuda, &ctx.mpi);
}

}  // namespace hyperrep::cli
