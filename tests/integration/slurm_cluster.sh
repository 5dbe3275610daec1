#!/usr/bin/env bash
# The cluster scripts against a real Slurm: starts a one-node cluster on this machine (munged,
# slurmctld, slurmd from Debian's slurm-wlm, a generated slurm.conf, everything under a scratch
# directory, ports chosen free), submits the real cluster/*.sbatch with the real binary, and
# stops it again:
#   - zoo.sbatch: a 2-rank zoo job whose zoo equals the one a single process generates;
#   - train.sbatch: a 2-rank training job with a two-minute time limit and USR1 60 s before it.
#     The signal reaches the trainer, which checkpoints and exits 0; the job requeues itself and
#     resumes with --resume, until the run finishes. Its final parameters equal those of the same
#     run trained in one allocation, bit for bit;
#   - sweep.sbatch: `hyperrep sweep run --slurm` submits a job array, every run completes and
#     `sweep collect` tables them.
# The scripts' tasks, GPUs and signal times are overridden on the sbatch command line (what a
# site does too). What a one-node Slurm cannot do (several nodes, GPUs) stays with the fakes of
# sweep_cluster_scripts.sh. Without Slurm installed (tools/install_deps.sh --test installs it)
# or when the daemons cannot start, this test fails and says why: it never passes unrun.
set -u
src="${HYPERREP_SOURCE_DIR:?}"
source "$(dirname "$0")/lib.bash"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

for prog in munged slurmctld slurmd sbatch scontrol squeue sinfo; do
  if ! command -v "$prog" >/dev/null && [ ! -x "/usr/sbin/$prog" ]; then
    echo "FAIL: $prog not found: install Slurm (tools/install_deps.sh --test: slurmctld slurmd slurm-client munge)"
    exit 1
  fi
done
export PATH="$PATH:/usr/sbin"

# ---- a one-node Slurm under $tmp/slurm ----------------------------------------------------
S=$tmp/slurm
mkdir -p "$S"/{state,spool,log,run,munge} logs
chmod 700 "$S/munge"
user=$(id -un)
node=$(hostname -s)
cpus=$(getconf _NPROCESSORS_ONLN)
if [ "$cpus" -lt 2 ]; then
  echo "FAIL: the 2-rank jobs of this test need 2 CPUs; this machine has $cpus"
  exit 1
fi
free_port() {  # a TCP port nobody listens on, from a range unlikely to be in use
  local p
  for _ in $(seq 1 200); do
    p=$((10000 + RANDOM % 22000))  # below Linux's ephemeral ports (32768-60999)
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
  done
  echo 0
}
ctld_port=$(free_port)
slurmd_port=$(free_port)
while [ "$slurmd_port" = "$ctld_port" ]; do slurmd_port=$(free_port); done
sock=$S/munge/munge.sock
head -c 1024 /dev/urandom > "$S/munge/munge.key"
chmod 400 "$S/munge/munge.key"
cat > "$S/slurm.conf" <<CONF
ClusterName=hyperrep-test
SlurmctldHost=$node(127.0.0.1)
SlurmUser=$user
SlurmdUser=$user
AuthType=auth/munge
CredType=cred/munge
# A requeued job may start again once the credentials of its last run expired (cred_expire + 1
# s; 120 s by default).
AuthInfo=socket=$sock,cred_expire=10
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
StateSaveLocation=$S/state
SlurmdSpoolDir=$S/spool
SlurmctldPidFile=$S/run/slurmctld.pid
SlurmdPidFile=$S/run/slurmd.pid
SlurmctldLogFile=$S/log/slurmctld.log
SlurmdLogFile=$S/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=pmix
MinJobAge=600
KillWait=10
SchedulerParameters=sched_interval=2
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus State=UNKNOWN
PartitionName=test Nodes=$node Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF=$S/slurm.conf

stop_slurm() {
  # Jobs first (their steps hold files under $tmp), then the daemons.
  scancel --quiet --user="$user" 2>/dev/null
  for _ in $(seq 1 20); do
    [ -z "$(squeue -h 2>/dev/null)" ] && break
    sleep 1
  done
  for f in "$S/run/slurmd.pid" "$S/run/slurmctld.pid" "$S/munge/munged.pid"; do
    [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null
  done
  sleep 1
  for f in "$S/run/slurmd.pid" "$S/run/slurmctld.pid" "$S/munge/munged.pid"; do
    [ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null
  done
  [ -n "${KEEP:-}" ] || rm -rf "$tmp"
}
trap stop_slurm EXIT
trap 'exit 143' TERM INT   # so that the EXIT trap stops the daemons
show_logs() {
  for f in "$S"/log/*.log "$S/munge/munged.log"; do
    [ -f "$f" ] && { echo "---- $f (last lines)"; tail -n 15 "$f"; }
  done
}
die() { echo "FAIL: $*"; show_logs; exit 1; }

munged --force --socket="$sock" --key-file="$S/munge/munge.key" --pid-file="$S/munge/munged.pid" \
  --log-file="$S/munge/munged.log" --seed-file="$S/munge/munged.seed" ||
  die "munged would not start (its log follows)"
slurmctld -f "$SLURM_CONF" -i || die "slurmctld would not start"
slurmd -f "$SLURM_CONF" || die "slurmd would not start"
up=0
for _ in $(seq 1 60); do
  if [ "$(sinfo -h -n "$node" -o %t 2>/dev/null)" = idle ]; then up=1; break; fi
  sleep 1
done
[ "$up" -eq 1 ] || die "the node did not become idle within 60 s: $(sinfo -h -o '%t %E' 2>&1)"
echo "ok: one-node Slurm up ($node, slurmctld :$ctld_port, slurmd :$slurmd_port)"

# Waits until job $1 (and, for an array, every task) has left the running states; prints its
# final state(s). Fails after $2 seconds.
wait_job() {
  local id=$1 limit=$2 t=0 states
  while :; do
    states=$(scontrol -o show job "$id" 2>/dev/null | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p' | sort -u | tr '\n' ' ')
    case "$states" in
      *PENDING* | *RUNNING* | *COMPLETING* | *REQUEUE* | *CONFIGURING* | *SUSPENDED* | "") ;;
      *) echo "$states"; return 0 ;;
    esac
    [ "$t" -ge "$limit" ] && { echo "TIMEOUT($states)"; return 1; }
    sleep 2
    t=$((t + 2))
  done
}
job_field() { scontrol -o show job "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1; }

export HYPERREP="$bin" HYPERREP_ROOT="$src"
small=(--nodes=1 --ntasks=2 --ntasks-per-node=2 --cpus-per-task=1 --gpus-per-task=0 --output="$tmp/logs/%x_%j.out")

# ---- zoo.sbatch: 2 ranks, the zoo of one process ------------------------------------------
zoo_sets=(--set "zoo.path=$tmp/zoo" --set zoo.num_seeds=40 --set run.device=cpu)
id=$(sbatch --parsable "${small[@]}" --time=5 "$src/cluster/zoo.sbatch" configs/quickstart.toml "${zoo_sets[@]}") ||
  die "sbatch zoo.sbatch refused"
state=$(wait_job "$id" 180)
check "zoo job $id completed ($state)" '[ "$state" = "COMPLETED " ]'
"$bin" zoo generate --config "$src/configs/quickstart.toml" --set "zoo.path=$tmp/zoo_ref" --set zoo.num_seeds=40 \
  --set run.device=cpu >/dev/null 2>&1
h1=$("$bin" zoo info "$tmp/zoo" 2>/dev/null | sed -n 's/^content hash *//p')
h2=$("$bin" zoo info "$tmp/zoo_ref" 2>/dev/null | sed -n 's/^content hash *//p')
check "the 2-rank zoo of the Slurm job equals the single process's (content hash $h1)" '[ -n "$h1" ] && [ "$h1" = "$h2" ]'
check "the zoo job ran as 2 ranks of one MPI world" 'grep -q "over 2 rank(s)" "$tmp/logs/hyperrep-zoo_$id.out"'

# ---- train.sbatch: time limit, USR1, checkpoint, requeue, resume -----------------------------
train_sets=(--set "data.zoo=$tmp/zoo" --set run.device=cpu --set train.epochs=TRAIN_EPOCHS --set checkpoint.every_epochs=1000
  --set probe.every_epochs=0 --set probe.targets=test_acc)
# The time-limited run must still be training when its signal comes (Slurm looks at time limits
# every 30 s and may warn up to that much early: 30 to 60 s into a two-minute allocation; with
# --time=1 and @40 it came 2 s after the start, into the step's start-up), on a fast machine as
# on a loaded one: so its length is set from the speed measured here, by two short runs as job
# steps (srun) whose difference leaves out the start-up (once the epochs got faster, start-up
# counted as epochs made the estimate 5x too slow and the run ended before its signal), to
# about 90 s of training, and never fewer than 300 epochs.
calibrate() {  # elapsed = seconds for a 2-rank run of $1 epochs, start-up included
  local t0 out=$tmp/logs/calibration_$1.out
  t0=$(date +%s.%N)
  srun --ntasks=2 --cpus-per-task=1 --time=5 "$bin" train --config "$src/configs/quickstart.toml" \
    "${train_sets[@]/TRAIN_EPOCHS/$1}" --set "run.dir=$tmp/run_calibration_$1" >"$out" 2>&1 ||
    die "a 2-rank training step under srun failed: $(tail -n 5 "$out")"
  elapsed=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.3f", b - a }')
}
calibrate 10
short=$elapsed
calibrate 40
long=$elapsed
per_epoch=$(awk -v a="$short" -v b="$long" 'BEGIN { p = (b - a) / 30; printf "%.3f", (p < 0.01 ? 0.01 : p) }')
epochs=${SLURM_TEST_EPOCHS:-$(awk -v p="$per_epoch" 'BEGIN { e = int(90 / p); print (e < 300 ? 300 : e > 4000 ? 4000 : e) }')}
echo "ok: srun runs 2 ranks ($per_epoch s per epoch): the time-limited run trains $epochs epochs"
train_sets=("${train_sets[@]/TRAIN_EPOCHS/$epochs}")
# The reference: the same run in one allocation with room to spare.
ref=$(sbatch --parsable "${small[@]}" --time=30 --job-name=hyperrep-ref "$src/cluster/train.sbatch" configs/quickstart.toml \
  "${train_sets[@]}" --set "run.dir=$tmp/run_ref") || die "sbatch train.sbatch (reference) refused"
state=$(wait_job "$ref" 500)
last=$(printf 'epoch_%04d' "$epochs")
check "uninterrupted training job $ref completed ($state)" '[ "$state" = "COMPLETED " ] && [ -f "$tmp/run_ref/checkpoints/$last/DONE" ]'
check "uninterrupted job was not requeued" '[ "$(job_field "$ref" Restarts)" = 0 ]'

id=$(sbatch --parsable "${small[@]}" --time=2 --signal=B:USR1@60 "$src/cluster/train.sbatch" configs/quickstart.toml \
  "${train_sets[@]}" --set "run.dir=$tmp/run") || die "sbatch train.sbatch refused"
state=$(wait_job "$id" 900)
log=$tmp/logs/hyperrep-train_$id.out
restarts=$(job_field "$id" Restarts)
check "time-limited training job $id completed after $restarts requeue(s) ($state)" \
  '[ "$state" = "COMPLETED " ] && [ "${restarts:-0}" -ge 1 ] && [ -f "$tmp/run/checkpoints/$last/DONE" ]'
check "USR1 reached the job before its time limit" 'grep -q "USR1: time limit ahead" "$log"'
check "the trainer saved at the signal and the job requeued itself" 'grep -q "requeueing job $id" "$log"'
check "the restart resumed from the saved checkpoint" 'grep -q "restart 1," "$log" && grep -q "resuming from the newest complete checkpoint" "$log"'
check "no allocation ran into its time limit" '! grep -q "DUE TO TIME LIMIT" "$log"'
diff_out=$("$bin" checkpoint diff "$tmp/run_ref/checkpoints/$last" "$tmp/run/checkpoints/$last" 2>&1)
check "the requeued run ends with the uninterrupted run's parameters, bit for bit ($(echo "$diff_out" | grep max_abs_diff))" \
  'echo "$diff_out" | grep -qx "max_abs_diff: 0"'

# ---- sweep.sbatch: a job array ----------------------------------------------------------------
tiny_config "" "" > base.toml
cat > sweep.toml <<TOML
[sweep]
base = "base.toml"
axes = ["train.seed=0,1", "model.latent=4,6"]
out = "$tmp/sweep"
TOML
"$bin" sweep run --config sweep.toml --slurm >sweep_submit.log 2>&1
check "sweep run --slurm wrote a job-array script" '[ -x "$tmp/sweep/sweep.sbatch" ]' || cat sweep_submit.log
array=$(sbatch --parsable --cpus-per-task=1 --time=10 "$tmp/sweep/sweep.sbatch") || die "sbatch sweep.sbatch refused"
states=$(wait_job "$array" 240)
check "every task of job array $array completed ($states)" '[ "$states" = "COMPLETED " ]'
check "4 array tasks ran" '[ "$(scontrol -o show job "$array" | grep -c "ArrayTaskId=[0-9]* ")" = 4 ]'
out=$("$bin" sweep status --config sweep.toml 2>&1)
check "sweep status: 4 done" 'grep -q "4 runs: 4 done, 0 failed, 0 pending" <<<"$out"' || echo "$out"
"$bin" sweep collect --config sweep.toml >collect.log 2>&1
check "sweep collect tables all 4 runs" '[ "$(cut -d, -f1,2 "$tmp/sweep/results.csv" | tail -n +2 | sort -u | wc -l)" -eq 4 ]'

[ "$fail" -eq 0 ] || show_logs
exit "$fail"
