#include "launch/commands.h"

namespace hyperrep::cli {

const std::vector<Command>& commands() {
  static const std::vector<Command> kCommands = {
      {"config", "check a config file, or show the resolved config with every key documented", cmd_config},
      {"version", "print the version, the build's backends and the MPI world", cmd_version},
  };
  return kCommands;
}

}  // namespace hyperrep::cli
