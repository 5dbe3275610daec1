#!/usr/bin/env bash
# The trainer under stress, as a user meets it: SIGTERM saves and exits 0, --resume finishes;
# kill -9 at random moments (also during saves) never leaves a checkpoint that resume picks and
# cannot load; a config that changes the science is refused on resume; a rank that hangs or
# dies ends the whole job non-zero with a message naming rank and step; checkpoint info/diff.
set -u
source "$(dirname "$0")/lib.bash"

"$bin" zoo generate --config "${HYPERREP_SOURCE_DIR:?}/configs/zoo/tetris_seed.toml" --set zoo.path=zoo --set zoo.num_seeds=24 --set zoo.epochs=5 --set zoo.task_train_size=400 \
  --set zoo.task_val_size=100 --set zoo.task_test_size=200 >gen.log 2>&1
check "tiny zoo generated" "[ -f zoo/manifest ]"

small=(--set data.zoo=zoo --set model.d_model=16 --set model.heads=2 --set model.blocks=1 --set model.d_ff=32
  --set model.latent=4 --set model.projection_layers=2 --set model.projection_hidden=8 --set model.projection_out=4
  --set train.batch_size=16 --set train.epochs=40 --set train.lr=1e-3 --set checkpoint.every_epochs=2
  --set checkpoint.keep_last=3 --set probe.targets=epoch --set run.progress_seconds=1000)

# SIGTERM: agree, save, exit 0; --resume completes.
"$bin" train "${small[@]}" --set run.dir=sig >sig.log 2>&1 &
pid=$!
for _ in $(seq 200); do grep -q 'training E_cD' sig.log 2>/dev/null && break; sleep 0.05; done
kill -TERM $pid
wait $pid; rc=$?
check "SIGTERM exits 0" "[ $rc -eq 0 ]"
check "SIGTERM saved a checkpoint" "ls sig/checkpoints | grep -q epoch_"
check "SIGTERM logged the stop" "grep -q 'stopped at step' sig.log"
"$bin" train "${small[@]}" --set run.dir=sig --resume >sig2.log 2>&1; rc=$?
check "resume after SIGTERM completes" "[ $rc -eq 0 ] && grep -q 'training done: 40 epochs' sig2.log"
check "resume said where it continued" "grep -q 'resumed from sig/checkpoints/epoch_' sig2.log"

# A fresh start over existing checkpoints is refused (exit 2), nothing overwritten.
before=$(ls sig/checkpoints)
"$bin" train "${small[@]}" --set run.dir=sig >fresh.log 2>&1; rc=$?
check "fresh start over checkpoints refused" "[ $rc -eq 2 ] && grep -q 'pass --resume' fresh.log"
check "checkpoints untouched" "[ \"\$(ls sig/checkpoints)\" = \"$before\" ]"

# A science change is refused on resume, naming the field.
"$bin" train "${small[@]}" --set run.dir=sig --set train.lr=5e-3 --resume >cfg.log 2>&1; rc=$?
check "science change refused on resume" "[ $rc -eq 2 ] && grep -q 'train.lr: 0.001 vs 0.005' cfg.log"

# kill -9 at random moments, then resume: it must always load and finish.
for i in 1 2 3 4 5; do
  "$bin" train "${small[@]}" --set run.dir=k9 --set checkpoint.every_epochs=1 --resume >k9_$i.log 2>&1 &
  pid=$!
  sleep "$(awk -v s=$RANDOM 'BEGIN { srand(s); printf "%.2f", 1.5 + 2.5 * rand() }')"
  kill -9 $pid 2>/dev/null
  wait $pid 2>/dev/null
done
"$bin" train "${small[@]}" --set run.dir=k9 --set checkpoint.every_epochs=1 --resume >k9_final.log 2>&1; rc=$?
check "resume after five kill -9 completes" "[ $rc -eq 0 ] && grep -q 'training done: 40 epochs' k9_final.log"
check "no temporary directories left" "! ls k9/checkpoints | grep -q tmp"

# checkpoint info and diff.
a=$(ls -d sig/checkpoints/epoch_* | tail -1); b=$(ls -d k9/checkpoints/epoch_* | tail -1)
"$bin" checkpoint info "$a" >info.txt 2>&1; rc=$?
check "checkpoint info" "[ $rc -eq 0 ] && grep -q 'global step' info.txt && grep -q 'model.pt' info.txt"
"$bin" checkpoint diff "$a" "$a" >diff0.txt 2>&1; rc=$?
check "checkpoint diff of a checkpoint with itself is 0" "[ $rc -eq 0 ] && grep -q '^max_abs_diff: 0$' diff0.txt"
# Both runs reached epoch 40 through interruptions (SIGTERM; five kill -9): resume is exact.
"$bin" checkpoint diff "$a" "$b" >diff1.txt 2>&1; rc=$?
check "interrupted runs end bit-identical" "[ $rc -eq 0 ] && grep -q '^max_abs_diff: 0$' diff1.txt"
early=$(ls -d sig/checkpoints/epoch_* | head -1)
"$bin" checkpoint diff "$early" "$a" >diff2.txt 2>&1; rc=$?
check "checkpoint diff reports a difference" "[ $rc -eq 0 ] && ! grep -q '^max_abs_diff: 0$' diff2.txt"
printf 'garbage' >"$a/model.pt"
"$bin" checkpoint info "$a" >bad.txt 2>&1; rc=$?
check "corrupt checkpoint file named" "[ $rc -eq 1 ] && grep -q 'model.pt' bad.txt"

if [ -n "${HYPERREP_MPIRUN:-}" ]; then
  read -r -a mpirun <<<"$HYPERREP_MPIRUN"
  start=$(date +%s)
  HYPERREP_FAULT=hang:1:5 "${mpirun[@]}" -x HYPERREP_FAULT -np 2 "$bin" train "${small[@]}" --set run.dir=hang \
    --set distributed.timeout_s=4 >hang.log 2>&1; rc=$?
  took=$(( $(date +%s) - start ))
  check "a hanging rank ends the job non-zero" "[ $rc -ne 0 ]"
  check "within the timeout (took ${took}s)" "[ $took -lt 60 ]"
  check "message names rank and step" "grep -q 'no progress for' hang.log && grep -Eq 'at step (5|6)' hang.log"
  HYPERREP_FAULT=die:1:5 "${mpirun[@]}" -x HYPERREP_FAULT -np 2 "$bin" train "${small[@]}" --set run.dir=die \
    --set distributed.timeout_s=10 >die.log 2>&1; rc=$?
  check "a dying rank ends the job non-zero" "[ $rc -ne 0 ]"
  # Resume at another world size continues with the same global batch.
  "$bin" train "${small[@]}" --set run.dir=ws --set train.max_steps=10 >ws1.log 2>&1
  "${mpirun[@]}" -np 2 "$bin" train "${small[@]}" --set run.dir=ws --resume >ws2.log 2>&1; rc=$?
  check "resume at world size 2 of a 1-rank run" "[ $rc -eq 0 ] && grep -q 'resuming at world size 2 from a checkpoint saved at world size 1' ws2.log"
fi
exit $fail
