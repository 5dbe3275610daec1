#!/bin/bash
# Shared by cluster/zoo.sbatch and cluster/train.sbatch (sourced, not run): the hyperrep binary,
# the launcher, and forwarding Slurm's time-limit signal (USR1) to the running step so that it
# can save before the job ends. cluster/sweep.sbatch carries its own copy (it is a template
# that `hyperrep sweep run --slurm` fills and writes elsewhere).

# The checkout the job was submitted from (sbatch copies the script away; paths in configs are
# relative to the checkout).
HYPERREP_ROOT=${HYPERREP_ROOT:-${SLURM_SUBMIT_DIR:-$PWD}}
cd "$HYPERREP_ROOT" || exit 1
HYPERREP=${HYPERREP:-$HYPERREP_ROOT/build/bin/hyperrep}
if [ ! -x "$HYPERREP" ]; then
  echo "hyperrep binary not found at $HYPERREP (build it, or set HYPERREP=/path/to/hyperrep)" >&2
  exit 1
fi
# srun starts one rank per Slurm task (Open MPI built with Slurm/PMIx support); with
# HYPERREP_LAUNCHER=mpirun, Open MPI's mpirun reads the allocation itself.
HYPERREP_LAUNCHER=${HYPERREP_LAUNCHER:-srun}
# shellcheck disable=SC2034  # used by the scripts that source this file
case "$HYPERREP_LAUNCHER" in
  srun) launch=(srun --kill-on-bad-exit=1) ;;
  mpirun) launch=(mpirun --bind-to none) ;;
  *) echo "HYPERREP_LAUNCHER must be srun or mpirun, not '$HYPERREP_LAUNCHER'" >&2; exit 1 ;;
esac
export OMP_NUM_THREADS=${SLURM_CPUS_PER_TASK:-1}

# shellcheck disable=SC2034  # read by the scripts that source this file
signalled=0
child=0
# shellcheck disable=SC2317,SC2034  # called by the trap; signalled is read by the sourcing script
forward_signal() {
  signalled=1
  echo "USR1: time limit ahead, asking the step to save ($(date -u))"
  if [ "$child" -gt 0 ]; then kill -USR1 "$child" 2>/dev/null || true; fi
}
trap forward_signal USR1

# Runs a command in the background so that the trap can forward USR1 while it runs (srun and
# mpirun pass USR1 on to every rank); returns the command's exit code.
run_step() {
  "$@" &
  child=$!
  # Polled, not waited for: a trapped signal interrupts `wait`, and when the step ends in that
  # moment bash can lose its exit status (a step that saved and exited 0 read as 138 or -1,
  # and was never requeued). The trap runs between polls, at most half a second late.
  while kill -0 "$child" 2>/dev/null; do sleep 0.5; done
  local rc
  wait "$child"
  rc=$?
  child=0
  return "$rc"
}

# Puts this job back in the queue; a requeued job starts this script again from the top.
requeue_self() {
  echo "requeueing job ${SLURM_JOB_ID:?} (restart $((${SLURM_RESTART_COUNT:-0} + 1)))"
  scontrol requeue "$SLURM_JOB_ID"
}

# The value of KEY in [SECTION] of the resolved config, as is (a path may hold quotes, spaces and
# $(): `hyperrep config get` prints it without TOML's quotes and escapes).
config_value() {
  "$HYPERREP" config get "$2.$3" --config "$1" "${@:4}"
}
