#!/bin/bash
# A 1000-image reproduction of the DPS / CA-DPS tables as a Slurm job array:
# 1000 FFHQ validation images × 4 tasks × 2 methods = 8000 items, dealt
# by image and task to 100 array tasks (40 images × tasks, 80 items each:
# both methods of an image and task run together). Every array task writes
# into the same output folder on the shared file system; a rerun (or a
# requeued task) skips the items already finished, and a task killed at any
# moment leaves only whole files.
#
# Submit, then merge once every task has ended (the last task to end also
# leaves complete tables, but merge is cheap and reports duplicates):
#
#   mkdir -p logs
#   jobid=$(sbatch --parsable docs/slurm-reproduce.sh)
#   sbatch --dependency=afterany:"$jobid" --wrap "cadps merge $PWD/runs/ffhq1k"
#
# Failed array tasks can simply be resubmitted with the same script and
# --array set to their indices: finished items are skipped.
#
#SBATCH --job-name=cadps-reproduce
#SBATCH --array=0-99
#SBATCH --gres=gpu:1
#SBATCH --cpus-per-task=8
#SBATCH --mem=32G
#SBATCH --time=24:00:00
#SBATCH --requeue
#SBATCH --output=logs/reproduce-%A_%a.out

set -euo pipefail

# Inputs (override in the environment: sbatch --export=ALL,IMAGES=...).
IMAGES=${IMAGES:-$HOME/data/ffhq-val-1k}          # 1000 PNGs, 256×256
WEIGHTS=${WEIGHTS:-$HOME/models/ffhq_10m.pt}      # DPS's FFHQ checkpoint
OUT=${OUT:-$PWD/runs/ffhq1k}
CADPS=${CADPS:-cadps}                             # built with: go build -tags xla ./scripts/cadps
# The XLA backend on the array task's GPU: an absolute PJRT plugin path (JAX's
# CUDA wheel ships one as jax_plugins/xla_cuda*/xla_cuda_plugin.so, with the
# CUDA libraries in its nvidia-* wheels on LD_LIBRARY_PATH). Without it the
# pure-Go CPU backend runs, which is far too slow for this.
export GOMLX_BACKEND=${GOMLX_BACKEND:-xla:$HOME/pjrt/xla_cuda_plugin.so}

# The shard is taken from SLURM_ARRAY_TASK_ID / SLURM_ARRAY_TASK_COUNT
# (or _MIN/_MAX); -shard INDEX/COUNT would override it.
echo "array task ${SLURM_ARRAY_TASK_ID:-?} of ${SLURM_ARRAY_TASK_COUNT:-?} on $(hostname)"

exec "$CADPS" reproduce "$IMAGES" \
    -task super_resolution:factor=4 \
    -task inpaint_box:size=128 \
    -task gaussian_blur:kernel_size=61,intensity=3.0 \
    -task motion_blur:kernel_size=61,intensity=0.5 \
    -methods dps,cadps \
    -model ffhq256 -weights "$WEIGHTS" \
    -steps 1000 -noise gaussian:sigma=0.05 -seed 0 \
    -grid-rows 8 \
    -out "$OUT"
