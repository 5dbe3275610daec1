#!/usr/bin/env bash
# The cluster scripts' time-limit path, with fake srun/scontrol/hyperrep: USR1 to the batch
# script reaches the step, which saves and exits 0; the job requeues itself; the restart resumes
# (train.sbatch adds --resume) and a finished run is not requeued. The same for a task of the
# job array that `hyperrep sweep run --slurm` writes (real binary), and bash -n / shellcheck on
# every script.
set -u
src="${HYPERREP_SOURCE_DIR:?}"
source "$(dirname "$0")/lib.bash"
mkdir -p fakebin
export CALLS=$tmp/calls.log READY=$tmp/ready FAKE_RUN_DIR=$tmp/run

cat > fakebin/srun <<'SH'
#!/bin/bash
while [ "${1:-}" != "${1#--}" ]; do shift; done
exec "$@"
SH
cat > fakebin/scontrol <<'SH'
#!/bin/bash
echo "scontrol $*" >> "$CALLS"
SH
# hyperrep: config get prints run.dir or zoo.path; train/run wait for USR1 (save: a complete checkpoint,
# exit 0) unless FAKE_FINISH is set (finish: DONE_RUN). With FAKE_QUICK, train/run save, send USR1
# to the batch script themselves and exit 0 at once: the step ends while the script's trap runs.
cat > fakebin/hyperrep <<'SH'
#!/bin/bash
echo "hyperrep $*" >> "$CALLS"
case "$1" in
  config) case "$3" in run.dir) echo "$FAKE_RUN_DIR" ;; zoo.path) echo "$FAKE_RUN_DIR/zoo" ;; esac ;;
  train|run|zoo)
    dir=$FAKE_RUN_DIR
    if [ "$1" = run ]; then dir=$(dirname "$3"); fi
    if [ "$1" = zoo ] && [ -n "${FAKE_FINISH:-}" ]; then mkdir -p "$dir/zoo"; : > "$dir/zoo/manifest"; exit 0; fi
    if [ -n "${FAKE_FINISH:-}" ]; then mkdir -p "$dir"; : > "$dir/DONE_RUN"; exit 0; fi
    if [ -n "${FAKE_QUICK:-}" ]; then
      trap '' USR1
      mkdir -p "$dir/checkpoints/epoch_0001"; : > "$dir/checkpoints/epoch_0001/DONE"
      kill -USR1 "$PPID"
      exit 0
    fi
    if [ "$1" = zoo ]; then
      trap 'echo killed >> "$CALLS"; kill "$sp"; exit 138' USR1   # no save: the zoo keeps its finished members
    else
      trap 'echo saved >> "$CALLS"; mkdir -p "$dir/checkpoints/epoch_0001"; : > "$dir/checkpoints/epoch_0001/DONE"; kill "$sp"; exit 0' USR1
    fi
    sleep 30 &
    sp=$!
    : > "$READY"
    wait "$sp"
    exit 5 ;;
esac
SH
chmod +x fakebin/*
export PATH=$tmp/fakebin:$PATH HYPERREP=$tmp/fakebin/hyperrep HYPERREP_ROOT=$src SLURM_JOB_ID=42

# Starts a batch script in the background, sends USR1 once the step runs, returns its exit code.
signal_run() {
  rm -f "$READY"
  "$@" > "$tmp/job.log" 2>&1 &
  local pid=$!
  for _ in $(seq 100); do [ -f "$READY" ] && break; sleep 0.1; done
  kill -USR1 "$pid" 2>/dev/null
  wait "$pid"
}

signal_run bash "$src/cluster/train.sbatch" cfg.toml --set train.epochs=3; rc=$?
check "train: exit 0 after the signal-save" "[ $rc -eq 0 ]"
check "train: the step saved" "grep -q '^saved' $CALLS"
check "train: requeued itself" "grep -q 'scontrol requeue 42' $CALLS"
check "train: first start without --resume" "grep 'hyperrep train' $CALLS | head -1 | grep -vq -- --resume"
: > "$CALLS"
FAKE_FINISH=1 SLURM_RESTART_COUNT=1 bash "$src/cluster/train.sbatch" cfg.toml --set train.epochs=3 > "$tmp/job.log" 2>&1; rc=$?
check "train: restart resumes" "grep -q 'hyperrep train --config cfg.toml --set train.epochs=3 --resume' $CALLS"
check "train: finished run not requeued" "[ $rc -eq 0 ] && ! grep -q scontrol $CALLS"

# A step that saves and exits in the moment the script handles the signal: still exit 0 and a
# requeue, not the interrupted wait's 138 (which no job would requeue). Racy by nature, so tried
# a few times.
quick_ok=0
for _ in 1 2 3 4 5 6 7 8; do
  rm -f "$CALLS"
  FAKE_RUN_DIR=$tmp/quick FAKE_QUICK=1 bash "$src/cluster/train.sbatch" cfg.toml > "$tmp/job.log" 2>&1; rc=$?
  if [ $rc -eq 0 ] && grep -q 'scontrol requeue 42' "$CALLS"; then quick_ok=$((quick_ok + 1)); fi
done
check "train: a step that ends as the signal arrives is requeued (8 of 8)" "[ $quick_ok -eq 8 ]"

# A run directory that a glob or a shell would misread (brackets, a star, quotes, spaces, $()):
# the restart must still find the checkpoint the signal saved, and nothing runs from the path.
hostile="$tmp/run [a]* 'q' \$(touch pwned)"
: > "$CALLS"
FAKE_RUN_DIR=$hostile signal_run bash "$src/cluster/train.sbatch" cfg.toml; rc=$?
check "hostile run.dir: saved at the signal" '[ $rc -eq 0 ] && [ -f "$hostile/checkpoints/epoch_0001/DONE" ]'
: > "$CALLS"
FAKE_RUN_DIR=$hostile FAKE_FINISH=1 bash "$src/cluster/train.sbatch" cfg.toml > "$tmp/job.log" 2>&1; rc=$?
check "hostile run.dir: the restart resumes" '[ $rc -eq 0 ] && grep -q -- "--resume" "$CALLS"'
check "hostile run.dir: nothing ran from the path" '[ ! -e pwned ] && [ ! -e "$src/pwned" ]'

: > "$CALLS"
signal_run bash "$src/cluster/zoo.sbatch" zoo.toml; rc=$?
check "zoo: requeued at the signal" "[ $rc -eq 0 ] && grep -q 'hyperrep zoo generate --config zoo.toml' $CALLS && grep -q 'scontrol requeue 42' $CALLS"
: > "$CALLS"
FAKE_FINISH=1 bash "$src/cluster/zoo.sbatch" zoo.toml > "$tmp/job.log" 2>&1; rc=$?
check "zoo: restart completes the zoo, no requeue" "[ $rc -eq 0 ] && [ -f run/zoo/manifest ] && ! grep -q scontrol $CALLS"
FAKE_FINISH=1 bash "$src/cluster/zoo.sbatch" zoo.toml > "$tmp/job.log" 2>&1; rc=$?
check "zoo: complete zoo exits at once" "[ $rc -eq 0 ] && [ \$(grep -c 'zoo generate' $CALLS) -eq 1 ]"

# A task of the generated job array.
mkdir -p configs/sweeps
cp "$src/configs/quickstart.toml" configs/base.toml
cat > configs/sweeps/s.toml <<'TOML'
[sweep]
base = "../base.toml"
axes = ["model.latent=8,16"]
out = "out"
TOML
"$bin" sweep run --config configs/sweeps/s.toml --slurm > "$tmp/slurm.out" 2>&1; rc=$?
check "sweep run --slurm writes the script" "[ $rc -eq 0 ] && [ -f out/sweep.sbatch ] && grep -q 'sbatch out/sweep.sbatch' $tmp/slurm.out"
check "generated script: bash -n" "bash -n out/sweep.sbatch"
mkdir -p zoos/quickstart && : > zoos/quickstart/manifest
rm -f "$CALLS"
SLURM_ARRAY_TASK_ID=1 signal_run bash out/sweep.sbatch; rc=$?
check "array task: requeued after the signal-save" "[ $rc -eq 0 ] && grep -q 'scontrol requeue 42' $CALLS"
check "array task: ran its own run" "grep -q 'hyperrep run --config $tmp/out/runs/model.latent=16/sweep_config.toml' $CALLS"
quick_ok=0
for _ in 1 2 3 4 5 6 7 8; do
  rm -f "$CALLS"
  FAKE_QUICK=1 SLURM_ARRAY_TASK_ID=1 bash out/sweep.sbatch > "$tmp/job.log" 2>&1; rc=$?
  if [ $rc -eq 0 ] && grep -q 'scontrol requeue 42' "$CALLS"; then quick_ok=$((quick_ok + 1)); fi
done
check "array task: a step that ends as the signal arrives is requeued (8 of 8)" "[ $quick_ok -eq 8 ]"
FAKE_FINISH=1 SLURM_ARRAY_TASK_ID=1 bash out/sweep.sbatch > "$tmp/job.log" 2>&1; rc=$?
check "array task: restart finishes" "[ $rc -eq 0 ] && [ -f out/runs/model.latent=16/DONE_RUN ]"
out=$("$bin" sweep status --config configs/sweeps/s.toml 2>&1)
check "sweep status counts the array's work" "grep -q '2 runs: 1 done, 0 failed, 1 pending' <<<\"\$out\""

for f in "$src"/cluster/*.sbatch "$src"/cluster/*.sh out/sweep.sbatch; do
  check "bash -n $(basename "$f")" "bash -n '$f'"
done
if command -v shellcheck >/dev/null; then
  check "shellcheck cluster/" "(cd '$src' && shellcheck -x cluster/*.sbatch cluster/*.sh)"
fi
exit $fail
