#!/usr/bin/env bash
# The project's prepared GPU check (CUDA through XLA/PJRT).
#
#   scripts/gpu/check.sh build   on the development machine (Go, cgo): builds the
#                                test binaries and the timing program with the XLA
#                                backend into build/gpu/, with the fixtures they need.
#   scripts/gpu/check.sh run     on the GPU machine (no Go, no network), given
#                                build/gpu/: finds JAX's CUDA PJRT plugin and the CUDA
#                                libraries, sets the environment, and prints one
#                                summary, all within CHECK_SECONDS (default 450 s):
#                                - GPU parity with the reference fixtures (UNet, steps,
#                                  trajectories), the bfloat16 UNet's deviation from the
#                                  float32 one, and the graph-noise tests;
#                                - FFHQ-256 timings (scripts/gpucheck): forward, DPS and
#                                  CA-DPS steps at each batch of CHECK_BATCHES, compile
#                                  time apart; the bfloat16 forward and DPS step with
#                                  their deviation from float32; DPS and CA-DPS runs with
#                                  host noise vs graph noise; a whole CA-DPS run with
#                                  graph noise, stopped when the time is up (its time
#                                  per step and 1000-step estimate are printed);
#                                - the peak GPU memory used.
#
# Environment: CHECK_BATCHES (default 1,16; 1,4,16 for the full sweep, if time
# allows), CHECK_BF16_BATCHES (default 16), CHECK_NOISE_BATCH (default 16),
# CHECK_NOISE_STEPS (default 10), CHECK_RUN_STEPS (default 1000), CHECK_RUN_BATCH
# (default 16), CHECK_SIZE (default 256), CHECK_SECONDS (default 450: the timings
# get what the parity tests leave of it), CHECK_PLUGIN (a PJRT plugin path, skipping the search),
# CHECK_TF32=1 (allow TF32).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out="$root/build/gpu"
# shellcheck source=env.sh
. "$root/scripts/gpu/env.sh"

build() {
	mkdir -p "$out"
	cd "$root"
	export CGO_ENABLED=1
	# Stripped and gzipped, to stay well inside what travels to the GPU machine.
	go test -c -tags xla -ldflags='-s -w' -o "$out/unet.test" ./cadps/unet
	go test -c -tags xla -ldflags='-s -w' -o "$out/cadps.test" ./cadps
	go build -tags xla -ldflags='-s -w' -o "$out/gpucheck" ./scripts/gpucheck
	gzip -9f "$out/unet.test" "$out/cadps.test" "$out/gpucheck"
	local fx="${CADPS_REFERENCE_DIR:-$root/../shared/fixtures/reference}"
	rm -rf "$out/fixtures"
	mkdir -p "$out/fixtures"
	for d in unet-a unet-b step-dps-sr2 step-cadps-sr2 trajectory-dps-sr2 trajectory-cadps-sr2; do
		cp -r "$fx/$d" "$out/fixtures/"
	done
	du -sh "$out"
	echo "built; carry build/gpu to the GPU machine and run: scripts/gpu/check.sh run"
}

run() {
	[ -f "$out/gpucheck.gz" ] || { echo "check.sh: $out/gpucheck.gz missing: run 'scripts/gpu/check.sh build' on the development machine first" >&2; exit 2; }
	local bin=/tmp/cadps-gpu-bin
	mkdir -p "$bin"
	for f in unet.test cadps.test gpucheck; do gunzip -c "$out/$f.gz" >"$bin/$f" && chmod +x "$bin/$f"; done
	setup_xla_env || exit 2
	export CADPS_REFERENCE_DIR="$out/fixtures"

	local total="${CHECK_SECONDS:-450}" t0=$SECONDS
	local mem=/tmp/cadps-gpu-mem.csv mempid=""
	if command -v nvidia-smi >/dev/null; then
		nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 250 >"$mem" 2>/dev/null &
		mempid=$!
	fi
	echo "== parity on the GPU (tolerances of the CPU tests; bfloat16 vs float32 logged)"
	local status=0
	timeout 150 "$bin/unet.test" -test.run 'TestReference|TestInputGradient|TestBFloat16Reference' -test.v 2>&1 |
		grep -E '^(=== RUN|--- |PASS|FAIL|ok)|Δ|differs|deviates' | grep -v '=== RUN' || status=1
	timeout 150 "$bin/cadps.test" -test.run 'TestReference|TestGraphNoise' -test.v 2>&1 |
		grep -E '^(--- |PASS|FAIL)|    --- |: [0-9.e+-]+$|>|Δ|mean|differ|gave' | grep -v SKIP || status=1
	# The timings get what is left; the budget stops gpucheck starting new
	# measurements 90 s before the end, the timeout ends the one under way.
	local left=$((total - (SECONDS - t0)))
	local budget=$((left - 90))
	[ "$budget" -ge 30 ] || budget=30
	[ "$left" -ge 60 ] || left=60
	echo "== timings ($((SECONDS - t0)) s used so far; gpucheck budget ${budget} s, stopped at ${left} s)"
	timeout --signal=INT --kill-after=10 "$left" "$bin/gpucheck" -budget "${budget}s" -size "${CHECK_SIZE:-256}" \
		-batches "${CHECK_BATCHES:-1,16}" -bf16-batches "${CHECK_BF16_BATCHES:-16}" \
		-noise-batch "${CHECK_NOISE_BATCH:-16}" -noise-steps "${CHECK_NOISE_STEPS:-10}" \
		-run-steps "${CHECK_RUN_STEPS:-1000}" -run-batch "${CHECK_RUN_BATCH:-16}" || status=1
	if [ -n "$mempid" ]; then
		kill "$mempid" 2>/dev/null || true
		wait "$mempid" 2>/dev/null || true
	fi
	[ -s "$mem" ] && echo "peak GPU memory used: $(sort -n "$mem" | tail -n 1) MiB"
	echo "total: $((SECONDS - t0)) s"
	exit $status
}

case "${1:-}" in
build) build ;;
run) run ;;
*) echo "usage: scripts/gpu/check.sh build|run" >&2; exit 2 ;;
esac
