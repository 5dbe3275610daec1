// The [zoo] hyper-parameter grid expanded into members in one canonical order, the grouping of
// members into populations that can train together, and the deterministic split over ranks.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/config_sections.h"

namespace hyperrep::zoo {

// One member of the zoo: its id (index in the canonical grid order) and its hyper-parameters.
struct MemberSpec {
  int64_t id = 0;
  int64_t seed = 0;
  std::string activation = "tanh";
  std::string init = "uniform";
  double dropout = 0.0;
  std::string optimizer = "adam";
  double lr = 3e-4;
  double weight_decay = 0.0;
  // Members may share a population only if these agree (the batched forward is one graph).
  std::string structure_key() const;
};

// Every combination activation x init x dropout x optimizer x lr x weight_decay x seed, in that
// nesting order (seed innermost); member id = position.
std::vector<MemberSpec> expand_grid(const ZooConfig& zoo);

// Populations as lists of member ids: members are bucketed by structure_key (buckets ordered by
// their first member), each bucket cut in id order into chunks of at most population_size.
std::vector<std::vector<int64_t>> group_populations(const std::vector<MemberSpec>& members, int64_t population_size);

// Population i goes to rank i % world_size: fixed by the grid alone, never by timing.
std::vector<size_t> populations_of_rank(size_t num_populations, int rank, int world_size);

// The epochs whose checkpoints are stored, ascending: keep_epochs if given (each must be
// <= epochs), else 0 (initialisation) and 1..epochs.
std::vector<int64_t> kept_epochs(const ZooConfig& zoo);

}  // namespace hyperrep::zoo
