#!/usr/bin/env bash
# Installs every build and run dependency of hyperrep from Debian's packages.
# Idempotent and quiet when everything is already there.
# Usage: tools/install_deps.sh [--test]
#   --test  also what the test suite needs beyond the build: a one-node Slurm (slurmctld, slurmd,
#           the client commands, munge) for tests/integration/slurm_cluster.sh
set -euo pipefail

pkgs=(
  build-essential cmake ccache pkg-config
  libtorch-dev libopenblas0-pthread
  libopenmpi-dev openmpi-bin
  libboost-serialization-dev
  libtomlplusplus-dev libspdlog-dev libfmt-dev
  libgtest-dev zlib1g-dev rapidjson-dev
  dataset-fashion-mnist gnuplot-nox
)
for arg in "$@"; do
  case "$arg" in
    --test) pkgs+=(slurmctld slurmd slurm-client munge) ;;
    *) echo "install_deps: unknown option '$arg' (usage: tools/install_deps.sh [--test])" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "install_deps: installing ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo_cmd apt-get update -qq
  $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
