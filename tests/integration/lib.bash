# Shared set-up of the integration scripts (sourced, not a test itself): the binary under test,
# check NAME CONDITION recording failures in $fail, and a scratch directory that is the working
# directory and is removed on exit (kept when KEEP is set, for debugging).
bin="${HYPERREP_BIN:?}"
fail=0
check() { if eval "$2"; then echo "ok: $1"; else echo "FAIL: $1"; fail=1; fi; }
tmp=$(mktemp -d)
trap '[ -n "${KEEP:-}" ] || rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1

# tiny_config [RUN_DIR ZOO_PATH]: a Tetris config that runs the whole pipeline in seconds (tiny
# zoo, tiny autoencoder, 2 epochs), printed to stdout; run.dir and zoo.path only when given.
tiny_config() {
  printf '[run]\nname = "tiny"\n'
  [ -n "${1:-}" ] && printf 'dir = "%s"\n' "$1"
  printf 'device = "cpu"\nmethods = ["E_cD"]\n[zoo]\n'
  [ -n "${2:-}" ] && printf 'path = "%s"\n' "$2"
  cat <<'TOML'
task = "tetris"
task_train_size = 200
task_val_size = 50
task_test_size = 100
architecture = ["flatten", "linear(16,5,nobias)", "act", "linear(5,4,nobias)"]
num_seeds = 10
activation = ["tanh"]
init = ["uniform"]
optimizer = ["adam"]
lr = [0.01]
batch_size = 20
epochs = 2
keep_epochs = [0, 1, 2]
population_size = 40
[data]
split = [0.6, 0.2, 0.2]
[model]
d_model = 16
heads = 2
blocks = 1
d_ff = 32
latent = 4
projection_hidden = 16
projection_out = 8
[train]
epochs = 2
batch_size = 16
[probe]
targets = ["test_acc"]
TOML
}
