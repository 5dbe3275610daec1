// `hyperrep run`: zoo (generated when missing) -> one autoencoder per configured loss mode ->
// probes of every method and of the baselines W and s(W) -> results.csv and report.md in
// run.dir. Every stage is resumable: a finished stage is skipped on re-run.
#pragma once

#include <string>
#include <vector>

#include "common/config.h"
#include "distributed/communicator.h"

namespace hyperrep::pipeline {

struct PipelineResult {
  std::string table;         // markdown: targets x {W, s(W), E_D, E_C, E_cD}
  std::string report;        // path of report.md
  bool interrupted = false;  // a stop signal ended training: nothing is final, rerun to resume
};

// The loss modes of run.methods as (name, gamma): E_D -> 0, E_C -> 1, E_cD -> loss.gamma.
std::vector<std::pair<std::string, double>> pipeline_methods(const Config& cfg);

PipelineResult run_pipeline(const Config& cfg, dist::Communicator& comm);

}  // namespace hyperrep::pipeline
