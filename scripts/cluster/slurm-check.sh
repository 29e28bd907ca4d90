#!/bin/bash
# Runs the documented Slurm workflow (docs/slurm-reproduce.sh) on a real
# single-node Slurm started here, with the small prior at toy size, and
# checks its result:
#
#   1. installs Debian's slurm-wlm and munge if they are missing (apt-get;
#      run as root);
#   2. starts its own munged, slurmctld and slurmd (a minimal configuration
#      in a temporary folder, their own ports and socket; nothing in /etc is
#      changed) and stops exactly those daemons when it ends;
#   3. submits 4 images × 2 tasks × 2 methods at 4 steps as a 3-task array,
#      cancels task 1 while it runs, checks that the merge job fails naming
#      the missing items, resubmits task 1 as the script's header says
#      (ARRAY=1), and checks that the new merge passes with every item
#      present exactly once and equal to an unsharded run.
#
# Usage: scripts/cluster/slurm-check.sh   (about a minute on 2 cores; the
# temporary folder is removed unless KEEP=1)
set -euo pipefail
cd "$(dirname "$0")/../.."
REPO=$PWD

[ "$(id -u)" = 0 ] || { echo "slurm-check: run as root (it starts slurmd)" >&2; exit 1; }
if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null
fi

WORK=$(mktemp -d /tmp/cadps-slurm.XXXXXX)
chmod 755 "$WORK"
started=()
cleanup() {
    local rc=$?
    for pidfile in "${started[@]}"; do
        [ -s "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null || true
    done
    sleep 1
    if [ "$rc" != 0 ]; then
        echo "slurm-check: FAILED; logs:" >&2
        tail -n 20 "$WORK"/logs/* "$WORK"/*.log 2>/dev/null >&2 || true
    fi
    [ "${KEEP:-}" = 1 ] && echo "kept $WORK" || rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
fail() { echo "slurm-check: $*" >&2; exit 1; }

# munge, with its own key and socket.
mkdir -p "$WORK/munge"
dd if=/dev/urandom of="$WORK/munge/munge.key" bs=1024 count=1 2>/dev/null
chmod 400 "$WORK/munge/munge.key"
munged --force --socket="$WORK/munge/sock" --key-file="$WORK/munge/munge.key" \
    --pid-file="$WORK/munge/munged.pid" --log-file="$WORK/munged.log" --seed-file="$WORK/munge/seed"
started+=("$WORK/munge/munged.pid")

# Slurm: one node with every CPU, its own ports.
node=$(hostname -s)
cpus=$(nproc)
mem=$(awk '/MemTotal/ {print int($2 / 1024 * 0.8)}' /proc/meminfo)
mkdir -p "$WORK/state" "$WORK/spool" "$WORK/logs"
cat > "$WORK/slurm.conf" <<CONF
ClusterName=cadpscheck
SlurmctldHost=$node
SlurmctldPort=16817
SlurmdPort=16818
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$WORK/munge/sock
CredType=cred/munge
StateSaveLocation=$WORK/state
SlurmdSpoolDir=$WORK/spool
SlurmctldPidFile=$WORK/slurmctld.pid
SlurmdPidFile=$WORK/slurmd.pid
SlurmctldLogFile=$WORK/slurmctld.log
SlurmdLogFile=$WORK/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
KillWait=10
MinJobAge=600
NodeName=$node CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=check Nodes=$node Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF=$WORK/slurm.conf
slurmctld -f "$SLURM_CONF"
started+=("$WORK/slurmctld.pid")
slurmd -f "$SLURM_CONF"
started+=("$WORK/slurmd.pid")
for _ in $(seq 60); do
    sinfo -h -o %T 2>/dev/null | grep -Eq '^idle' && break
    sleep 1
done
sinfo -h -o %T | grep -Eq '^idle' || fail "the node did not come up: $(sinfo 2>&1)"

# The documented workflow, at toy size, with 1 CPU per array task.
go build -o "$WORK/cadps" ./scripts/cadps
export CADPS=$WORK/cadps IMAGES=$REPO/cadps/prior/small/testimages OUT=$WORK/run LOGS=$WORK/logs
export GPUS=0 CPUS=1 MEM=1G TIME=10:00 SHARDS=3 MODEL=small WEIGHTS='' STEPS=4 SEED=1 GRID_ROWS=4
export TASKS='inpaint_box:size=12 super_resolution:factor=2' METHODS=dps,cadps
unset ARRAY BACKEND
EXTRA=(-limit 4)
items=16

wait_jobs() { # job ids: until none is pending or running
    for _ in $(seq 600); do
        [ -z "$(squeue -h -j "$(IFS=,; echo "$*")" 2>/dev/null)" ] && return 0
        sleep 0.5
    done
    fail "jobs $* did not end in 5 minutes"
}
job_state() { scontrol show job "$1" | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p' | head -1; }

out=$(docs/slurm-reproduce.sh "${EXTRA[@]}")
echo "$out"
array=$(echo "$out" | sed -n 's/^array job \([0-9]*\).*/\1/p')
merge=$(echo "$out" | sed -n 's/.*merge job \([0-9]*\).*/\1/p')
[ -n "$array" ] && [ -n "$merge" ] || fail "could not read the job ids"

# Cancel task 1 once it has finished an item and is working on the next.
for _ in $(seq 600); do
    n=$(grep -c 'PSNR' "$LOGS/reproduce-${array}_1.out" 2>/dev/null || true)
    [ "${n:-0}" -ge 1 ] && break
    sleep 0.2
done
[ "${n:-0}" -ge 1 ] || fail "array task 1 never finished an item"
scancel "${array}_1"
wait_jobs "$array" "$merge"
[ "$(job_state "$merge")" = FAILED ] || fail "the merge after a cancelled task ended $(job_state "$merge"), want FAILED"
grep -q 'items have no record' "$LOGS/merge-$merge.out" || fail "the merge log does not name the missing items: $(cat "$LOGS/merge-$merge.out")"
echo "cancelled task 1; merge failed as it should: $(grep -o '[0-9]* of [0-9]* items have no record' "$LOGS/merge-$merge.out")"

# Resubmit as documented.
out=$(ARRAY=1 docs/slurm-reproduce.sh "${EXTRA[@]}")
echo "$out"
array2=$(echo "$out" | sed -n 's/^array job \([0-9]*\).*/\1/p')
merge2=$(echo "$out" | sed -n 's/.*merge job \([0-9]*\).*/\1/p')
wait_jobs "$array2" "$merge2"
grep -q 'shard 1/3' "$LOGS/reproduce-${array2}_1.out" || fail "the resubmitted task was not shard 1/3: $(cat "$LOGS/reproduce-${array2}_1.out")"
[ "$(job_state "$merge2")" = COMPLETED ] || fail "the merge after the resubmission ended $(job_state "$merge2"): $(cat "$LOGS/merge-$merge2.out")"

# Every item exactly once, and equal to an unsharded run (all columns but
# the seconds).
[ "$(tail -n +2 "$OUT/metrics.csv" | cut -d, -f1-3 | sort | uniq | wc -l)" = $items ] || fail "metrics.csv does not hold $items distinct items"
[ "$(tail -n +2 "$OUT/metrics.csv" | wc -l)" = $items ] || fail "metrics.csv holds an item twice"
[ -z "$(find "$OUT" -path '*/claim/*' -type f)" ] || fail "claims left: $(find "$OUT" -path '*/claim/*' -type f)"
tasks=()
for t in $TASKS; do tasks+=(-task "$t"); done
"$CADPS" reproduce "$IMAGES" "${tasks[@]}" -methods "$METHODS" -model small -steps "$STEPS" -seed "$SEED" \
    -grid-rows "$GRID_ROWS" -shard 0/1 -quiet "${EXTRA[@]}" -out "$WORK/whole"
strip() { cut -d, -f1-7,9- "$1"; }
diff <(strip "$OUT/metrics.csv") <(strip "$WORK/whole/metrics.csv") || fail "the sharded run differs from the unsharded one"
cmp "$OUT/summary.md" "$WORK/whole/summary.md" || fail "the tables differ"
echo "slurm-check: ok: $items items from a 3-task array with task 1 cancelled and resubmitted equal an unsharded run"
