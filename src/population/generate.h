// Zoo generation: the [zoo] grid trained population by population, populations spread over
// ranks by a fixed rule, every member written as soon as its population is done, resumable.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/config.h"
#include "distributed/communicator.h"
#include "store/store.h"
#include "zoo/architecture.h"

namespace hyperrep::population {

struct GenerateStats {
  int64_t members_total = 0;    // members of the whole zoo
  int64_t members_trained = 0;  // trained by this rank in this run
  int64_t members_skipped = 0;  // already in the store (resume), among this rank's members
  double seconds = 0.0;
};

// The header every shard of the zoo shares; config_toml is the resolved [zoo] section without
// the keys that do not change the members (path, population_size).
store::ZooHeader make_zoo_header(const Config& cfg, const zoo::Architecture& arch, const std::string& task_name);

// For a complete zoo at cfg.zoo.path that hyperrep generated: throws ConfigError naming the
// [zoo] lines in which its generating config differs from cfg (an imported zoo has none to compare).
void check_zoo_matches_config(const Config& cfg);

// Collective over comm: every rank trains its populations and writes through one ZooWriter on
// cfg.zoo.path, then the manifest is written (ZooWriter::finalize). A member's weights never
// depend on the rank, the world size or the population it was trained in.
GenerateStats generate_zoo(const Config& cfg, dist::Communicator& comm);

}  // namespace hyperrep::population
