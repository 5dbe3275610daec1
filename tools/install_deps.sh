#!/usr/bin/env bash
# Installs every build and run dependency of hyperrep from Debian's packages.
# Idempotent and quiet when everything is already there.
# Usage: tools/install_deps.sh [--test] [--python]
#   --test    also what the test suite needs beyond the build: a one-node Slurm (slurmctld, slurmd,
#             the client commands, munge) for tests/integration/slurm_cluster.sh
#   --python  Debian's python3-torch and python3-numpy, for /usr/bin/python3: only to regenerate
#             the Small CNN Zoo fixture (tests/fixtures/make_smallcnnzoo_fixture.py) and to write
#             the synthetic benchmark file (bench/smallcnnzoo_synthetic.py); the build, the tests
#             and the README commands never need Python
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
    --python) pkgs+=(python3-torch python3-numpy) ;;
    *) echo "install_deps: unknown option '$arg' (usage: tools/install_deps.sh [--test] [--python])" >&2; exit 2 ;;
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
