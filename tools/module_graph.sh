#!/usr/bin/env bash
# Prints each module's lines of code and the modules its #include lines name: the module graph
# of docs/architecture.md, measured. Usage: tools/module_graph.sh
set -euo pipefail
cd "$(dirname "$0")/.."
for d in src/* distributed launch; do
  [ -d "$d" ] || continue
  m=${d#src/}
  deps=$(grep -rhoE '^#include "[a-z_]+/' "$d" --include='*.cpp' --include='*.h' | sed -E 's/#include "([a-z_]+)\//\1/' |
    sort -u | grep -vxE "$m|generated" | tr '\n' ' ' || true)
  lines=$(find "$d" \( -name '*.cpp' -o -name '*.h' \) -exec cat {} + | wc -l)
  printf '%-12s %6s lines -> %s\n' "$m" "$lines" "${deps:-(none)}"
done
