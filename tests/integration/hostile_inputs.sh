#!/usr/bin/env bash
# Inputs a careless or hostile user gives, each refused with a message that names the problem
# (and nothing run or written): --set values that smuggle in other keys, a directory as --config,
# layers that generation cannot build, keys that name what the zoo does not have, forged or
# damaged checkpoints, special files in a zoo. Plus: a run found from another directory, and a
# SIGTERM during start-up that saves and exits 0 like any other.
set -u
source "$(dirname "$0")/lib.bash"
src="${HYPERREP_SOURCE_DIR:?}"

# --set is one value: a line break cannot add [train] epochs = 999.
out=$("$bin" config check "$src/configs/quickstart.toml" --set $'zoo.num_seeds=5\n[train]\nepochs=999' 2>&1); rc=$?
check "--set with an injected section is refused" "[ $rc -eq 2 ] && grep -q 'zoo.num_seeds: .* is not a single TOML value' <<<\"\$out\""
mkdir -p adir
out=$("$bin" config check adir 2>&1); rc=$?
check "a directory as config is refused" "[ $rc -eq 2 ] && grep -q \"'adir' is a directory\" <<<\"\$out\""
out=$("$bin" train --config adir 2>&1); rc=$?
check "a directory as --config is refused by train" "[ $rc -eq 2 ] && grep -q 'is a directory' <<<\"\$out\""

# config check refuses what zoo generate refuses, at the line of zoo.architecture.
printf '[zoo]\ntask = "tetris"\narchitecture = ["flatten", "linear(16,5)", "act", "linear(5,10)"]\n' >classes.toml
out=$("$bin" config check classes.toml 2>&1); rc=$?
check "output size != class count: config check" "[ $rc -eq 2 ] && grep -q 'classes.toml:3: zoo.architecture: the last layer has 10 outputs, task .tetris. has 4 classes' <<<\"\$out\""
out=$("$bin" zoo generate --config classes.toml --set zoo.path=z 2>&1); rc=$?
check "output size != class count: zoo generate, the same words" "[ $rc -eq 2 ] && grep -q 'classes.toml:3: zoo.architecture: the last layer has 10 outputs' <<<\"\$out\" && [ ! -e z ]"
printf '[zoo]\narchitecture = ["flatten", "linear(5,0)"]\n' >zero.toml
out=$("$bin" config check zero.toml 2>&1); rc=$?
check "linear(5,0) refused with its line" "[ $rc -eq 2 ] && grep -q \"zero.toml:2: zoo.architecture: bad layer 'linear(5,0)'\" <<<\"\$out\""
printf '[zoo]\narchitecture = ["flatten", "conv(1,4,2)", "flatten", "linear(4,4)"]\n' >flatconv.toml
out=$("$bin" config check flatconv.toml 2>&1); rc=$?
check "conv on a flat input refused" "[ $rc -eq 2 ] && grep -q 'not a flat one' <<<\"\$out\""
printf '[model]\nd_model = 10\nheads = 4\n' >heads.toml
out=$("$bin" config check heads.toml 2>&1); rc=$?
check "cross-key rule names its line" "[ $rc -eq 2 ] && grep -q 'heads.toml:3: model.heads: must divide model.d_model' <<<\"\$out\""

# A small zoo and a short training run to damage.
"$bin" zoo generate --config "$src/configs/quickstart.toml" --set zoo.path=zoo --set zoo.num_seeds=12 --set zoo.epochs=3 \
  --set 'zoo.keep_epochs=[0,1,2,3]' >gen.log 2>&1
check "tiny zoo generated" "[ -f zoo/manifest ]" || cat gen.log
check "zoo generate logs at info by default" "grep -q '\[info\]' gen.log"
"$bin" zoo generate --config "$src/configs/quickstart.toml" --set zoo.path=quiet --set zoo.num_seeds=2 --set zoo.epochs=1 --set "zoo.keep_epochs=[0,1]" \
  --set run.log_level=warn >quiet.log 2>&1
check "zoo generate honours run.log_level = warn" "[ -f quiet/manifest ] && ! grep -q '\[info\]' quiet.log" || cat quiet.log
small=(--config "$src/configs/quickstart.toml" --set data.zoo=zoo --set model.d_model=16 --set model.heads=2 --set model.blocks=1
  --set model.d_ff=32 --set model.latent=4 --set model.projection_hidden=8 --set model.projection_out=4
  --set train.batch_size=16 --set train.epochs=2 --set checkpoint.every_epochs=1 --set run.progress_seconds=1000)

out=$("$bin" train "${small[@]}" --set run.dir=r0 --set 'probe.targets=["test_acc","nosuch"]' 2>&1); rc=$?
check "unknown probe target refused before training" "[ $rc -eq 2 ] && grep -q \"probe.targets: 'nosuch' is not a property of zoo 'zoo'\" <<<\"\$out\" && [ ! -d r0/checkpoints ]"
out=$("$bin" train "${small[@]}" --set run.dir=r0 --set 'data.epochs=[1,99]' 2>&1); rc=$?
check "data.epochs naming no stored epoch refused" "[ $rc -eq 2 ] && grep -q 'data.epochs: epoch 99 is stored by no member of zoo .zoo. (its epochs: 0, 1, 2, 3)' <<<\"\$out\""

# Sizes past this machine's memory: refused up front, naming the key, not std::bad_alloc.
out=$("$bin" zoo generate --config "$src/configs/quickstart.toml" --set zoo.path=huge --set zoo.num_seeds=100000000000 2>&1); rc=$?
check "a zoo of 1e11 members refused, naming zoo.num_seeds" "[ $rc -eq 2 ] && grep -q 'comes from zoo.num_seeds' <<<\"\$out\" && [ ! -e huge ]"
out=$("$bin" zoo generate --config "$src/configs/quickstart.toml" --set zoo.path=huge --set zoo.task_train_size=100000000000 2>&1); rc=$?
check "1e11 Tetris images refused, naming zoo.task_train_size" "[ $rc -eq 2 ] && grep -q 'comes from zoo.task_train_size' <<<\"\$out\""
out=$("$bin" train "${small[@]}" --set run.dir=r0 --set model.d_model=2000000 2>&1); rc=$?
check "d_model 2e6 refused, naming model.d_model" "[ $rc -eq 2 ] && grep -q 'comes from model.d_model' <<<\"\$out\""

"$bin" train "${small[@]}" --set run.dir=run >train.log 2>&1; rc=$?
check "training runs" "[ $rc -eq 0 ]" || cat train.log
last=run/checkpoints/epoch_0002

# Without data.zoo, training reads the zoo that zoo.path names (the zoo `hyperrep run` makes).
by_path=("${small[@]/data.zoo=zoo/zoo.path=zoo}")
out=$("$bin" train "${by_path[@]}" --set run.dir=bypath --set train.epochs=1 2>&1); rc=$?
check "data.zoo defaults to zoo.path" "[ $rc -eq 0 ] && grep -q 'zoo zoo: 12 members' <<<\"\$out\"" || echo "$out" | tail -5

# A run is found from any directory: its zoo path is taken against the directory it ran in.
mkdir -p elsewhere
(cd elsewhere && "$bin" embed --run ../run --out emb >embed.log 2>&1); rc=$?
check "embed --run from another directory finds the zoo" "[ $rc -eq 0 ] && ls elsewhere/emb/*.npy >/dev/null 2>&1" || cat elsewhere/embed.log

# state.txt that says epoch 2e9, with a DONE that matches it: refused, naming the file.
crc() { gzip -c "$1" | tail -c 8 | head -c 4 | od -An -tu4 | tr -d ' '; }
cp -r run forged
f=forged/checkpoints/epoch_0002
awk 'NR == 2 { $6 = 2000000000 } 1' "$f/state.txt" >state.new && mv state.new "$f/state.txt"
awk -v s="$(stat -c %s "$f/state.txt")" -v c="$(crc "$f/state.txt")" '$1 == "state.txt" { $2 = s; $3 = c } 1' "$f/DONE" >done.new && mv done.new "$f/DONE"
out=$("$bin" train "${small[@]}" --set run.dir=forged --resume 2>&1); rc=$?
check "forged epoch refused on resume" "[ $rc -ne 0 ] && grep -q \"forged/checkpoints/epoch_0002/state.txt' cannot be resumed: it says epoch 2000000000\" <<<\"\$out\""

# A garbage DONE is damage: named, never a silent fall-back to an older checkpoint.
cp -r run damaged
printf 'garbage' >damaged/checkpoints/epoch_0002/DONE
out=$("$bin" train "${small[@]}" --set run.dir=damaged --resume 2>&1); rc=$?
check "garbage DONE refused on resume" "[ $rc -ne 0 ] && grep -q 'damaged checkpoint: .*damaged/checkpoints/epoch_0002/DONE' <<<\"\$out\""
out=$("$bin" probe --run damaged 2>&1); rc=$?
check "garbage DONE refused by probe" "[ $rc -ne 0 ] && grep -q 'damaged/checkpoints/epoch_0002' <<<\"\$out\""
cp -r run escape
printf '../../../../etc/passwd 10 1\n' >>escape/checkpoints/epoch_0002/DONE
out=$("$bin" checkpoint info escape/checkpoints/epoch_0002 2>&1); rc=$?
check "DONE naming a path out of the run refused" "[ $rc -ne 0 ] && grep -q 'not a file of the checkpoint directory' <<<\"\$out\""

# A zoo shard that is a FIFO or a link to /dev/zero: verify and info answer at once.
for kind in fifo zero; do
  cp -r zoo "zoo_$kind"
  shard=$(ls "zoo_$kind"/shards/*.bin | head -1)
  rm "$shard"
  if [ $kind = fifo ]; then mkfifo "$shard"; else ln -s /dev/zero "$shard"; fi
  out=$(timeout 60 "$bin" zoo verify "zoo_$kind" 2>&1); rc=$?
  check "verify with a $kind shard returns and names it" "[ $rc -eq 1 ] && grep -q 'is not a regular file' <<<\"\$out\""
  out=$(timeout 60 "$bin" zoo export "zoo_$kind" --member 0 --epoch 1 --out x.pt 2>&1); rc=$?
  check "export with a $kind shard refused" "[ $rc -eq 1 ] && grep -q 'is not a regular file' <<<\"\$out\""
done

# SIGTERM while the zoo is still loading: kept, the trainer saves after one step and exits 0.
# Signalled as soon as its SIGTERM handler is installed (bit 14 of SigCgt), before it loads the zoo.
"$bin" train "${small[@]}" --set run.dir=early >early.log 2>&1 &
pid=$!
for _ in $(seq 1000); do
  mask=$(awk '/^SigCgt/ { print $2 }' "/proc/$pid/status" 2>/dev/null)
  [ -n "$mask" ] && (( 0x$mask & 0x4000 )) && break
  sleep 0.01
done
kill -TERM $pid
wait $pid; rc=$?
check "SIGTERM during start-up exits 0" "[ $rc -eq 0 ]" || cat early.log
check "and leaves a checkpoint to resume" "ls early/checkpoints 2>/dev/null | grep -q epoch_"
exit $fail
