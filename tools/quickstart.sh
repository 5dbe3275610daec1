#!/usr/bin/env bash
# Installs the dependencies (apt, idempotent), builds the hyperrep binary and runs the embedded
# default end to end: a Tetris zoo, three autoencoders (E_D, E_C, E_cD), probes and baselines.
# Usage: tools/quickstart.sh [extra hyperrep run arguments, e.g. --set run.dir=runs/mine]
#
# With Open MPI (installed by install_deps.sh) and more than one core, hyperrep runs as one MPI
# rank per physical core, one thread each: the autoencoders train data-parallel, which on 2 cores
# is 1.5x faster than one process on 2 threads, and keeps its speed next to other work (README,
# "Ranks and threads"). HYPERREP_RANKS=N chooses another number of ranks (1: no mpirun).
set -euo pipefail
cd "$(dirname "$0")/.."
./tools/install_deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build --target hyperrep -j"$(nproc)"

# Physical cores, but no more than this process may use (nproc follows cgroup and affinity limits).
cores=$( (lscpu -p=core 2>/dev/null || true) | (grep -v '^#' || true) | sort -u | wc -l)
usable=$(nproc)
if [ "$cores" -lt 1 ] || [ "$cores" -gt "$usable" ]; then cores=$usable; fi
ranks=${HYPERREP_RANKS:-$cores}
if [ "$ranks" -gt 1 ] && command -v mpirun >/dev/null; then
  launch=(mpirun -np "$ranks")
  # More ranks than Open MPI counts slots (hardware threads, a chosen HYPERREP_RANKS) need this.
  [ "$ranks" -gt "$cores" ] && launch+=(--oversubscribe)
  # Open MPI refuses root unless told; a container's root user is the common case.
  [ "$(id -u)" -eq 0 ] && launch+=(--allow-run-as-root)
  exec "${launch[@]}" ./build/bin/hyperrep run --config configs/quickstart.toml "$@"
fi
exec ./build/bin/hyperrep run --config configs/quickstart.toml "$@"
