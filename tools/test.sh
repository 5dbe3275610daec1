#!/usr/bin/env bash
# Installs the dependencies (apt, idempotent), builds hyperrep with its tests, runs the suite.
# Usage: tools/test.sh [build-dir]   (default: build)
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build}"
./tools/install_deps.sh --test
start=$(date +%s)
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DHYPERREP_BUILD_TESTS=ON -DHYPERREP_WERROR=ON >/dev/null
cmake --build "$build" -j"$(nproc)"
built=$(date +%s)
ctest --test-dir "$build" --output-on-failure -j"$(nproc)"
echo "build: $((built - start)) s, tests: $(( $(date +%s) - built )) s"
