// Downstream evaluation of a zoo's splits: probe inputs built from this rank's rows (features
// plus the configured targets), the baselines W and s(W), and the tables they end up in.
#pragma once

#include <string>
#include <vector>

#include "common/config.h"
#include "data/zoo_dataset.h"
#include "distributed/communicator.h"
#include "probe/probe_runner.h"
#include "train/train_data.h"

namespace hyperrep::train {

// Features of this rank's rows of a split with the targets of [probe] that the zoo has.
probe::ProbeSplit make_probe_split(const data::ZooDataset& rows, const torch::Tensor& features,
                                   const std::vector<std::string>& targets);

// Runs the probes for one feature set over the three splits; targets the zoo lacks are skipped.
std::vector<probe::ProbeResult> probe_features(const std::string& method, const TrainData& data,
                                               const std::vector<torch::Tensor>& features, const Config& cfg,
                                               dist::Communicator& comm, const probe::ProbeSplit* ood = nullptr);

// Baselines through the same probes: W (raw flat weights) and s(W) (per-layer statistics).
std::vector<probe::ProbeResult> probe_baselines(const TrainData& data, const Config& cfg, dist::Communicator& comm);

}  // namespace hyperrep::train
