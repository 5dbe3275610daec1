// `hyperrep embed`: every row of a run's zoo through its encoder, in (split, member, epoch) order
// whatever the world size, beside its properties.
#pragma once

#include <torch/torch.h>

#include <string>

#include "distributed/communicator.h"
#include "train/trainer.h"

namespace hyperrep::pipeline {

struct EmbeddingExport {
  torch::Tensor z;  // [rows, latent] float32, train then val then test, each by (member, epoch)
  std::string csv;  // properties.csv: split,member,epoch, the numeric then categorical properties
};

// Collective: each rank embeds its rows, every rank receives the whole table.
EmbeddingExport export_embeddings(train::Trainer& trainer, dist::Communicator& comm);

}  // namespace hyperrep::pipeline
