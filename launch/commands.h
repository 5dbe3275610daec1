// The subcommands of the hyperrep executable. Each takes its arguments (after the subcommand
// name) and the process context, and returns an exit code; errors are thrown.
#pragma once

#include <string>
#include <vector>

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
