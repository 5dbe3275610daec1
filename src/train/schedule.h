// Learning-rate schedules: ReduceLROnPlateau (per epoch, on the epoch's training loss, with
// torch's default relative threshold 1e-4) and cosine decay with linear warmup (per step).
#pragma once

#include <cstdint>

#include "common/config_sections.h"
#include "train/train_state.h"

namespace hyperrep::train {

// Learning rate for a step under the cosine schedule (warmup from lr/steps to lr, then cosine to 0).
double cosine_lr(double base_lr, int64_t step, int64_t warmup_steps, int64_t total_steps);

// Updates state.best_metric / bad_epochs / lr at the end of an epoch with its metric.
// Returns true when the learning rate was reduced.
bool plateau_step(const TrainConfig& cfg, double metric, TrainState& state);

}  // namespace hyperrep::train
