#!/usr/bin/env bash
# Installs the dependencies (apt, idempotent), builds the hyperrep binary and runs the embedded
# default end to end: a Tetris zoo, three autoencoders (E_D, E_C, E_cD), probes and baselines.
# Usage: tools/quickstart.sh [extra hyperrep run arguments, e.g. --set run.dir=runs/mine]
set -euo pipefail
cd "$(dirname "$0")/.."
./tools/install_deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build --target hyperrep -j"$(nproc)"
exec ./build/bin/hyperrep run --config configs/quickstart.toml "$@"
