#!/usr/bin/env bash
# configs/fmnist_hyp_small.toml (the science check on a generated hyper-parameter zoo) shrunk to
# a minute: the whole pipeline (random-search zoo of the Small CNN Zoo network, E_D, E_C, E_cD,
# probes) runs from the shipped config, and the table has all ten of the paper's targets for W,
# s(W) and the three encoders.
set -u
source "$(dirname "$0")/lib.bash"
src="${HYPERREP_SOURCE_DIR:?}"
if [ ! -d /usr/share/datasets/fashion-mnist ]; then echo "skip: dataset-fashion-mnist is not installed"; exit 0; fi

smoke=(--set zoo.num_configs=40 --set zoo.epochs=2 --set 'zoo.keep_epochs=[0,1,2]' --set zoo.task_train_size=600
  --set zoo.task_test_size=300 --set zoo.batch_size=32 --set zoo.path=zoo --set run.dir=run --set run.device=cpu
  --set train.epochs=3 --set checkpoint.every_epochs=3 --set run.progress_seconds=1000)
"$bin" run --config "$src/configs/fmnist_hyp_small.toml" "${smoke[@]}" >run.log 2>&1; rc=$?
check "the shipped config runs end to end" "[ $rc -eq 0 ] && [ -f run/results.csv ] && [ -f run/table.md ]"
for target in test_acc epoch ggap lr l2 dropout train_fraction; do
  check "$target: R^2 of all five" "grep -Eq '^\| $target \| r2 \| -?[0-9.]+ \| -?[0-9.]+ \| -?[0-9.]+ \| -?[0-9.]+ \| -?[0-9.]+ \|$' run/table.md"
done
for target in activation init optimizer; do
  check "$target: accuracy of all five" "grep -Eq '^\| $target \| acc \| [0-9.]+ \| [0-9.]+ \| [0-9.]+ \| [0-9.]+ \| [0-9.]+ \|$' run/table.md"
done
check "40 members split by member 70/15/15" "grep -q '40 members (28 train / 6 val / 6 test)' run.log"
exit $fail
