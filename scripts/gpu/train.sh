#!/usr/bin/env bash
# Trains the small Fashion-MNIST prior (the configuration of cadps/prior/small,
# docs/small-prior.md) on a CUDA GPU through XLA, for a fixed wall time.
#
#   scripts/gpu/train.sh build   on the development machine (Go, cgo): builds cadps with
#                                the XLA backend and copies the Fashion-MNIST training
#                                images into build/gputrain/ (the binary, cadps.gz,
#                                about 12 MB, and data/, 26 MB; copy both to the GPU
#                                machine, in one go or one after the other).
#   scripts/gpu/train.sh run     on the GPU machine, given build/gputrain/: trains for
#                                TRAIN_SECONDS (default 240), stopped with SIGTERM
#                                early enough (30 s, a quarter of a shorter time) for
#                                cadps train to save its checkpoint by then. The run
#                                (checkpoint.safetensors, ema.safetensors, losses.csv,
#                                loss.png) is written to TRAIN_OUT (default $OUT/fmnist,
#                                else build/gputrain/out), then the model card's 10×10
#                                sample grid of the new EMA weights (samples.png), for
#                                at most TRAIN_SAMPLE_SECONDS (default 150; 0: none).
#
# A new run uses the shipped prior's architecture with GPU-sized optimisation:
# TRAIN_BATCH (default 128), TRAIN_LR (2e-4), TRAIN_WARMUP (500), TRAIN_EMA
# (0.9995), seed 1. With build/gputrain/state/checkpoint.safetensors present it
# resumes that run instead (its configuration is kept, except that TRAIN_LR, when
# set, changes its learning rate); TRAIN_STATE names another folder to resume,
# such as the shipped prior's own run, TRAIN_STATE=cadps/prior/small/train-state
# (relative to the repository root). TRAIN_LOSS_WEIGHT (e.g. trunc-snr:100; default
# uniform) sets or changes the weighting of L_simple. TRAIN_BACKEND replaces the
# XLA backend (e.g. TRAIN_BACKEND=cadps tries the script on the CPU); CHECK_TF32=0
# trains and samples in exact float32 (env.sh). The build fails when cadps.gz or
# data/ exceeds the 64 MiB one GPU call carries.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
dir="$root/build/gputrain"
# shellcheck source=env.sh
. "$root/scripts/gpu/env.sh"

build() {
	local data="${FMNIST_DIR:-/usr/share/datasets/fashion-mnist}/train-images-idx3-ubyte.gz"
	[ -f "$data" ] || { echo "train.sh: $data missing: run scripts/setup.sh (it installs Fashion-MNIST)" >&2; exit 2; }
	mkdir -p "$dir/data"
	cd "$root"
	CGO_ENABLED=1 go build -tags xla -ldflags='-s -w' -o "$dir/cadps" ./scripts/cadps
	gzip -9f "$dir/cadps"
	cp "$data" "$dir/data/"
	# Each may travel in a call of its own; precision.sh needs only cadps.gz.
	check_carry "$root" build/gputrain/cadps.gz || exit 2
	check_carry "$root" build/gputrain/data || exit 2
	echo "built; copy build/gputrain (cadps.gz and data/) to the GPU machine and run: scripts/gpu/train.sh run"
}

run() {
	local bin
	unpack_bins "$dir" cadps || { echo "train.sh: build it on the development machine first: scripts/gpu/train.sh build" >&2; exit 2; }
	[ -f "$dir/data/train-images-idx3-ubyte.gz" ] ||
		{ echo "train.sh: $dir/data/train-images-idx3-ubyte.gz missing: copy build/gputrain/data from the development machine (scripts/gpu/train.sh build)" >&2; exit 2; }
	local state="${TRAIN_STATE:-$dir/state}"
	case "$state" in /*) ;; *) state="$root/$state" ;; esac
	if [ -n "${TRAIN_STATE:-}" ] && [ ! -f "$state/checkpoint.safetensors" ]; then
		echo "train.sh: TRAIN_STATE=$TRAIN_STATE holds no checkpoint.safetensors" >&2
		exit 2
	fi
	# The precision of every part: XLA's default (TF32), or exact float32
	# with CHECK_TF32=0 (env.sh).
	local -a precision=(env)
	if [ -n "${TRAIN_BACKEND:-}" ]; then
		export GOMLX_BACKEND="$TRAIN_BACKEND"
	else
		setup_xla_env || exit 2
		precision=("${default_env[@]}")
	fi
	local dest="${TRAIN_OUT:-}"
	if [ -z "$dest" ]; then
		if [ -n "${OUT:-}" ]; then dest="$OUT/fmnist"; else dest="$dir/out"; fi
	fi
	mkdir -p "$dest"
	local args=(train --data "$dir/data" --out "$dest" --steps 10000000 --checkpoint-every 2000 --log-every 200)
	if [ -f "$state/checkpoint.safetensors" ]; then
		cp "$state/checkpoint.safetensors" "$dest/"
		[ -f "$state/losses.csv" ] && cp "$state/losses.csv" "$dest/"
		args+=(--resume)
		[ -n "${TRAIN_LR:-}" ] && args+=(--lr "$TRAIN_LR")
		echo "resuming the run in $state"
	else
		args+=(--batch-size "${TRAIN_BATCH:-128}" --channel-mult "1,1,2" --attention-resolutions 8 --num-head-channels 32
			--lr "${TRAIN_LR:-2e-4}" --warmup "${TRAIN_WARMUP:-500}" --ema "${TRAIN_EMA:-0.9995}" --clip-norm 1 --seed 1)
	fi
	[ -n "${TRAIN_LOSS_WEIGHT:-}" ] && args+=(--loss-weight "$TRAIN_LOSS_WEIGHT")
	local secs="${TRAIN_SECONDS:-240}" t0=$SECONDS status=0 save
	# SIGTERM comes early enough for cadps train to save its checkpoint
	# (SIGKILL at TRAIN_SECONDS, should it not have finished).
	save=$((secs >= 120 ? 30 : secs / 4))
	[ "${#precision[@]}" -eq 1 ] || echo "precision: ${precision[*]:1}"
	echo "cadps ${args[*]}  (for ${secs} s: SIGTERM at $((secs - save)) s)"
	timeout --signal=TERM --kill-after="$save" "$((secs - save))" "${precision[@]}" "$bin/cadps" "${args[@]}" || status=$?
	# 124: stopped by the timeout, as planned (cadps train saved its checkpoint on SIGTERM).
	case "$status" in
	124) status=0 ;;
	137) echo "train.sh: cadps train did not stop within $save s of SIGTERM and was killed; the last checkpoint is the latest periodic one" ;;
	esac
	echo "train.sh: $((SECONDS - t0)) s, exit $status; the run is in $dest"
	[ -f "$dest/losses.csv" ] && tail -n 3 "$dest/losses.csv"
	# The model card's sample grid, drawn from the new EMA weights.
	local ssecs="${TRAIN_SAMPLE_SECONDS:-150}"
	if [ "$status" = 0 ] && [ "$ssecs" -gt 0 ] && [ -f "$dest/ema.safetensors" ]; then
		echo "cadps sample (for at most ${ssecs} s)"
		timeout --kill-after="$(grace_of "$ssecs")" "$((ssecs - $(grace_of "$ssecs")))" "${precision[@]}" "$bin/cadps" sample -model small -weights "$dest/ema.safetensors" \
			-n 100 -steps 100 -seed 0 -jobs 2 -cols 10 -zoom 2 -force -out "$dest/samples.png" ||
			echo "train.sh: the sample grid did not finish within ${ssecs} s (TRAIN_SAMPLE_SECONDS)"
	fi
	ls -l "$dest"
	exit "$status"
}

case "${1:-}" in
build) build ;;
run) run ;;
*) echo "usage: scripts/gpu/train.sh build|run" >&2; exit 2 ;;
esac
