#!/usr/bin/env bash
# Reproduces the FFHQ table of the DPS and CA-DPS papers: five tasks (SR ×4,
# box inpainting 128×128, random inpainting 92 %, Gaussian deblur σ 3.0,
# motion deblur intensity 0.5; kernels 61; σ_y 0.05; the DPS configs' step
# sizes) for DPS and CA-DPS, through `cadps reproduce`, and prints the table
# in the papers' layout (a row per task; LPIPS, FID, PSNR, SSIM per method).
# See docs/reproduce-paper.md. Every setting is an environment variable;
# extra arguments go to `cadps reproduce`.
set -euo pipefail

: "${CADPS:=cadps}"                 # the cadps command (e.g. "go run ./scripts/cadps")
: "${MODEL:=ffhq256}"               # -model preset
: "${WEIGHTS=ffhq_10m.pt}"          # the prior's checkpoint (set but empty: the small prior's own)
: "${IMAGES:=data/ffhq1k}"          # folder of the FFHQ validation images (sorted by name)
: "${COUNT:=1000}"                  # the first COUNT images of IMAGES
: "${STEPS:=1000}"                  # sampling steps
: "${SEED:=0}"
: "${METHODS:=dps,cadps}"
: "${OUT:=runs/paper}"
: "${LPIPS_NET:=vgg}"                                     # LPIPS network: vgg, as the released util/compute_metric.py; or alex, squeeze
: "${LPIPS_DIR=${HOME:-}/.cache/torch/hub/checkpoints}" # holds vgg16-397923af.pth (alexnet-owt-7be5be79.pth for alex; set but empty, with no LPIPS_BACKBONE: no LPIPS)
: "${LPIPS_BACKBONE:=}"                                   # or the backbone file itself
: "${FID_WEIGHTS=pt_inception-2015-12-05-6726825d.pth}"   # pytorch-fid's Inception (set but empty: no FID)
: "${FID_DIMS:=2048}"
: "${SIGMA_Y:=0.05}"
: "${SHARD:=}"                      # this worker's shard index (with SHARD_COUNT)
: "${SHARD_COUNT:=}"                # number of shards
# The tasks, one per line (or on one line separated by spaces or ;);
# the box side and the kernels are in pixels of the 256×256 FFHQ images.
: "${TASKS:=super_resolution:factor=4
inpaint_box:size=128
inpaint_random:fraction=0.92
gaussian_blur:kernel_size=61,sigma=3.0
motion_blur:kernel_size=61,intensity=0.5}"

args=("$IMAGES" -limit "$COUNT" -methods "$METHODS" -steps "$STEPS" -seed "$SEED"
	-noise "gaussian:sigma=$SIGMA_Y" -model "$MODEL" -out "$OUT" -paper-table)
[[ -n "$WEIGHTS" ]] && args+=(-weights "$WEIGHTS")
[[ -n "$FID_WEIGHTS" ]] && args+=(-fid "$FID_WEIGHTS" -fid-dims "$FID_DIMS")
if [[ -n "$LPIPS_BACKBONE" ]]; then
	args+=(-lpips-net "$LPIPS_NET" -lpips-backbone "$LPIPS_BACKBONE")
elif [[ -n "$LPIPS_DIR" ]]; then
	args+=(-lpips-net "$LPIPS_NET" -lpips "$LPIPS_DIR")
fi
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
while IFS= read -r task; do
	args+=(-task "$task")
done < <(task_specs)
if [[ -n "$SHARD" ]]; then
	if [[ -z "$SHARD_COUNT" ]]; then
		echo "reproduce.sh: SHARD=$SHARD needs SHARD_COUNT" >&2
		exit 2
	fi
	args+=(-shard "$SHARD/$SHARD_COUNT")
elif [[ -n "$SHARD_COUNT" ]]; then
	# The index comes from a Slurm or Kubernetes job array; outside one,
	# cadps refuses a count without an index rather than run every item.
	args+=(-shard-count "$SHARD_COUNT")
fi

# Without GOMLX_BACKEND, cadps runs on the CPU: say so before a run at the
# papers' size starts there (the shipped 32×32 prior is meant for the CPU).
if [[ -z "${GOMLX_BACKEND:-}" && "$MODEL" != small && "$MODEL" != fmnist32 ]]; then
	echo "reproduce.sh: GOMLX_BACKEND is unset, so $MODEL runs on the CPU (the pure-Go backend); for a GPU, build cadps with -tags xla and set GOMLX_BACKEND (docs/cuda.md)" >&2
fi

# shellcheck disable=SC2086 # CADPS may be a command with arguments
exec $CADPS reproduce "${args[@]}" "$@"
