#!/usr/bin/env bash
# The CLI's contract: --version and --help, config errors (three mistakes -> three errors with
# key paths and lines, exit 2, nothing written), usage errors exit 2, and mpirun at 2 ranks logs
# with rank prefixes and exits 0.
set -u
source "$(dirname "$0")/lib.bash"

out=$("$bin" --version 2>&1); rc=$?
check "--version exits 0" "[ $rc -eq 0 ]"
check "--version names the backends" "grep -q 'backends: local mpi' <<<\"\$out\""

cat > bad.toml <<'TOML'
[run]
name = "bad"
[train]
batchsize = 32
lr = "fast"
[loss]
reconstruction = "l2"
TOML
out=$("$bin" config check bad.toml 2>&1); rc=$?
check "config check exits 2 on errors" "[ $rc -eq 2 ]"
check "unknown key with line and suggestion" "grep -q 'bad.toml:4: train.batchsize: unknown key (did you mean train.batch_size)' <<<\"\$out\""
check "wrong type with line" "grep -q 'bad.toml:5: train.lr: expected a number, got a string' <<<\"\$out\""
check "bad enum with line" "grep -q \"bad.toml:7: loss.reconstruction: 'l2' is not one of: mse, layer_norm\" <<<\"\$out\""
check "three errors counted" "grep -q '3 config errors' <<<\"\$out\""
check "nothing written" "[ \$(ls | wc -l) -eq 1 ]"

out=$("$bin" config check bad.toml --set train.batch_size=0 2>&1)
check "--set validated like the file" "grep -q -- '--set: train.batch_size: 0 is out of range' <<<\"\$out\""

"$bin" config show > resolved.toml; rc=$?
check "config show exits 0" "[ $rc -eq 0 ]"
out=$("$bin" config check resolved.toml 2>&1); rc=$?
check "resolved config reads back" "[ $rc -eq 0 ]"

"$bin" nosuchcommand >/dev/null 2>&1; rc=$?
check "unknown command exits 2" "[ $rc -eq 2 ]"
"$bin" config check >/dev/null 2>&1; rc=$?
check "missing argument exits 2" "[ $rc -eq 2 ]"
"$bin" config check /nonexistent.toml >/dev/null 2>&1; rc=$?
check "missing config file exits 2" "[ $rc -eq 2 ]"

if [ -n "${HYPERREP_MPIRUN:-}" ]; then
  read -r -a mpirun <<<"$HYPERREP_MPIRUN"
  out=$("${mpirun[@]}" -np 2 "$bin" --version 2>&1); rc=$?
  check "mpirun -np 2 --version exits 0" "[ $rc -eq 0 ]"
  check "every rank reported, with rank prefixes" "grep -q '\[rank 0\] \[info\] rank 1/2 (mpi backend)' <<<\"\$out\""
  out=$("${mpirun[@]}" -np 2 "$bin" config check bad.toml 2>&1); rc=$?
  check "mpirun config error exits non-zero" "[ $rc -ne 0 ]"
  check "mpirun config error names the key" "grep -q 'train.batchsize' <<<\"\$out\""
fi

# Threads by stage and the OpenMP wait policy (README, "Ranks and threads"): with run.threads = 0
# and no OMP_NUM_THREADS, the zoo and the probes get cores / ranks, autoencoder training one
# thread; the computing commands start themselves again with OMP_WAIT_POLICY=PASSIVE unless the
# user chose a policy.
cores=$(getconf _NPROCESSORS_ONLN)
tiny_config runs/stages zoos/stages > stages.toml
out=$(env -u OMP_NUM_THREADS -u OMP_WAIT_POLICY -u GOMP_SPINCOUNT "$bin" run --config stages.toml --set run.log_level=debug 2>&1); rc=$?
check "run: exits 0" "[ $rc -eq 0 ]"
check "run: restarted with passive OpenMP waiting" "grep -q 'OpenMP wait policy PASSIVE' <<<\"\$out\""
check "run: the zoo on cores / ranks threads" "grep -q 'stage 1/3: generating the zoo at zoos/stages ($cores thread(s) per rank)' <<<\"\$out\""
check "run: the autoencoder on one thread" "grep -q 'stage 2/3: training E_cD (gamma 0.5) in runs/stages/E_cD (1 thread(s) per rank)' <<<\"\$out\""
if [ "$cores" -gt 1 ]; then
  check "run: one process is told that ranks would train faster" "grep -q 'training on one rank with one thread; this node has $cores cores: .mpirun -np $cores.' <<<\"\$out\""
fi
out=$(env -u OMP_NUM_THREADS OMP_WAIT_POLICY=active "$bin" train --config stages.toml --set run.dir=runs/stages_train \
  --set data.zoo=zoos/stages --set run.log_level=debug 2>&1); rc=$?
check "train: one thread, and the policy the user chose" "[ $rc -eq 0 ] && grep -q '1 intra-op thread(s) per rank, OpenMP wait policy active' <<<\"\$out\""
out=$(OMP_NUM_THREADS=1 "$bin" zoo generate --config stages.toml --set zoo.path=zoos/stages_1 --set run.log_level=debug 2>&1)
check "zoo generate: OMP_NUM_THREADS wins over the stage default" "grep -q '1 intra-op thread(s) per rank, OpenMP wait policy PASSIVE' <<<\"\$out\""
# Training's few large GEMMs split over OpenBLAS's threads; elsewhere its pool stays at one thread
# (when LibTorch runs on OpenBLAS: otherwise the log says 0 and there is no pool to check).
out=$(env -u OMP_NUM_THREADS -u OMP_WAIT_POLICY -u GOMP_SPINCOUNT "$bin" train --config stages.toml --set run.dir=runs/stages_train2 --set data.zoo=zoos/stages \
  --set run.threads=2 --set run.log_level=debug 2>&1); rc=$?
if grep -q ', 0 OpenBLAS thread(s)' <<<"$out"; then
  echo "skip: LibTorch does not run on OpenBLAS here"
else
  check "train: run.threads = 2 gives OpenBLAS 2 threads" "[ $rc -eq 0 ] && grep -q '2 intra-op thread(s) per rank, OpenMP wait policy PASSIVE, 2 OpenBLAS thread(s)' <<<\"\$out\""
  out=$(env -u OMP_NUM_THREADS -u OMP_WAIT_POLICY -u GOMP_SPINCOUNT "$bin" zoo generate --config stages.toml --set zoo.path=zoos/stages_2 --set run.threads=2 \
    --set run.log_level=debug 2>&1)
  check "zoo generate: run.threads = 2 keeps OpenBLAS at 1" "grep -q '2 intra-op thread(s) per rank, OpenMP wait policy PASSIVE, 1 OpenBLAS thread(s)' <<<\"\$out\""
fi
exit $fail
