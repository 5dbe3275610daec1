// The [zoo] hyper-parameter grid expanded into members in one canonical order, the grouping of
// members into populations that can train together, and the deterministic split over ranks.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/config_sections.h"
#include "common/sample_spec.h"

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
  double train_fraction = 1.0;  // the member trains on this fraction of the training images
  double init_std = 0.0;        // std of the normal initialisations; 0 = the init's own rule
  // Members may share a population only if these agree (the batched forward is one graph):
  // activation and optimizer. Dropout rate, lr, weight decay, train fraction and init vary per
  // member inside a population.
  std::string structure_key() const;
};

// zoo.search = "grid": every combination activation x init x dropout x optimizer x lr x
// weight_decay x train_fraction x init_std x seed, in that nesting order (seed innermost);
// member id = position.
// zoo.search = "random": zoo.num_configs members, member i with seed seed_offset + i and every
// hyper-parameter drawn independently: from its zoo.sample distribution when one is declared
// (uniform or log_uniform), else uniformly from its list. Each draw is a hash of (seed_offset,
// i, hyper-parameter): member i is the same for any num_configs.
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
