#!/bin/bash
# A reproduction of the DPS / CA-DPS tables as a Slurm job array, followed
# by a merge job. Run it on a login node; it submits itself:
#
#   docs/slurm-reproduce.sh [extra cadps reproduce flags]
#
# submits an array of SHARDS tasks (each runs `cadps reproduce` on its shard
# of the items, all writing into OUT on the shared file system) and a merge
# job that runs once every task has ended and fails if any item is missing.
# Everything is set through the environment (defaults below: the 1000-image
# FFHQ reproduction on GPUs, 100 shards); flags after the script's name go
# to every `cadps reproduce` as they are. A CPU cluster, for example, with
# the small prior shipped in the binary:
#
#   GPUS=0 CPUS=2 MEM=4G SHARDS=3 MODEL=small WEIGHTS= STEPS=50 \
#     IMAGES=cadps/prior/small/testimages OUT=$PWD/runs/small \
#     TASKS='inpaint_box:size=12 super_resolution:factor=2' \
#     docs/slurm-reproduce.sh -limit 4
#
# Resubmitting: the shard count is recorded in OUT at the first submission
# (and given to every task as -shard-count), so a task is the same shard
# whatever array it runs in; a SHARDS other than the recorded count is
# refused before anything is submitted. When tasks failed or were
# cancelled, submit again with the same settings and ARRAY set to their
# indices, in any order:
#
#   ARRAY=1,7 docs/slurm-reproduce.sh [the same extra flags]
#
# They finish exactly the items that are missing: finished items are
# skipped, and an item that a live task still holds is left to it (claims,
# docs/cli.md). A task killed at any moment leaves only whole files. OUT
# must be on a file system every node shares: a task on a node where the
# folder made at submission does not exist waits up to OUT_WAIT seconds
# for it (a shared file system mounted late), then fails, naming OUT and
# the node.
#
# ARRAY is sbatch's --array spec (1,7; 0-7; 0-15:2 for every second one;
# 0-15%4 for at most 4 tasks at once; [1,7] as squeue shows pending
# indices); one that runs an index beyond SHARDS-1, or a SHARDS that is
# not a whole number above 0, is refused before anything is submitted.
set -euo pipefail

IMAGES=${IMAGES:-$HOME/data/ffhq-val-1k}           # a folder of PNG/JPEG images
OUT=${OUT:-$PWD/runs/ffhq1k}                       # on a file system every node shares
CADPS=${CADPS:-cadps}                              # GPU: go build -tags xla ./scripts/cadps
MODEL=${MODEL-ffhq256}                             # a preset, or small
WEIGHTS=${WEIGHTS-$HOME/models/ffhq_10m.pt}        # empty: the model's own (small: shipped)
MODEL_CONFIG=${MODEL_CONFIG:-}                     # instead of MODEL: -model-config FILE
# The task specs, separated by spaces or newlines (docs/reproduce-paper.md).
TASKS=${TASKS:-super_resolution:factor=4 inpaint_box:size=128 inpaint_random:fraction=0.92 gaussian_blur:kernel_size=61,sigma=3.0 motion_blur:kernel_size=61,intensity=0.5}
METHODS=${METHODS:-dps,cadps}
STEPS=${STEPS:-1000}
NOISE=${NOISE:-gaussian:sigma=0.05}
SEED=${SEED:-0}
GRID_ROWS=${GRID_ROWS:-8}
SHARDS=${SHARDS:-100}                              # the array's size at the first submission
# A whole number above 0, read in decimal (08 is 8), refused before anything
# is submitted rather than by every task once it runs.
if ! [[ $SHARDS =~ ^0*[1-9][0-9]{0,8}$ ]]; then
    echo "slurm-reproduce: SHARDS=$SHARDS is not a whole number from 1 to 999999999 (the number of shards, one array task each)" >&2
    exit 1
fi
SHARDS=$((10#$SHARDS))
ARRAY=${ARRAY:-0-$((SHARDS - 1))}                  # the indices to run now
# Resources of one array task. GPUS=0 for a CPU cluster (no --gres).
GPUS=${GPUS:-1}
CPUS=${CPUS:-8}
MEM=${MEM:-32G}
TIME=${TIME:-24:00:00}
PARTITION=${PARTITION:-}
LOGS=${LOGS:-$PWD/logs}
OUT_WAIT=${OUT_WAIT:-120}                          # seconds a task waits for OUT to appear
case "$OUT_WAIT" in
    *[!0-9]*) echo "slurm-reproduce: OUT_WAIT=$OUT_WAIT is not a whole number of seconds" >&2; exit 1 ;;
esac
# The backend, exported as GOMLX_BACKEND only when BACKEND is not empty. With
# GPUs the default is the submitting shell's GOMLX_BACKEND, as docs/cuda.md's
# step 3 sets it (sbatch passes the shell's environment to the jobs, its
# LD_LIBRARY_PATH and XLA_FLAGS included), else the XLA plugin at
# $HOME/pjrt (JAX's CUDA wheel ships one as
# jax_plugins/xla_cuda*/xla_cuda_plugin.so); with GPUS=0, or BACKEND= given
# empty, the pure-Go CPU backend runs.
[ "$GPUS" != 0 ] && BACKEND=${BACKEND-${GOMLX_BACKEND:-xla:$HOME/pjrt/xla_cuda_plugin.so}}
BACKEND=${BACKEND:-}

# task_specs prints the task specs of TASKS, one per line: one spec per
# line when TASKS holds several non-empty lines (a spec may then contain
# spaces, as a file path can), else the specs of its one line, separated
# by spaces or ';'. No spec is expanded as a file pattern. The three
# reproduce scripts each stand alone (sbatch runs a copy of its script)
# and hold this function alike; a test checks that they split alike.
task_specs() {
    local line spec lines=()
    while IFS= read -r line || [ -n "$line" ]; do
        line=${line#"${line%%[![:space:]]*}"}
        line=${line%"${line##*[![:space:]]}"}
        if [ -n "$line" ]; then lines+=("$line"); fi
    done <<<"$TASKS"
    if [ "${#lines[@]}" -gt 1 ]; then
        printf '%s\n' "${lines[@]}"
        return
    fi
    local IFS=$' \t;'
    set -f
    for spec in ${lines[0]-}; do printf '%s\n' "$spec"; done
    set +f
}

reproduce() {
    local model=() tasks=()
    [ -n "$MODEL_CONFIG" ] && model+=(-model-config "$MODEL_CONFIG") || model+=(-model "$MODEL")
    [ -n "$WEIGHTS" ] && model+=(-weights "$WEIGHTS")
    while IFS= read -r t; do tasks+=(-task "$t"); done < <(task_specs)
    [ -n "$BACKEND" ] && export GOMLX_BACKEND="$BACKEND"
    # OUT was made as the array was submitted: a node that does not see it
    # has its own file system there, and its items would be lost to the
    # merge. A shared file system may be mounted a little after the task
    # starts: wait OUT_WAIT seconds for it first.
    local waited=0
    while [ ! -d "$OUT" ]; do
        if [ "$waited" -ge "$OUT_WAIT" ]; then
            echo "slurm-reproduce: OUT=$OUT, made when the array was submitted, does not exist on $(hostname) after $OUT_WAIT s: put OUT on a file system every node shares, mounted when a task starts" >&2
            exit 1
        fi
        sleep 1
        waited=$((waited + 1))
    done
    echo "array task $SLURM_ARRAY_TASK_ID (shard of $SHARDS) on $(hostname)"
    exec "$CADPS" reproduce "$IMAGES" "${tasks[@]}" -methods "$METHODS" "${model[@]}" \
        -steps "$STEPS" -noise "$NOISE" -seed "$SEED" -grid-rows "$GRID_ROWS" \
        -shard-count "$SHARDS" "$@" -out "$OUT"
}

if [ -n "${SLURM_ARRAY_TASK_ID:-}" ]; then
    reproduce "$@"
elif [ "${CADPS_SLURM_MERGE:-}" = 1 ]; then
    exec "$CADPS" merge -grid-rows "$GRID_ROWS" "$OUT"
fi

# On the login node: submit the array, then the merge. A folder started
# with another shard count would refuse every task once it runs: refuse
# now, before the array waits in the queue.
recorded=$(sed -n 's/.*"count": *\([0-9][0-9]*\).*/\1/p' "$OUT/shards.json" 2>/dev/null || true)
if [ -n "$recorded" ] && [ "$recorded" != "$SHARDS" ]; then
    echo "slurm-reproduce: OUT=$OUT was started with $recorded shards ($OUT/shards.json), not SHARDS=$SHARDS: give SHARDS=$recorded (with ARRAY the indices to run), or remove shards.json to deal the items anew" >&2
    exit 1
fi
# array_max prints the largest index of ARRAY, an sbatch --array spec in
# the forms sbatch documents: indices and ranges separated by commas
# (1,3,5 or 0-7,12), a range with a step (0-15:2 is 0,2,…,14), all with a
# limit of tasks running at once (0-15%4); brackets, as squeue shows a
# pending array's indices ([1,7]), are read as sbatch reads them. It fails
# on anything else.
array_max() {
    local spec=$ARRAY tok lo hi step max=-1 toks
    local n='0*[0-9]{1,18}'
    local re="^\[?($n)(-($n)(:($n))?)?\]?\$"
    if [[ $spec == *%* ]]; then
        [[ ${spec##*%} =~ ^[0-9]+$ ]] || return 1
        spec=${spec%\%*}
    fi
    IFS=, read -ra toks <<<"$spec"
    for tok in "${toks[@]}"; do
        [ -n "$tok" ] || continue
        [[ $tok =~ $re ]] || return 1
        lo=$((10#${BASH_REMATCH[1]}))
        hi=$((10#${BASH_REMATCH[3]:-$lo}))
        step=$((10#${BASH_REMATCH[5]:-1}))
        [ "$hi" -ge "$lo" ] && [ "$step" -gt 0 ] || return 1
        hi=$((lo + (hi - lo) / step * step))
        [ "$hi" -le "$max" ] || max=$hi
    done
    [ "$max" -ge 0 ] || return 1
    echo "$max"
}
if ! last=$(array_max); then
    echo "slurm-reproduce: ARRAY=$ARRAY is not an --array spec of the forms sbatch documents (1,3,5; 0-7; 0-15:2; 0-15%4)" >&2
    exit 1
fi
if [ "$last" -ge "$SHARDS" ]; then
    echo "slurm-reproduce: ARRAY=$ARRAY runs array task $last, which is not a shard of SHARDS=$SHARDS: the array's indices are the shard indices 0…$((SHARDS - 1))" >&2
    exit 1
fi
mkdir -p "$LOGS" "$OUT"
opts=(--cpus-per-task="$CPUS" --mem="$MEM" --time="$TIME" --export=ALL)
[ "$GPUS" != 0 ] && opts+=(--gres="gpu:$GPUS")
[ -n "$PARTITION" ] && opts+=(--partition="$PARTITION")
export IMAGES OUT CADPS MODEL WEIGHTS MODEL_CONFIG TASKS METHODS STEPS NOISE SEED GRID_ROWS SHARDS BACKEND OUT_WAIT
# A task requeued after preemption writes on after its first attempt's
# lines (--open-mode=append) rather than over them.
array=$(sbatch --parsable --job-name=cadps-reproduce --array="$ARRAY" --requeue \
    --open-mode=append --output="$LOGS/reproduce-%A_%a.out" "${opts[@]}" "$0" "$@")
merge=$(CADPS_SLURM_MERGE=1 sbatch --parsable --job-name=cadps-merge --dependency=afterany:"${array%%;*}" \
    --cpus-per-task=1 --mem=2G --time=1:00:00 --export=ALL ${PARTITION:+--partition="$PARTITION"} \
    --output="$LOGS/merge-%j.out" "$0")
echo "array job ${array%%;*} (tasks $ARRAY of $SHARDS), merge job ${merge%%;*}; outputs in $OUT, logs in $LOGS"
