# Shared set-up of the integration scripts (sourced, not a test itself): the binary under test,
# check NAME CONDITION recording failures in $fail, and a scratch directory that is the working
# directory and is removed on exit (kept when KEEP is set, for debugging).
bin="${HYPERREP_BIN:?}"
fail=0
check() { if eval "$2"; then echo "ok: $1"; else echo "FAIL: $1"; fail=1; fi; }
tmp=$(mktemp -d)
trap '[ -n "${KEEP:-}" ] || rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1
