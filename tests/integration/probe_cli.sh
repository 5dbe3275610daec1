#!/usr/bin/env bash
# probe / embed / baseline as a user meets them: a tiny run is probed (table and csv), probed
# with an out-of-distribution zoo (ood rows), exported (npy shape = csv rows, identical bytes at
# np 1 and np 2), the baselines print W and s(W), and bad input ends with exit 2 and a message.
set -u
source "$(dirname "$0")/lib.bash"

tiny=(--set zoo.num_seeds=24 --set zoo.epochs=5 --set zoo.task_train_size=400 --set zoo.task_val_size=100
  --set zoo.task_test_size=200)
cfgzoo="${HYPERREP_SOURCE_DIR:?}/configs/zoo/tetris_seed.toml"
"$bin" zoo generate --config "$cfgzoo" --set zoo.path=zoo "${tiny[@]}" >gen.log 2>&1
"$bin" zoo generate --config "$cfgzoo" --set zoo.path=ood "${tiny[@]}" --set zoo.seed_offset=100 >gen_ood.log 2>&1
"$bin" zoo generate --config "$cfgzoo" --set zoo.path=other "${tiny[@]}" \
  --set 'zoo.architecture=["flatten","linear(16,3,nobias)","act","linear(3,4,nobias)"]' >gen_other.log 2>&1
check "tiny zoos generated" "[ -f zoo/manifest ] && [ -f ood/manifest ] && [ -f other/manifest ]"

small=(--set data.zoo=zoo --set model.d_model=16 --set model.heads=2 --set model.blocks=1 --set model.d_ff=32
  --set model.latent=4 --set model.projection_layers=2 --set model.projection_hidden=8 --set model.projection_out=4
  --set train.batch_size=16 --set train.epochs=4 --set train.lr=1e-3 --set checkpoint.every_epochs=2
  --set checkpoint.keep_last=3 --set probe.targets=epoch --set run.progress_seconds=1000)
"$bin" train "${small[@]}" --set run.dir=run >train.log 2>&1
check "tiny run trained" "ls run/checkpoints | grep -q epoch_0004"

"$bin" probe --run run >probe.txt 2>&1; rc=$?
check "probe exits 0" "[ $rc -eq 0 ]"
check "probe prints r2 rows" "grep -Eq '^\| epoch \| r2 \| -?[0-9]' probe.txt"
check "probe writes the csv of the latest epoch" "grep -q '^epoch,E_cD,r2,' run/probe_epoch_0004.csv"
"$bin" probe --run run --epoch 2 >probe2.txt 2>&1; rc=$?
check "probe --epoch 2" "[ $rc -eq 0 ] && [ -f run/probe_epoch_0002.csv ]"

"$bin" probe --run run --ood-zoo ood >ood.txt 2>&1; rc=$?
check "probe --ood-zoo exits 0" "[ $rc -eq 0 ]"
check "ood rows in the table" "grep -Eq '^\| epoch \| ood_r2 \|' ood.txt && grep -Eq '^\| epoch \| ood_tau \|' ood.txt"
check "ood R2 and tau printed" "grep -q '^ood epoch: R^2' ood.txt && grep -q '^ood epoch: Kendall tau' ood.txt"
check "ood rows in the csv" "grep -q '^epoch,E_cD,ood_r2,' run/probe_epoch_0004.csv"

"$bin" embed --run run --out emb1 >embed.txt 2>&1; rc=$?
check "embed exits 0" "[ $rc -eq 0 ] && [ -f emb1/embeddings.npy ] && [ -f emb1/properties.csv ]"
rows=$(( $(wc -l <emb1/properties.csv) - 1 ))
check "npy shape ($rows, 4) matches the csv rows" "head -c 128 emb1/embeddings.npy | grep -aq \"'shape': ($rows, 4)\""
# 24 members x 6 stored epochs (0..5).
check "every row exported" "[ $rows -eq 144 ]"
check "properties header, epoch once" "head -1 emb1/properties.csv | grep -q '^split,member,epoch,test_acc,' && [ \$(head -1 emb1/properties.csv | tr , '\\n' | grep -cx epoch) -eq 1 ]"
check "splits train, val, test in order" \
  "[ \"\$(tail -n +2 emb1/properties.csv | cut -d, -f1 | uniq | tr '\n' ' ')\" = 'train val test ' ]"
check "rows sorted by (member, epoch) within a split" \
  "tail -n +2 emb1/properties.csv | awk -F, '\$1==s && (\$2<m || (\$2==m && \$3<=e)) {bad=1} {s=\$1; m=\$2; e=\$3} END {exit bad}'"

if [ -n "${HYPERREP_MPIRUN:-}" ]; then
  read -r -a mpirun <<<"$HYPERREP_MPIRUN"
  "${mpirun[@]}" -np 2 "$bin" embed --run run --out emb2 >embed2.txt 2>&1; rc=$?
  check "embed at np 2 exits 0" "[ $rc -eq 0 ]"
  check "np 2 embeddings identical to np 1" "cmp -s emb1/embeddings.npy emb2/embeddings.npy"
  check "np 2 properties identical to np 1" "cmp -s emb1/properties.csv emb2/properties.csv"
  "${mpirun[@]}" -np 2 "$bin" probe --run run --ood-zoo ood >ood2.txt 2>&1; rc=$?
  check "probe --ood-zoo at np 2" "[ $rc -eq 0 ] && grep -Eq '^\| epoch \| ood_r2 \|' ood2.txt"
fi

"$bin" baseline --zoo zoo --set probe.targets=epoch --out base.csv >base.txt 2>&1; rc=$?
check "baseline prints W and s(W)" "[ $rc -eq 0 ] && grep -q '| W | s(W) |' base.txt && grep -Eq '^\| epoch \| r2 \|' base.txt"
check "baseline --out csv" "grep -q '^epoch,W,r2,' base.csv && grep -q '^epoch,s(W),r2,' base.csv"

"$bin" probe --run nowhere >e1.txt 2>&1; rc=$?
check "missing run: exit 2 naming config.toml" "[ $rc -eq 2 ] && grep -q 'nowhere/config.toml' e1.txt"
"$bin" probe --run run --epoch 3 >e2.txt 2>&1; rc=$?
check "bad epoch: exit 2 listing the epochs" "[ $rc -eq 2 ] && grep -q 'available epochs: 2, 4' e2.txt"
"$bin" probe --run run --ood-zoo other >e3.txt 2>&1; rc=$?
check "OOD zoo of another architecture: exit 2" "[ $rc -eq 2 ] && grep -q 'another architecture' e3.txt"
check "the refusal names the differing layer" "grep -q 'parameter layer 0: linear(16,5,nobias) vs linear(16,3,nobias)' e3.txt"
# The paper's transfer: a hyper-parameter zoo whose members add a dropout layer has the seed
# zoo's parameter layout; it is probed, with the layer lists shown.
"$bin" zoo generate --config "$cfgzoo" --set zoo.path=hyp "${tiny[@]}" --set zoo.seed_offset=200 --set 'zoo.dropout=[0.0,0.3]' \
  --set 'zoo.architecture=["flatten","linear(16,5,nobias)","act","dropout","linear(5,4,nobias)"]' >gen_hyp.log 2>&1
"$bin" probe --run run --ood-zoo hyp >ood_hyp.txt 2>&1; rc=$?
check "OOD zoo with a dropout layer is probed" "[ $rc -eq 0 ] && grep -Eq '^\| epoch \| ood_r2 \|' ood_hyp.txt"
check "the layer lists are shown" "grep -q 'differs only in' ood_hyp.txt && grep -q 'act, dropout, linear(5,4,nobias)' ood_hyp.txt"
mkdir -p empty && cp run/config.toml empty/
"$bin" embed --run empty --out x >e4.txt 2>&1; rc=$?
check "run without checkpoints: exit 2" "[ $rc -eq 2 ] && grep -q 'no complete checkpoint' e4.txt"
exit $fail
