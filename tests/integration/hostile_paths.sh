#!/usr/bin/env bash
# Every path the CLI accepts may hold quotes, $(), backquotes, spaces and line breaks: the whole
# pipeline (zoo, training, probes, the gnuplot loss plot), the tools (info, verify, export,
# embed, probe, baseline, checkpoint info) and a sweep with its gnuplot report run on such paths,
# and no command inside a path is ever executed (no PWNED file appears anywhere).
set -u
source "$(dirname "$0")/lib.bash"
# One directory name with everything a shell or gnuplot would interpret.
evil=$'d \'q\' "dq" $(touch PWNED_dollar) `touch PWNED_tick` \\ @x ; nl\nx'
mkdir -p "$evil/cfg"
tiny_config > "$evil/cfg/tiny.toml"
cfg=(--config "$evil/cfg/tiny.toml" --set "run.dir=$evil/run" --set "zoo.path=$evil/zoo" --set "data.zoo=$evil/zoo")

out=$("$bin" config check "$evil/cfg/tiny.toml" 2>&1); rc=$?
check "config check reads a config under the path" "[ $rc -eq 0 ]" || echo "$out"
"$bin" run "${cfg[@]}" > run.log 2>&1; rc=$?
check "run exits 0" "[ $rc -eq 0 ]" || cat run.log
check "run wrote its report and table" "[ -f \"\$evil/run/report.md\" ] && [ -f \"\$evil/run/table.md\" ]"
if command -v gnuplot >/dev/null; then
  check "the loss plot was drawn inside the path" "[ -s \"\$evil/run/plots/loss.png\" ]"
  check "the plot script names no user path" "! grep -q 'PWNED' \"\$evil/run/plots/loss.gp\""
fi

"$bin" zoo info "$evil/zoo" > info.log 2>&1; rc=$?
check "zoo info exits 0" "[ $rc -eq 0 ]" || cat info.log
"$bin" zoo verify "$evil/zoo" > verify.log 2>&1; rc=$?
check "zoo verify exits 0" "[ $rc -eq 0 ]" || cat verify.log
"$bin" zoo export "$evil/zoo" --member 1 --epoch 2 --out "$evil/out/m1.pt" > export.log 2>&1; rc=$?
check "zoo export writes under the path" "[ $rc -eq 0 ] && [ -s \"\$evil/out/m1.pt\" ]" || cat export.log
"$bin" embed --run "$evil/run/E_cD" --out "$evil/emb" > embed.log 2>&1; rc=$?
check "embed writes under the path" "[ $rc -eq 0 ] && ls \"\$evil/emb\"/*.npy >/dev/null 2>&1" || cat embed.log
"$bin" probe --run "$evil/run/E_cD" > probe.log 2>&1; rc=$?
check "probe exits 0" "[ $rc -eq 0 ]" || cat probe.log
"$bin" baseline --zoo "$evil/zoo" --config "$evil/cfg/tiny.toml" --out "$evil/base.csv" > base.log 2>&1; rc=$?
check "baseline writes under the path" "[ $rc -eq 0 ] && [ -s \"\$evil/base.csv\" ]" || cat base.log
ckpts=("$evil/run/E_cD/checkpoints"/epoch_*)
ckpt="${ckpts[${#ckpts[@]}-1]}"
"$bin" checkpoint info "$ckpt" > ckpt.log 2>&1; rc=$?
check "checkpoint info exits 0" "[ $rc -eq 0 ]" || cat ckpt.log

mkdir -p "$evil/sweeps"
cat > "$evil/sweeps/s.toml" <<'TOML'
[sweep]
base = "../cfg/tiny.toml"
axes = ["train.epochs=1,2"]
TOML
# The sweep's name and axis values reach plot titles; its out directory reaches every path.
"$bin" sweep run --config "$evil/sweeps/s.toml" --set "sweep.out=$evil/sweep" > sweep.log 2>&1; rc=$?
check "sweep run exits 0" "[ $rc -eq 0 ]" || cat sweep.log
"$bin" sweep report --config "$evil/sweeps/s.toml" --set "sweep.out=$evil/sweep" > report.log 2>&1; rc=$?
check "sweep report exits 0" "[ $rc -eq 0 ]" || cat report.log
if command -v gnuplot >/dev/null; then
  check "sweep plots drawn" "ls \"\$evil/sweep/plots\"/*.png >/dev/null 2>&1"
fi

found=$(find . -name 'PWNED*' | head -5)
check "no command inside a path ran" "[ -z \"\$found\" ]" || echo "found: $found"
exit $fail
