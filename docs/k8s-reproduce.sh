#!/bin/bash
# Runs a reproduction on Kubernetes (1.29 or later): an Indexed Job of
# SHARDS pods (each runs `cadps reproduce` on its shard, all writing to the
# ReadWriteMany volume of docs/k8s-pvc.yaml; a failed pod is retried
# RETRIES times per index, a preempted or evicted one without using up a
# retry), then, once it has ended — completed or failed — a merge Job,
# which fails naming the missing items if any index failed for good.
#
#   kubectl apply -f docs/k8s-pvc.yaml          # once
#   docs/k8s-reproduce.sh [extra cadps reproduce flags]
#
# Everything is set through the environment (defaults below: the
# 1000-image FFHQ reproduction on GPUs); flags after the script's name go
# to every pod's `cadps reproduce` as they are. The image must hold the
# cadps binary (built with -tags xla for GPUs, with a CUDA PJRT plugin).
# A CPU cluster with the small prior shipped in the binary:
#
#   GPUS=0 CPUS=2 MEM=4Gi SHARDS=3 MODEL=small WEIGHTS= STEPS=50 \
#     IMAGES=/data/testimages OUT=/data/runs/small \
#     TASKS='inpaint_box:size=12 super_resolution:factor=2' docs/k8s-reproduce.sh -limit 4
#
# Running it again with the same settings finishes what is missing (the
# finished Jobs are deleted first; finished items are skipped). While the
# Jobs of an earlier run are still running, or suspended, it refuses,
# changing nothing: wait for them, or delete them. OUT must be under /data, where every pod
# mounts the volume: a folder elsewhere would be each pod's own disk, lost
# with it, so the script refuses one, as it refuses an OUT holding a quote
# or a backslash (which the merge manifest cannot carry). While it waits for
# a Job, and as it then applies the merge Job and reads its log, a kubectl
# call that fails (the API server out of reach for a moment) is tried again
# POLL seconds later; after 10 failures in a row the script gives up,
# saying so, while the Job goes on: once it has ended, run the script again
# as above, which then merges (or, for the merge Job, read the log of its
# newest pod: kubectl get pods -l batch.kubernetes.io/job-name=$NAME-merge).
# SHARDS, PARALLELISM, RETRIES, GPUS, GRID_ROWS,
# TIMEOUT and POLL must be whole numbers up to 999999999 (SHARDS and
# PARALLELISM at least 1), else the script stops before it applies
# anything. DRY_RUN=1 prints the manifests instead of applying them (0 or
# empty applies them; any other value is refused).
set -euo pipefail

NAME=${NAME:-cadps-reproduce}
IMAGE=${IMAGE:-registry.example.com/cadps:latest}
PVC=${PVC:-cadps-data}                              # mounted at /data
IMAGES=${IMAGES:-/data/ffhq-val-1k}
OUT=${OUT:-/data/runs/ffhq1k}
MODEL=${MODEL-ffhq256}
WEIGHTS=${WEIGHTS-/data/models/ffhq_10m.pt}
# The task specs, separated by spaces or newlines (docs/reproduce-paper.md).
TASKS=${TASKS:-super_resolution:factor=4 inpaint_box:size=128 inpaint_random:fraction=0.92 gaussian_blur:kernel_size=61,sigma=3.0 motion_blur:kernel_size=61,intensity=0.5}
METHODS=${METHODS:-dps,cadps}
STEPS=${STEPS:-1000}
NOISE=${NOISE:-gaussian:sigma=0.05}
SEED=${SEED:-0}
GRID_ROWS=${GRID_ROWS:-8}
SHARDS=${SHARDS:-100}
PARALLELISM=${PARALLELISM:-10}
RETRIES=${RETRIES:-3}                               # per index
GPUS=${GPUS:-1}                                     # 0: a CPU cluster
CPUS=${CPUS:-8}
MEM=${MEM:-32Gi}
TIMEOUT=${TIMEOUT:-172800}                          # seconds to wait for the Job
POLL=${POLL:-20}                                    # seconds between looks at it
# whole NAME LEAST WHAT: refuses NAME's value unless it is a whole number
# from LEAST to 999999999, before anything is applied; normalises it to
# decimal (08 is 8), as the manifests take it.
whole() {
    local v=${!1}
    if ! [[ $v =~ ^[0-9]{1,9}$ ]] || [ "$((10#$v))" -lt "$2" ]; then
        echo "k8s-reproduce: $1=$v is not a whole number from $2 to 999999999 ($3)" >&2
        exit 1
    fi
    printf -v "$1" '%d' "$((10#$v))"
}
whole SHARDS 1 "the number of shards, one index of the Job each"
whole PARALLELISM 1 "the pods that run at once"
whole RETRIES 0 "the retries of an index"
whole GPUS 0 "the GPUs of a pod"
whole GRID_ROWS 0 "the rows of each comparison grid"
whole TIMEOUT 0 "seconds to wait for the Job"
whole POLL 0 "seconds between looks at the Job"
# A DRY_RUN the script does not take (yes, true) must not run for real.
case "${DRY_RUN:-}" in
    ''|0|1) ;;
    *) echo "k8s-reproduce: DRY_RUN=$DRY_RUN is not 1 (print the manifests) nor 0 or empty (apply them)" >&2; exit 1 ;;
esac
# GOMLX_BACKEND, set only when BACKEND is not empty: by default the image's
# CUDA plugin with GPUs, the pure-Go backend without (BACKEND= forces it).
[ "$GPUS" != 0 ] && BACKEND=${BACKEND-xla:/opt/pjrt/xla_cuda_plugin.so}
BACKEND=${BACKEND:-}

# The pods see the volume at /data only; a path through ".." is refused
# rather than resolved.
on_volume=
case "$OUT" in
    */..|*/../*) ;;
    /data|/data/*) on_volume=1 ;;
esac
if [ -z "$on_volume" ]; then
    echo "k8s-reproduce: OUT=$OUT is not a folder under /data, where every pod mounts the volume $PVC: elsewhere each pod would write to its own disk, lost when it ends" >&2
    exit 1
fi
# The merge Job's manifest quotes OUT as a YAML string, which a quote or a
# backslash would end or change.
case "$OUT" in
    *\"*|*\\*)
        echo "k8s-reproduce: OUT=$OUT holds a quote or a backslash, which the merge Job's manifest cannot carry: choose a folder name without them" >&2
        exit 1
        ;;
esac

q() { # a JSON string
    local s=${1//\\/\\\\}
    printf '"%s"' "${s//\"/\\\"}"
}
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
args=("$(q "$IMAGES")")
while IFS= read -r t; do args+=("$(q "-task=$t")"); done < <(task_specs)
args+=("$(q "-methods=$METHODS")")
[ -n "$MODEL" ] && args+=("$(q "-model=$MODEL")")
[ -n "$WEIGHTS" ] && args+=("$(q "-weights=$WEIGHTS")")
for a in "-steps=$STEPS" "-noise=$NOISE" "-seed=$SEED" "-grid-rows=$GRID_ROWS" "-shard-count=$SHARDS"; do
    args+=("$(q "$a")")
done
for a in "$@"; do args+=("$(q "$a")"); done
args+=("$(q "-out=$OUT")")
ARGS="[$(IFS=,; echo "${args[*]}")]"
ENV='[{"name": "CADPS_SHARD_COUNT", "value": "'$SHARDS'"}'
[ -n "$BACKEND" ] && ENV+=', {"name": "GOMLX_BACKEND", "value": '$(q "$BACKEND")'}'
ENV+=']'
gpu=
[ "$GPUS" != 0 ] && gpu=', "nvidia.com/gpu": '$GPUS
# shellcheck disable=SC2089 # JSON text for envsubst, never split into words
RESOURCES='{"requests": {"cpu": "'$CPUS'", "memory": "'$MEM'"}, "limits": {"memory": "'$MEM'"'$gpu'}}'
# shellcheck disable=SC2090 # as above
export NAME IMAGE PVC OUT SHARDS PARALLELISM RETRIES GRID_ROWS ARGS ENV RESOURCES
manifests=$(envsubst '$NAME $IMAGE $PVC $OUT $SHARDS $PARALLELISM $RETRIES $GRID_ROWS $ARGS $ENV $RESOURCES' \
    < "$(dirname "$0")/k8s-reproduce.yaml")
reproduce=${manifests%%---*}
merge=${manifests#*---}
if [ "${DRY_RUN:-}" = 1 ]; then
    printf '%s\n---\n%s\n' "$reproduce" "$merge"
    exit 0
fi

# job_state NAME prints the conditions that hold of the Job NAME after
# its name ("NAME: Complete ", "NAME: " while it runs), or nothing when
# there is no such Job.
job_state() {
    kubectl get job "$1" --ignore-not-found \
        -o jsonpath='{.metadata.name}: {range .status.conditions[?(@.status=="True")]}{.type} {end}'
}
# An earlier run's Jobs are deleted only once they have ended: deleting a
# running Job would stop its pods midway through their items, and a
# suspended one (queued, as by Kueue, or paused) is the earlier run
# waiting to go on.
for job in "$NAME" "$NAME-merge"; do
    state=$(job_state "$job")
    case "$state" in
        ''|*Complete*|*Failed*) continue ;;
        *Suspended*) how="is suspended (queued, or paused with spec.suspend)" ;;
        *FailureTarget*|*SuccessCriteriaMet*) how="is ending, its pods still stopping" ;;
        *) how="is still running" ;;
    esac
    echo "k8s-reproduce: Job $job of an earlier run $how; wait until it ends (kubectl get job $job) or delete it (kubectl delete job $job), then run this again" >&2
    exit 1
done
kubectl delete job "$NAME" "$NAME-merge" --ignore-not-found
echo "$reproduce" | kubectl apply -f -
# retried WHAT THEN CMD...: runs CMD (a kubectl call) and prints its output
# once it succeeds. A failure (the API server out of reach for a moment) is
# tried again POLL seconds later; after 10 failures in a row it gives up,
# saying that kubectl failed WHAT, and THEN, what to do.
retried() {
    local what=$1 then=$2 failed=0 out
    shift 2
    until out=$("$@"); do
        failed=$((failed + 1))
        if [ "$failed" -ge 10 ]; then
            echo "k8s-reproduce: kubectl failed $failed times in a row $what; $then" >&2
            return 1
        fi
        echo "k8s-reproduce: kubectl failed $what ($failed in a row); trying again in $POLL s" >&2
        sleep "$POLL"
    done
    [ -z "$out" ] || printf '%s\n' "$out"
}
# wait_job NAME THEN: until the Job has completed or failed (an index that
# fails for good ends the Job as Failed once its retries are spent), or
# TIMEOUT, printing its state. A failed look at the Job is tried again
# (retried); when kubectl keeps failing it gives up, saying that the Job
# goes on and THEN, what to do once it has ended. A Job that kubectl finds
# gone is not waited for.
wait_job() {
    local deadline=$(( $(date +%s) + TIMEOUT )) state
    while :; do
        state=$(retried "asking for Job $1" "the Job goes on without this script: once it has ended (kubectl get job $1), $2" job_state "$1") || return 1
        [ -n "$state" ] || { echo "k8s-reproduce: Job $1 is gone (deleted while it ran?)" >&2; return 1; }
        case "$state" in *Complete*|*Failed*) echo "$state"; return 0 ;; esac
        [ "$(date +%s)" -lt "$deadline" ] || { echo "k8s-reproduce: $1 still running after $TIMEOUT s" >&2; return 1; }
        sleep "$POLL"
    done
}
# apply_manifest TEXT: applies the manifest TEXT (for retried, which may
# run it more than once).
apply_manifest() { kubectl apply -f - <<<"$1"; }
# merge_log prints the log of the merge Job's newest pod, the one that
# ended it: a pod that a disruption stopped stays beside its replacement
# (evicted by its node, say), and kubectl logs job/NAME shows the older.
merge_log() {
    local pods
    pods=$(kubectl get pods -l "batch.kubernetes.io/job-name=$NAME-merge" --sort-by=.metadata.creationTimestamp -o name) || return 1
    if [ -z "$pods" ]; then
        echo "k8s-reproduce: Job $NAME-merge has no pod left whose log could be read" >&2
        return 0
    fi
    kubectl logs "${pods##*$'\n'}"
}
wait_job "$NAME" "run this again with the same settings: it runs only what is missing, then the merge"
# From here on the run's Job has ended: a failed kubectl call is tried
# again, as while waiting, rather than leave the run unmerged.
retried "applying Job $NAME-merge" "Job $NAME has ended: run this again with the same settings, which then merges" apply_manifest "$merge"
merge_pods="kubectl get pods -l batch.kubernetes.io/job-name=$NAME-merge"
merged=$(wait_job "$NAME-merge" "read the log of its newest pod ($merge_pods)")
echo "$merged"
# The merge's state, not its log, decides the exit status.
retried "reading the log of Job $NAME-merge" "read the log of its newest pod ($merge_pods) once the API server answers" \
    merge_log || :
case "$merged" in
    *Complete*) ;;
    *) echo "k8s-reproduce: Job $NAME-merge failed (its log above says why, as the items no index finished): run this again with the same settings, which runs only what is missing, then the merge" >&2; exit 1 ;;
esac
