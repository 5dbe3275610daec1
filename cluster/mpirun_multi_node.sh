#!/bin/bash
# hyperrep over several nodes without Slurm: Open MPI's mpirun over a hostfile, ranks placed
# slot by slot (a node's slots before the next node), the NCCL and thread settings exported to every rank.
#
#   cluster/mpirun_multi_node.sh HOSTFILE NP hyperrep-args...
#   cluster/mpirun_multi_node.sh cluster/hostfile.example 8 train --config configs/ae/tetris_seed.toml
#   cluster/mpirun_multi_node.sh my_hosts 32 zoo generate --config configs/zoo/fmnist_seed.toml
#
# Run it from the checkout (config paths are relative to it) on a node that can ssh to the
# others. Environment: HYPERREP (binary, default build/bin/hyperrep), HYPERREP_IFACE (network
# interface for MPI and NCCL, e.g. ib0 or eth0), NCCL_* (see cluster/train.sbatch),
# OMP_NUM_THREADS (intra-op threads per rank; run.threads = 0 divides the cores instead).
set -euo pipefail
if [ $# -lt 3 ]; then
  sed -n '2,13p' "$0"
  exit 2
fi
hostfile=$1
np=$2
shift 2
[ -f "$hostfile" ] || { echo "no hostfile '$hostfile'" >&2; exit 2; }
HYPERREP=${HYPERREP:-$PWD/build/bin/hyperrep}
[ -x "$HYPERREP" ] || { echo "hyperrep binary not found at $HYPERREP (set HYPERREP)" >&2; exit 1; }

flags=(--hostfile "$hostfile" -np "$np" --map-by slot --bind-to none)
# Running as root (containers) needs Open MPI's explicit consent.
if [ "$(id -u)" -eq 0 ]; then flags+=(--allow-run-as-root); fi
if [ -n "${HYPERREP_IFACE:-}" ]; then
  # MPI's own traffic and NCCL's bootstrap on the same interface (one that reaches every node).
  flags+=(--mca btl_tcp_if_include "$HYPERREP_IFACE" --mca oob_tcp_if_include "$HYPERREP_IFACE")
  export NCCL_SOCKET_IFNAME=${NCCL_SOCKET_IFNAME:-$HYPERREP_IFACE}
fi
export NCCL_DEBUG=${NCCL_DEBUG:-WARN}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
# -x passes a variable of this shell to the ranks on every node.
for v in PATH LD_LIBRARY_PATH OMP_NUM_THREADS $(compgen -e | grep '^NCCL_' || true); do
  flags+=(-x "$v")
done
exec mpirun "${flags[@]}" "$HYPERREP" "$@"
