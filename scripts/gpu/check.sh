#!/usr/bin/env bash
# The project's prepared GPU check (CUDA through XLA/PJRT).
#
#   scripts/gpu/check.sh build   on the development machine (Go, cgo): builds the
#                                test binaries and the timing program with the XLA
#                                backend into build/gpu/, with the fixtures they need.
#   scripts/gpu/check.sh run     on the GPU machine (no Go, no network), given
#                                build/gpu/: finds JAX's CUDA PJRT plugin and the CUDA
#                                libraries, sets the environment, and prints one
#                                summary, all within CHECK_SECONDS (default 470 s):
#                                - GPU parity with the reference fixtures (UNet, steps,
#                                  trajectories) with TF32 off, the bfloat16 UNet's
#                                  deviation from the float32 one, and the graph-noise
#                                  tests; then the UNet's deviation with TF32 on, and
#                                  with TF32 and XLA's Triton GEMMs off;
#                                - FFHQ-256 timings (scripts/gpucheck), compile time
#                                  apart: forward, DPS and CA-DPS steps in full float32
#                                  (TF32 off) at each batch of CHECK_STRICT_BATCHES if
#                                  set; then with TF32 (XLA's default) the forward and
#                                  the steps of each of CHECK_METHODS at each batch of
#                                  CHECK_BATCHES, the bfloat16 forward and DPS step with
#                                  their deviation from float32, DPS and CA-DPS runs
#                                  with host noise vs graph noise; then, in a process of
#                                  its own, a whole CA-DPS run with graph noise,
#                                  stopped when its share of the time is up (its time
#                                  per step and 1000-step estimate are printed);
#                                - the peak GPU memory of each group of timings.
#
# Environment: CHECK_BATCHES (default 1,16; 1,4,16 for the full sweep, if time
# allows), CHECK_METHODS (default "dps cadps cadps:batched=true@1,4": on an
# H200 the batched variant was 1.3x slower than "cadps" at batch 16; at small
# batches, where the GPU is far from busy, it was not measured yet), CHECK_STRICT_BATCHES (default empty:
# skipped; 16 was measured on an H200), CHECK_BF16_BATCHES (default 16; empty
# skips), CHECK_NOISE_BATCH (default 16), CHECK_NOISE_STEPS (default 10; 0
# skips), CHECK_RUN_STEPS (default 1000; 0 skips), CHECK_RUN_BATCH (default
# 16), CHECK_RUN_SECONDS (the whole run's share, default 120), CHECK_SIZE
# (default 256), CHECK_SECONDS (default 470: the timings get what the parity
# tests leave of it), CHECK_PLUGIN (a PJRT plugin path, skipping the search),
# CHECK_XLA_OPTIONS (see env.sh). The parity tests always run with TF32 off
# (NVIDIA_TF32_OVERRIDE=0); CHECK_TF32=0 turns it off for the timings too.
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

	local total="${CHECK_SECONDS:-470}" t0=$SECONDS
	local mem=/tmp/cadps-gpu-mem.csv mempid=""
	# mem_start polls the GPU's used memory; mem_stop prints the peak since.
	mem_start() {
		mempid=""
		command -v nvidia-smi >/dev/null || return 0
		nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 250 >"$mem" 2>/dev/null &
		mempid=$!
	}
	mem_stop() {
		[ -n "$mempid" ] || return 0
		kill "$mempid" 2>/dev/null || true
		wait "$mempid" 2>/dev/null || true
		[ -s "$mem" ] && echo "peak GPU memory used during $1 (nvidia-smi, every 250 ms): $(sort -n "$mem" | tail -n 1) MiB"
		return 0
	}
	# Test output: results, subtests and every logged line (deviations, failures).
	local keep='^(--- |    --- |PASS|FAIL|ok)|_test\.go:[0-9]+:'
	echo "== parity on the GPU with TF32 off (NVIDIA_TF32_OVERRIDE=0), at the CPU tests' tolerances; bfloat16 vs float32 logged"
	local status=0
	NVIDIA_TF32_OVERRIDE=0 timeout 150 "$bin/unet.test" -test.run 'TestReference|TestInputGradient|TestBFloat16Reference' -test.v 2>&1 |
		grep -E "$keep" || status=1
	NVIDIA_TF32_OVERRIDE=0 timeout 150 "$bin/cadps.test" -test.run 'TestReference|TestGraphNoise' -test.v 2>&1 |
		grep -E "$keep" | grep -v SKIP || status=1
	echo "== the UNet with TF32 on (XLA's default; the timings below use it): its deviation, not a failure"
	env -u NVIDIA_TF32_OVERRIDE timeout 60 "$bin/unet.test" -test.run 'TestReference$' -test.v 2>&1 | grep -E 'max\|Δ\|' | grep -v differs || true
	# With NVIDIA_TF32_OVERRIDE=0 alone the UNet still deviated by 2e-4–4e-4 on
	# an H200 (1e-3 with TF32). The override reaches cuDNN and cuBLAS; the
	# suspect is the GEMM kernels XLA writes itself with Triton, which the
	# override does not reach and which may round to TF32 because GoMLX v0.26
	# asks for the default precision. This line tests that guess.
	echo "== the UNet with TF32 off and XLA's Triton GEMMs off (--xla_gpu_enable_triton_gemm=false): its deviation"
	NVIDIA_TF32_OVERRIDE=0 XLA_FLAGS="${XLA_FLAGS:+$XLA_FLAGS }--xla_gpu_enable_triton_gemm=false" timeout 60 \
		"$bin/unet.test" -test.run 'TestReference$' -test.v 2>&1 | grep -E 'max\|Δ\||FAIL|rror|[Uu]nknown' | grep -v differs || true
	local left budget
	if [ -n "${CHECK_STRICT_BATCHES:-}" ]; then
		left=$((total - (SECONDS - t0) - 180))
		[ "$left" -ge 60 ] || left=60
		echo "== timings in full float32 (NVIDIA_TF32_OVERRIDE=0), stopped at ${left} s"
		mem_start
		NVIDIA_TF32_OVERRIDE=0 timeout --signal=INT --kill-after=10 "$left" "$bin/gpucheck" -budget "$((left - 30))s" \
			-size "${CHECK_SIZE:-256}" -batches "${CHECK_STRICT_BATCHES:-}" -methods "dps cadps" -bf16-batches "" \
			-noise-steps 0 -run-steps 0 -repeat 3 | grep -v '^model:\|^budget:' || status=1
		mem_stop "the full float32 timings"
	fi
	# The timings get what is left but the whole run's share (CHECK_RUN_SECONDS);
	# a budget stops gpucheck starting new measurements, the timeout ends the
	# one under way.
	local run_share="${CHECK_RUN_SECONDS:-120}"
	[ "${CHECK_RUN_STEPS:-1000}" -gt 0 ] || run_share=0
	left=$((total - (SECONDS - t0) - run_share - 20))
	budget=$((left - 60))
	[ "$budget" -ge 30 ] || budget=30
	[ "$left" -ge 60 ] || left=60
	echo "== timings with TF32 ($((SECONDS - t0)) s used so far; gpucheck budget ${budget} s, stopped at ${left} s)"
	mem_start
	timeout --signal=INT --kill-after=10 "$left" "$bin/gpucheck" -budget "${budget}s" -size "${CHECK_SIZE:-256}" \
		-batches "${CHECK_BATCHES:-1,16}" -methods "${CHECK_METHODS:-dps cadps cadps:batched=true@1,4}" -bf16-batches "${CHECK_BF16_BATCHES-16}" \
		-noise-batch "${CHECK_NOISE_BATCH:-16}" -noise-steps "${CHECK_NOISE_STEPS:-10}" -run-steps 0 |
		grep -v '^budget:' || status=1
	mem_stop "the TF32 timings, all their configurations together,"
	if [ "$run_share" -gt 0 ]; then
		# Alone in its process, so that its peak memory is its own.
		left=$((total - (SECONDS - t0)))
		[ "$left" -ge 60 ] || left=60
		echo "== a whole CA-DPS run with TF32 and graph noise ($((SECONDS - t0)) s used so far; stopped at ${left} s)"
		mem_start
		timeout --signal=INT --kill-after=10 "$left" "$bin/gpucheck" -budget "$((left - 15))s" -size "${CHECK_SIZE:-256}" \
			-batches "" -bf16-batches "" -noise-steps 0 \
			-run-steps "${CHECK_RUN_STEPS:-1000}" -run-batch "${CHECK_RUN_BATCH:-16}" | grep -v '^backend:\|^model:\|^budget:' || status=1
		mem_stop "the whole run alone"
	fi
	echo "total: $((SECONDS - t0)) s"
	exit $status
}

case "${1:-}" in
build) build ;;
run) run ;;
*) echo "usage: scripts/gpu/check.sh build|run" >&2; exit 2 ;;
esac
