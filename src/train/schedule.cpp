#include "train/schedule.h"

#include <algorithm>
#include <cmath>

namespace hyperrep::train {

double cosine_lr(double base_lr, int64_t step, int64_t warmup_steps, int64_t total_steps) {
  if (warmup_steps > 0 && step < warmup_steps) return base_lr * static_cast<double>(step + 1) / warmup_steps;
  const int64_t span = std::max<int64_t>(1, total_steps - warmup_steps);
  const double progress = std::min(1.0, static_cast<double>(step - warmup_steps) / span);
  return 0.5 * base_lr * (1.0 + std::cos(M_PI * progress));
}

bool plateau_step(const TrainConfig& cfg, double metric, TrainState& state) {
  // torch's default: mode min, threshold 1e-4 relative.
  if (metric < state.best_metric * (1.0 - 1e-4)) {
    state.best_metric = metric;
    state.bad_epochs = 0;
    return false;
  }
  if (++state.bad_epochs > cfg.plateau_patience) {
    state.lr *= cfg.plateau_factor;
    state.bad_epochs = 0;
    return true;
  }
  return false;
}

}  // namespace hyperrep::train
