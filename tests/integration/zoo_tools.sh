#!/usr/bin/env bash
# zoo import/info/verify/export on the committed Model Zoo fixture: the import round-trips to a
# complete zoo, info reports it (also as JSON), verify catches a flipped byte and a truncated
# shard naming the file (exit 1), a missing manifest is a clear error, export writes a .pt.
set -u
source "$(dirname "$0")/lib.bash"
src="${HYPERREP_SOURCE_DIR:?}/tests/fixtures/modelzoo"

out=$("$bin" zoo import --from modelzoo "$src" --out zoo --input-shape 1,4,4 2>&1); rc=$?
check "import exits 0" "[ $rc -eq 0 ]"
check "import reports 2 members, 4 checkpoints" "grep -q 'imported 2 members, 4 checkpoints' <<<\"\$out\""
check "zoo is complete" "[ -f zoo/manifest ] && [ -f zoo/properties.csv ] && [ -f zoo/shards/shard-00000.bin ]"
check "shard holds 4 rows of 100 floats" "[ \$(stat -c %s zoo/shards/shard-00000.bin) -eq 1600 ]"
check "CSV header" "head -1 zoo/properties.csv | grep -q '^member,epoch,test_acc,'"

out=$("$bin" zoo info zoo 2>&1); rc=$?
check "info exits 0" "[ $rc -eq 0 ]"
check "info: members" "grep -qE '^members +2$' <<<\"\$out\""
check "info: parameters" "grep -qE '^parameters +100 per member' <<<\"\$out\""
check "info: categories" "grep -q 'activation    relu: 1, tanh: 1' <<<\"\$out\""
hash=$(sed -n 's/^content hash *//p' <<<"$out")
json=$("$bin" zoo info zoo --json --set data.split=[0.5,0.5,0.0] 2>&1)
check "info --json: hash and split" "grep -q \"\\\"content_hash\\\": \\\"$hash\\\"\" <<<\"\$json\" && tr -d ' \\n' <<<\"\$json\" | grep -q '\"train\":1,\"val\":1,\"test\":0'"

"$bin" zoo import --from modelzoo "$src" --out again --input-shape 1,4,4 >/dev/null 2>&1
check "re-import gives the same files" "cmp -s zoo/manifest again/manifest && cmp -s zoo/shards/shard-00000.bin again/shards/shard-00000.bin"

out=$("$bin" zoo verify zoo 2>&1); rc=$?
check "verify ok exits 0" "[ $rc -eq 0 ] && grep -q 'every checksum matches' <<<\"\$out\""
"$bin" zoo export zoo --member 1 --epoch 2 --out m1.pt >/dev/null 2>&1; rc=$?
check "export writes a .pt" "[ $rc -eq 0 ] && [ -s m1.pt ]"
out=$("$bin" zoo export zoo --member 1 --epoch 7 --out x.pt 2>&1); rc=$?
check "export of a missing epoch exits 1" "[ $rc -eq 1 ] && grep -q 'member 1 has no checkpoint of epoch 7' <<<\"\$out\""

cp -r zoo bad
printf '\x55' | dd of=bad/shards/shard-00000.bin bs=1 seek=700 conv=notrunc 2>/dev/null
out=$("$bin" zoo verify bad 2>&1); rc=$?
check "flipped byte: exit 1 naming the shard" "[ $rc -eq 1 ] && grep -q 'BAD  shards/shard-00000.bin: CRC32' <<<\"\$out\""
truncate -s 1000 bad/shards/shard-00000.bin
out=$("$bin" zoo verify bad 2>&1); rc=$?
check "truncated shard: verify names it" "[ $rc -eq 1 ] && grep -q 'shard-00000.bin: has 1000 bytes, the manifest expects 1600' <<<\"\$out\""
out=$("$bin" zoo info bad 2>&1); rc=$?
check "truncated shard: info is a clear error" "[ $rc -eq 1 ] && grep -q \"has 1000 bytes, the manifest expects 1600 (truncated)\" <<<\"\$out\""
rm bad/manifest
out=$("$bin" zoo info bad 2>&1); rc=$?
check "no manifest: incomplete" "[ $rc -eq 1 ] && grep -q 'is incomplete or missing: no manifest' <<<\"\$out\""

# The public Small CNN Zoo layout, in and out, through paths with spaces, quotes and $().
scz="${HYPERREP_SOURCE_DIR:?}/tests/fixtures/smallcnnzoo"
odd="dir with 'quote' \$(touch pwned)"
mkdir -p "$odd"
out=$("$bin" zoo import --from smallcnnzoo "$scz" --out "$odd/scz" 2>&1); rc=$?
check "smallcnnzoo import exits 0" "[ $rc -eq 0 ] && grep -q 'imported 3 members, 9 checkpoints' <<<\"\$out\" && grep -q 'dropped 0 rows' <<<\"\$out\""
hash=$(sed -n 's/.*(content hash \([0-9a-f]*\)).*/\1/p' <<<"$out" | head -1)
out=$("$bin" zoo info "$odd/scz" 2>&1)
check "the published network, read from layout.csv" "grep -q 'conv(1,16,3,stride=2), act, conv(16,16,3,stride=2), act, conv(16,16,3,stride=2), act, gap, linear(16,10)' <<<\"\$out\" && grep -q 'parameters    4970 per member' <<<\"\$out\""
check "published names mapped" "grep -Eq '^  l2 ' <<<\"\$out\" && grep -Eq '^  train_fraction ' <<<\"\$out\" && grep -Eq '^  init +RandomNormal' <<<\"\$out\""
"$bin" zoo export "$odd/scz" --format smallcnnzoo --out "$odd/exported" >/dev/null 2>&1; rc=$?
check "export --format smallcnnzoo" "[ $rc -eq 0 ] && [ -f \"\$odd/exported/weights.npy\" ] && [ -f \"\$odd/exported/metrics.csv.gz\" ]"
check "exported weights.npy equals the public file" "cmp -s \"\$odd/exported/weights.npy\" \"\$scz/weights.npy\""
out=$("$bin" zoo import --from smallcnnzoo "$odd/exported" --out "$odd/back" 2>&1)
check "re-import gives the same content hash" "[ -n \"$hash\" ] && grep -q \"content hash $hash\" <<<\"\$out\""
"$bin" zoo export "$odd/scz" --member 2 --epoch 2 --out "$odd/m.pt" >/dev/null 2>&1; rc=$?
check "a member exports as a state_dict" "[ $rc -eq 0 ] && [ -s \"\$odd/m.pt\" ]"
out=$("$bin" zoo import --from smallcnnzoo "$odd" --out "$odd/none" 2>&1); rc=$?
check "a directory without the files: exit 1 naming weights.npy" "[ $rc -ne 0 ] && grep -q 'weights.npy' <<<\"\$out\""
out=$("$bin" zoo import --from tensorflow "$scz" --out x 2>&1); rc=$?
check "unknown format: exit 2" "[ $rc -eq 2 ] && grep -q 'modelzoo or smallcnnzoo' <<<\"\$out\""
check "no path was run as a command" "[ ! -e pwned ] && [ ! -e \"\$odd/pwned\" ]"
exit $fail
