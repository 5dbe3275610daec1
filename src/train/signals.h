// SIGTERM and SIGUSR1 (Slurm's warning before the time limit) ask the trainer to stop: the
// handler only sets a flag; ranks agree on a stop step, save and exit 0.
#pragma once

namespace hyperrep::train {

void install_stop_signal_handlers();
bool stop_signal_received();
void clear_stop_signal();

}  // namespace hyperrep::train
