#!/usr/bin/env bash
# A real sweep end to end on a tiny Tetris config: plan, run (two zoos from a [zoo] axis, each
# run a child `hyperrep run`), a re-run that skips both, status, collect (the table holds both
# runs' rows) and report (PNG plots). Kept to seconds: tiny zoo, tiny autoencoder, 2 epochs.
set -u
source "$(dirname "$0")/lib.bash"
mkdir -p configs/sweeps
tiny_config "runs/tiny" "zoos/tiny" > configs/tiny.toml
cat > configs/sweeps/tiny_sweep.toml <<'TOML'
[sweep]
base = "../tiny.toml"
axes = ["zoo.num_seeds=10,15"]
out = "sweep"
TOML
sweep=(--config configs/sweeps/tiny_sweep.toml)

out=$("$bin" sweep plan "${sweep[@]}" 2>&1); rc=$?
check "plan lists both runs as pending" "[ $rc -eq 0 ] && [ \$(grep -c '\[pending\]' <<<\"\$out\") -eq 2 ]"
"$bin" sweep run "${sweep[@]}" > run.log 2>&1; rc=$?
check "run exits 0" "[ $rc -eq 0 ]" || cat run.log
check "both runs complete" "[ -f sweep/runs/zoo.num_seeds=10/DONE_RUN ] && [ -f sweep/runs/zoo.num_seeds=15/DONE_RUN ]"
check "one zoo per zoo value" "[ -f sweep/zoos/zoo.num_seeds=10/manifest ] && [ -f sweep/zoos/zoo.num_seeds=15/manifest ]"
out=$("$bin" sweep run "${sweep[@]}" 2>&1); rc=$?
check "re-run skips complete runs" "[ $rc -eq 0 ] && grep -q '0 ran, 2 complete before, 0 failed' <<<\"\$out\""
out=$("$bin" sweep status "${sweep[@]}" 2>&1)
check "status: 2 done" "grep -q '2 runs: 2 done, 0 failed, 0 pending' <<<\"\$out\""
"$bin" sweep collect "${sweep[@]}" > /dev/null 2>&1; rc=$?
rows=$(( $(wc -l < sweep/runs/zoo.num_seeds=10/results.csv) + $(wc -l < sweep/runs/zoo.num_seeds=15/results.csv) - 2 ))
check "collect: header and every run's rows" "[ $rc -eq 0 ] && head -1 sweep/results.csv | grep -qx 'zoo.num_seeds,target,method,metric,value' && [ \$(( \$(wc -l < sweep/results.csv) - 1 )) -eq $rows ]"
check "collect: rows of both runs" "grep -q '^10,test_acc,E_cD,r2,' sweep/results.csv && grep -q '^15,test_acc,E_cD,r2,' sweep/results.csv"
if command -v gnuplot >/dev/null; then
  "$bin" sweep report "${sweep[@]}" > /dev/null 2>&1; rc=$?
  check "report: exits 0 with plots" "[ $rc -eq 0 ] && [ -f sweep/plots/test_acc__r2__zoo.num_seeds.png ] && grep -q 'plots/test_acc__r2__zoo.num_seeds.png' sweep/report.md"
  check "report: a PNG" "head -c 8 sweep/plots/test_acc__r2__zoo.num_seeds.png | od -An -tx1 | grep -q '89 50 4e 47 0d 0a 1a 0a'"
fi
# hyperrep run on what a finished run left: a zoo generated from another [zoo] section, and a
# trained method whose [model] differs, are refused by name before anything is loaded or written.
run10=sweep/runs/zoo.num_seeds=10
out=$("$bin" run --config $run10/sweep_config.toml --set run.dir=runs/other --set zoo.num_seeds=12 2>&1); rc=$?
check "run: a zoo from another [zoo] section is refused" "[ $rc -ne 0 ] && grep -q 'zoo:    num_seeds = 10' <<<\"\$out\" && grep -q 'config: num_seeds = 12' <<<\"\$out\" && [ ! -e runs/other/E_cD ]"
rm $run10/DONE_RUN
out=$("$bin" run --config $run10/sweep_config.toml --set model.token_scale=true 2>&1); rc=$?
check "run: a trained method with another [model] is refused" "[ $rc -ne 0 ] && grep -q 'cannot resume .*fields that change the science' <<<\"\$out\" && grep -q 'model.token_scale' <<<\"\$out\""
out=$("$bin" run --config $run10/sweep_config.toml 2>&1); rc=$?
check "run: the same config still finishes it" "[ $rc -eq 0 ] && [ -f $run10/DONE_RUN ]"
# A bad axis is a config error (exit 2) naming the axis, the value and the nearest key.
sed 's/zoo.num_seeds=10,15/zoo.num_seed=10,15/' configs/sweeps/tiny_sweep.toml > configs/sweeps/typo.toml
out=$("$bin" sweep plan --config configs/sweeps/typo.toml 2>&1); rc=$?
check "bad axis: exit 2 with suggestion" "[ $rc -eq 2 ] && grep -q \"sweep axis 'zoo.num_seed' value '10': unknown key (did you mean zoo.num_seeds)\" <<<\"\$out\""
# Failing runs are reported, the sweep goes on, and the exit code says so.
cat > configs/sweeps/failing.toml <<'TOML'
[sweep]
base = "../tiny.toml"
axes = ["zoo.task_path=missing_a,missing_b"]
out = "failing"
[zoo]
task = "idx"
TOML
out=$("$bin" sweep run --config configs/sweeps/failing.toml 2>&1); rc=$?
check "failing runs: exit 1, both tried" "[ $rc -eq 1 ] && grep -q '0 complete before, 2 failed' <<<\"\$out\""
out=$("$bin" sweep status --config configs/sweeps/failing.toml 2>&1)
check "failing runs: status counts them" "grep -q '2 runs: 0 done, 2 failed, 0 pending' <<<\"\$out\""
exit $fail
