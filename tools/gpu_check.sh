#!/usr/bin/env bash
# Builds hyperrep with NCCL on the reference GPU image (../shared/GPU.md: LibTorch from the
# Python torch package, toml++ and Boost.Serialization from .gpu-debs), runs the `gpu` tests,
# then measures the CUDA throughput: autoencoder training steps (fp32 and bf16 autocast, TETRIS-
# and MNIST-SEED) and zoo generation member-epochs/s. Logs go to the folder given as argument,
# else $OUT, else /tmp/hyperrep-gpu-check; a short table is printed last. Exit status non-zero
# when the build or a test fails. Every step has a timeout: at most about 9 minutes in all,
# typically 2 to 3 on 16 cores.
# Usage: tools/gpu_check.sh [log-dir]
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
logs="${1:-${OUT:-/tmp/hyperrep-gpu-check}}"
build="${HYPERREP_GPU_BUILD:-/tmp/hyperrep-gpu-build}"
deps="${HYPERREP_GPU_DEPS:-/tmp/hyperrep-gpu-deps}"
mkdir -p "$logs"
start=$(date +%s)
status=0
table=()
row() { table+=("$(printf '%-44s %s' "$1" "$2")"); }
elapsed() { echo $(( $(date +%s) - $1 )); }

# --- environment -------------------------------------------------------------------------
{
  date -u
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1
  python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)' 2>&1
  cmake --version | head -1
  ls /usr/include/nccl.h 2>&1
} > "$logs/env.log"
gpu_name=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)

# --- dependencies (never unpacked into /) ------------------------------------------------
if compgen -G ".gpu-debs/*.deb" >/dev/null; then
  mkdir -p "$deps"
  for f in .gpu-debs/*.deb; do dpkg -x "$f" "$deps"; done
else
  echo "gpu_check: no .gpu-debs/*.deb; toml++ and Boost.Serialization must be on the system" | tee -a "$logs/env.log"
fi
export LD_LIBRARY_PATH="$deps/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
torch_prefix=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')

# --- build -------------------------------------------------------------------------------
t=$(date +%s)
if timeout 60 cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DHYPERREP_WITH_NCCL=ON \
     -DCMAKE_PREFIX_PATH="$torch_prefix;$deps/usr" -DBoost_NO_SYSTEM_PATHS=ON -DBOOST_ROOT="$deps/usr" \
     > "$logs/cmake.log" 2>&1 &&
   timeout 210 cmake --build "$build" -j"$(nproc)" --target hyperrep_gpu_tests bench_autoencoder \
     > "$logs/build.log" 2>&1; then
  row "build (NCCL on)" "ok, $(elapsed "$t") s"
  built=1
else
  row "build (NCCL on)" "FAILED after $(elapsed "$t") s (see cmake.log, build.log)"
  tail -30 "$logs/build.log" "$logs/cmake.log" 2>/dev/null
  built=0
  status=1
fi

# --- gpu tests ---------------------------------------------------------------------------
if [ "$built" = 1 ]; then
  t=$(date +%s)
  timeout 60 ctest --test-dir "$build" -L gpu --output-on-failure > "$logs/gpu_tests.log" 2>&1
  rc=$?
  summary=$(grep -E "tests passed|tests failed" "$logs/gpu_tests.log" | tail -1)
  skipped=$(grep -c "Skipped" "$logs/gpu_tests.log")
  if [ "$rc" = 0 ]; then
    row "gpu tests (ctest -L gpu)" "ok: ${summary:-?}, ${skipped} skipped, $(elapsed "$t") s"
  else
    row "gpu tests (ctest -L gpu)" "FAILED (rc $rc): ${summary:-see gpu_tests.log}"
    status=1
  fi
fi

# --- autoencoder throughput --------------------------------------------------------------
# samples/s = batch * steps/s of forward + backward (two views, reconstruction + NT-Xent),
# timed with device synchronisation after warm-up, batch 500 as in the papers' setting.
ae_rows() {  # precision
  local log="$logs/bench_autoencoder_$1.log"
  if ! timeout 45 "$build/bin/bench_autoencoder" --device cuda --precision "$1" --batch 500 \
       --tetris-steps 30 --warmup 5 --mnist-steps 10 --mnist-warmup 3 > "$log" 2>&1; then
    row "autoencoder $1" "FAILED (see $(basename "$log"))"
    status=1
    return
  fi
  for c in TETRIS-SEED MNIST-SEED; do
    local v
    v=$(awk -v c="$c" '$1 == c { for (i = 2; i <= NF; ++i) if ($i == "samples/s") print $(i - 1) }' "$log")
    row "$c train step, $1, samples/s" "${v:-?}"
  done
}
if [ "$built" = 1 ]; then
  ae_rows fp32
  ae_rows bf16
fi

# --- zoo generation ----------------------------------------------------------------------
# bench_population [train_images] [device] [P list] [threads]; it reads Fashion-MNIST from the
# system dataset folder, which the GPU image may not have.
if [ "$built" = 1 ]; then
  if ! timeout 45 cmake --build "$build" -j"$(nproc)" --target bench_population > "$logs/build_population.log" 2>&1; then
    row "zoo generation, CUDA" "skipped: bench_population did not build (build_population.log)"
  elif [ -d /usr/share/datasets/fashion-mnist ]; then
    log="$logs/bench_population_cuda.log"
    if timeout 60 "$build/bin/bench_population" 2000 cuda 1,32,128 0 > "$log" 2>&1; then
      while read -r p rate; do
        row "zoo generation CNN-s, CUDA, P=$p, m-epochs/s" "$rate"
      done < <(awk '$1 ~ /^[0-9]+$/ && NF >= 6 { print $1, $4 }' "$log")
    else
      row "zoo generation (bench_population cuda)" "FAILED (see $(basename "$log"))"
      status=1
    fi
  else
    row "zoo generation, CUDA" "skipped: no /usr/share/datasets/fashion-mnist on this machine"
  fi
fi

# --- table -------------------------------------------------------------------------------
{
  echo
  echo "== hyperrep GPU check: ${gpu_name:-no GPU found}, $(elapsed "$start") s in all, logs in $logs =="
  printf '%s\n' "${table[@]}"
} | tee "$logs/summary.txt"
exit "$status"
