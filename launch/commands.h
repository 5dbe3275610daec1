// The subcommands of the hyperrep executable. Each takes its arguments (after the subcommand
// name) and the process context, and returns an exit code; errors are thrown.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/config.h"
#include "distributed/communicator.h"
#include "distributed/mpi_runtime.h"

namespace hyperrep::cli {

struct Context {
  dist::MpiRuntime& mpi;
  std::vector<std::string> args;  // after the subcommand's name
};

struct Command {
  const char* name;
  const char* summary;
  int (*run)(Context&);
};

const std::vector<Command>& commands();

// What a command needs its communicator for.
enum class CommFor {
  kHost,      // host collectives only (zoo generation, probes, embeddings): MPI when up, else local
  kTraining,  // the autoencoder's tensors: distributed.backend, where auto picks nccl for CUDA
};

// The start-up every command that computes shares, in this order: logging at run.log_level,
// intra-op threads from run.threads (per rank on this node), then the communicator.
std::unique_ptr<dist::Communicator> start(Context& ctx, const Config& cfg, CommFor use = CommFor::kHost);

int cmd_config(Context& ctx);
int cmd_model(Context& ctx);
int cmd_run(Context& ctx);
int cmd_sweep(Context& ctx);
int cmd_train(Context& ctx);
int cmd_checkpoint(Context& ctx);
int cmd_version(Context& ctx);
int cmd_zoo(Context& ctx);
int cmd_probe(Context& ctx);
int cmd_embed(Context& ctx);
int cmd_baseline(Context& ctx);

}  // namespace hyperrep::cli
