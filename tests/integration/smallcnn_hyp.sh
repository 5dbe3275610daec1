#!/usr/bin/env bash
# The Small CNN Zoo recipe end to end, shrunk to seconds: a random-search zoo of the published
# network (strided convolutions, global pooling) generated from configs/zoo/smallcnn_fmnist_hyp.toml
# with per-member dropout, train fraction, init and optimizer; exported in the public layout and
# imported back (same content hash); probed for all ten targets of the paper (a target that is
# constant in the zoo is skipped with a note); a seed-zoo encoder probed on it out of distribution.
set -u
source "$(dirname "$0")/lib.bash"
src="${HYPERREP_SOURCE_DIR:?}"
if [ ! -d /usr/share/datasets/fashion-mnist ]; then echo "skip: dataset-fashion-mnist is not installed"; exit 0; fi

shrink=(--set zoo.num_configs=24 --set zoo.epochs=2 --set 'zoo.keep_epochs=[0,1,2]' --set zoo.task_train_size=400
  --set zoo.task_test_size=200 --set zoo.batch_size=32 --set run.device=cpu --set run.progress_seconds=1000)
"$bin" zoo generate --config "$src/configs/zoo/smallcnn_fmnist_hyp.toml" --set zoo.path=hyp "${shrink[@]}" >gen.log 2>&1; rc=$?
check "random-search zoo generated" "[ $rc -eq 0 ] && [ -f hyp/manifest ]"
info=$("$bin" zoo info hyp 2>&1)
check "24 members of the published network" "grep -q 'members       24' <<<\"\$info\" && grep -q 'parameters    4970 per member' <<<\"\$info\""
check "both activations, three optimizers, several inits" \
  "grep -Eq '^  activation +relu: [0-9]+, tanh: [0-9]+' <<<\"\$info\" && grep -Eq '^  optimizer +adam: [0-9]+, rmsprop: [0-9]+, sgd: [0-9]+' <<<\"\$info\""
check "sampled ranges inside the declared ones" "awk '/^  lr /{ok = (\$2 >= 5e-4 && \$4 <= 5e-2)} END {exit !ok}' <<<\"\$info\""
check "train fractions and l2 recorded" "grep -Eq '^  train_fraction +0.1 .. 1$' <<<\"\$info\" && grep -Eq '^  l2 ' <<<\"\$info\""
hash=$(sed -n 's/^content hash *//p' <<<"$info")

"$bin" zoo export hyp --format smallcnnzoo --out exported >/dev/null 2>&1
check "layout.csv names the published tensors" "grep -q '^sequential/conv2d_2/kernel:0,2496,4800,\"(3, 3, 16, 16)\"$' exported/layout.csv"
out=$("$bin" zoo import --from smallcnnzoo exported --out back 2>&1)
check "exported and imported back: same content hash" "grep -q \"content hash $hash\" <<<\"\$out\""
check "the architecture survives the round trip" "\"$bin\" zoo info back | grep -q 'conv(16,16,3,stride=2), act, dropout, conv'"

# The generalisation benchmark's split files: row indices into the exported rows (here in reverse
# order), final step 2; 24 final rows -> 12 test, 12 shuffled and cut 80/20 (9 train, 3 val).
rows=$(( $(zcat exported/metrics.csv.gz | wc -l) - 1 ))
seq $((rows - 1)) -1 0 > "idx \$(x).csv"
"$bin" zoo split --from nfn "idx \$(x).csv" --source exported --out split.csv --final-step 2 >split.txt 2>&1; rc=$?
check "published split file converted" "[ $rc -eq 0 ] && grep -q '24 runs of 72 rows (final step 2): 9 train, 3 val, 12 test' split.txt"
check "the split names runs" "[ \$(grep -c ',test$' split.csv) -eq 12 ] && head -1 split.csv | grep -qx 'run,split'"
"$bin" baseline --zoo back --set data.split_file=split.csv --set 'data.epochs=[2]' --set probe.targets=test_acc --out gs.csv >gs.txt 2>&1; rc=$?
check "the benchmark protocol runs on the converted split" "[ $rc -eq 0 ] && grep -q '24 members (9 train / 3 val / 12 test)' gs.txt"
"$bin" zoo split --from nfn split.csv --source exported --out bad.csv >bad.txt 2>&1; rc=$?
check "a file that is not an index list is refused, naming the line" "[ $rc -ne 0 ] && grep -q 'split.csv. line 1' bad.txt && [ ! -e bad.csv ]"

targets='probe.targets=["test_acc","epoch","ggap","lr","l2","dropout","train_fraction","activation","init","optimizer","init_std","batch_size"]'
"$bin" baseline --zoo hyp --set "$targets" --out base.csv >base.txt 2>&1; rc=$?
check "baseline probes the paper's targets" "[ $rc -eq 0 ] && grep -Eq '^\| train_fraction \| r2 \|' base.txt && grep -Eq '^\| optimizer \| acc \|' base.txt"
check "a constant target is skipped with a note" "grep -q \"target 'batch_size' is constant on the training members: skipped\" base.txt"
check "categorical rows in the csv" "grep -q '^activation,W,acc,' base.csv && grep -q '^init,s(W),acc,' base.csv"

# The paper's transfer: an encoder of the imported zoo's architecture trained on back/ and
# probed on the generated zoo (same parameter layout, same layer list here).
small=(--set data.zoo=back --set model.d_model=16 --set model.heads=2 --set model.blocks=1 --set model.d_ff=32
  --set model.latent=4 --set model.projection_layers=2 --set model.projection_hidden=8 --set model.projection_out=4
  --set train.batch_size=16 --set train.epochs=2 --set checkpoint.every_epochs=2 --set probe.targets=test_acc
  --set run.progress_seconds=1000 --set run.device=cpu)
"$bin" train "${small[@]}" --set run.dir=run >train.log 2>&1; rc=$?
check "an encoder trains on the imported zoo" "[ $rc -eq 0 ] && ls run/checkpoints | grep -q epoch_0002"
"$bin" probe --run run --ood-zoo hyp >ood.txt 2>&1; rc=$?
check "probed out of distribution" "[ $rc -eq 0 ] && grep -q '^ood test_acc: R^2' ood.txt"
exit $fail
