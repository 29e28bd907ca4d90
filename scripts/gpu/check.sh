#!/usr/bin/env bash
# The project's prepared GPU check (CUDA through XLA/PJRT).
#
#   scripts/gpu/check.sh build   on the development machine (Go, cgo): builds the
#                                test binaries and the timing program with the XLA
#                                backend into build/gpu/, with the fixtures they need,
#                                and what scripts/gpu/compare.sh needs beside them
#                                (gpucompare, ../shared/bench/torch_reference.py).
#   scripts/gpu/check.sh run     on the GPU machine (no Go, no network), given
#                                build/gpu/: finds JAX's CUDA PJRT plugin and the CUDA
#                                libraries, sets the environment, and prints one
#                                summary, all within CHECK_SECONDS (default 470 s):
#                                - GPU parity with the reference fixtures (UNet, its
#                                  input gradient, steps, trajectories) in exact
#                                  float32 (TF32 and XLA's Triton GEMMs off) at the CPU
#                                  tests' tolerances, the bfloat16 UNet's deviation
#                                  from the float32 one, the graph-noise tests; then
#                                  the deviations with TF32 on (XLA's default), and
#                                  run-to-run determinism with XLA's deterministic ops;
#                                - FFHQ-256 timings (scripts/gpucheck), compile time
#                                  apart: forward, DPS and CA-DPS steps in exact
#                                  float32 at each batch of CHECK_STRICT_BATCHES if
#                                  set; then with TF32 the forward and the steps of
#                                  each of CHECK_METHODS at each batch of
#                                  CHECK_BATCHES, the bfloat16 forward and steps with
#                                  the forward's and DPS step's deviation from
#                                  float32, DPS and CA-DPS runs
#                                  with host noise vs graph noise; then, each batch of
#                                  CHECK_RUN_BATCH in a process of its own, a whole
#                                  CA-DPS run with graph noise, stopped when its share
#                                  of the time is up (its time per step and 1000-step
#                                  estimate are printed);
#                                - the peak GPU memory of each group of timings.
#
# Environment (defaults in brackets; an empty list skips that part):
#   CHECK_BATCHES [1,16]          batches of the TF32 timings (1,4,16: the full sweep)
#   CHECK_METHODS ["dps cadps"]   method specs timed; spec@1,4 only at those batches
#                                 (cadps:batched=true was slower than cadps at 1, 4
#                                 and 16 on an H200)
#   CHECK_STRICT_BATCHES []       batches of the exact float32 timings (16 measured)
#   CHECK_BF16_BATCHES [16]       batches of the bfloat16 timings
#   CHECK_NOISE_BATCH [16], CHECK_NOISE_STEPS [10; 0 skips]
#                                 host vs graph noise runs
#   CHECK_RUN_STEPS [1000; 0 skips], CHECK_RUN_BATCH [1,16], CHECK_RUN_METHOD [cadps],
#   CHECK_RUN_SECONDS [140]       the whole runs and their share of CHECK_SECONDS
#   CHECK_SIZE [256], CHECK_SECONDS [470], CHECK_PLUGIN (a plugin path, skipping the
#   search), CHECK_BACKEND (any GOMLX_BACKEND, e.g. "cadps" to try the script on the
#   CPU at a small CHECK_SIZE), CHECK_XLA_OPTIONS and CHECK_TF32 (see env.sh).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out="$root/build/gpu"
# shellcheck source=env.sh
. "$root/scripts/gpu/env.sh"

build() {
	local fx="${CADPS_REFERENCE_DIR:-$root/../shared/fixtures/reference}" d
	for d in unet-a unet-b step-dps-sr2 step-cadps-sr2 trajectory-dps-sr2 trajectory-cadps-sr2; do
		# Refused before anything compiles: the GPU machine checks parity on them.
		[ -d "$fx/$d" ] || { echo "check.sh: no reference fixture $fx/$d (set CADPS_REFERENCE_DIR to the fixtures' folder)" >&2; exit 2; }
	done
	mkdir -p "$out"
	cd "$root"
	export CGO_ENABLED=1
	# Stripped and gzipped, to stay well inside what travels to the GPU machine.
	go test -c -tags xla -ldflags='-s -w' -o "$out/unet.test" ./cadps/unet
	go test -c -tags xla -ldflags='-s -w' -o "$out/cadps.test" ./cadps
	go build -tags xla -ldflags='-s -w' -o "$out/gpucheck" ./scripts/gpucheck
	go build -ldflags='-s -w' -o "$out/gpucompare" ./scripts/gpucompare
	gzip -9f "$out/unet.test" "$out/cadps.test" "$out/gpucheck" "$out/gpucompare"
	# The PyTorch reference timed beside it by compare.sh (../shared does not
	# travel to the GPU machine).
	local bench="${CADPS_BENCH:-$root/../shared/bench/torch_reference.py}"
	mkdir -p "$out/bench"
	if [ -f "$bench" ]; then cp "$bench" "$out/bench/"; else echo "check.sh: $bench missing: compare.sh will not run" >&2; fi
	rm -rf "$out/fixtures"
	mkdir -p "$out/fixtures"
	for d in unet-a unet-b step-dps-sr2 step-cadps-sr2 trajectory-dps-sr2 trajectory-cadps-sr2; do
		cp -r "$fx/$d" "$out/fixtures/"
	done
	# The repository's own fixtures (small: other tasks and network options).
	[ -n "${CADPS_REFERENCE_DIR:-}" ] || cp -r "$root/testdata/reference/." "$out/fixtures/"
	du -sh "$out"
	echo "built; carry build/gpu to the GPU machine and run: scripts/gpu/check.sh run"
}

run() {
	local bin
	unpack_bins "$out" gpucheck unet.test cadps.test || { echo "check.sh: build it on the development machine first: scripts/gpu/check.sh build" >&2; exit 2; }
	setup_xla_env || exit 2
	export CADPS_REFERENCE_DIR="$out/fixtures"

	local total="${CHECK_SECONDS:-470}" t0=$SECONDS
	local mem="$bin/memory.csv" mempid=""
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
	local keep='^(--- |    --- |PASS|FAIL|ok|panic:)|_test\.go:[0-9]+:'
	# Exact float32 on the GPU: NVIDIA_TF32_OVERRIDE=0 stops cuDNN and cuBLAS
	# from using TF32, and --xla_gpu_enable_triton_gemm=false stops XLA from
	# writing its own GEMM kernels with Triton, which the variable does not
	# reach (on an H200 the UNet was 2e-4–4e-4 off with the variable alone,
	# 1.6e-6 with both: as close as the pure-Go backend).
	local exact_flags="${XLA_FLAGS:+$XLA_FLAGS }--xla_gpu_enable_triton_gemm=false"
	echo "== parity in exact float32 (NVIDIA_TF32_OVERRIDE=0, --xla_gpu_enable_triton_gemm=false), at the CPU tests' tolerances; bfloat16 vs float32 logged"
	local status=0
	NVIDIA_TF32_OVERRIDE=0 XLA_FLAGS="$exact_flags" timeout 150 "$bin/unet.test" \
		-test.run 'TestReference|TestInputGradient|TestBFloat16Reference' -test.v 2>&1 | grep -E "$keep" || status=1
	NVIDIA_TF32_OVERRIDE=0 XLA_FLAGS="$exact_flags" timeout 150 "$bin/cadps.test" \
		-test.run 'TestReference|TestGraphNoise' -test.v 2>&1 | grep -E "$keep" | grep -v SKIP || status=1
	# The timings run with XLA's default, TF32: how far that is from the
	# fixtures (the UNet, and the single steps and free-running finals).
	echo "== deviations with TF32 on (XLA's default; the timings below use it): logged, not failures"
	env -u NVIDIA_TF32_OVERRIDE timeout 60 "$bin/unet.test" -test.run 'TestReference$' -test.v 2>&1 |
		grep -E 'unet_test\.go:[0-9]+: .*deviation' || true
	env -u NVIDIA_TF32_OVERRIDE timeout 90 "$bin/cadps.test" -test.run 'TestReference$' -test.v 2>&1 |
		grep -E '^=== RUN .*/|_test\.go:[0-9]+: .*(pred_xstart|norm|x_next|sec_der|final).*deviation' || true
	# XLA's GPU kernels may reduce in another order from run to run (the same
	# graph twice differed by 4.6e-3 after four guided steps on an H200).
	echo "== run-to-run determinism with --xla_gpu_deterministic_ops=true (TF32 on): the graph-noise runs"
	XLA_FLAGS="${XLA_FLAGS:+$XLA_FLAGS }--xla_gpu_deterministic_ops=true" timeout 90 "$bin/cadps.test" -test.run 'TestGraphNoiseRun' -test.v 2>&1 |
		grep -E "$keep|rror|[Uu]nknown" | grep -v SKIP || true
	local left budget
	if [ -n "${CHECK_STRICT_BATCHES:-}" ]; then
		local reserve=180
		[ -n "${CHECK_BATCHES-1,16}" ] || reserve=20
		left=$((total - (SECONDS - t0) - reserve))
		[ "$left" -ge 60 ] || left=60
		echo "== timings in exact float32 (NVIDIA_TF32_OVERRIDE=0, Triton GEMMs off), stopped at ${left} s"
		mem_start
		NVIDIA_TF32_OVERRIDE=0 XLA_FLAGS="$exact_flags" timeout --signal=INT --kill-after=10 "$left" "$bin/gpucheck" -budget "$((left - 30))s" \
			-size "${CHECK_SIZE:-256}" -batches "${CHECK_STRICT_BATCHES:-}" -methods "dps cadps" -bf16-batches "" \
			-noise-steps 0 -run-steps 0 -repeat 3 | grep -v '^model:\|^budget:' || status=1
		mem_stop "the exact float32 timings"
	fi
	# The timings get what is left but the whole run's share (CHECK_RUN_SECONDS);
	# a budget stops gpucheck starting new measurements, the timeout ends the
	# one under way.
	local run_share="${CHECK_RUN_SECONDS:-140}"
	[ "${CHECK_RUN_STEPS:-1000}" -gt 0 ] || run_share=0
	left=$((total - (SECONDS - t0) - run_share - 20))
	budget=$((left - 60))
	[ "$budget" -ge 30 ] || budget=30
	[ "$left" -ge 60 ] || left=60
	echo "== timings with TF32 ($((SECONDS - t0)) s used so far; gpucheck budget ${budget} s, stopped at ${left} s)"
	mem_start
	timeout --signal=INT --kill-after=10 "$left" "$bin/gpucheck" -budget "${budget}s" -size "${CHECK_SIZE:-256}" \
		-batches "${CHECK_BATCHES-1,16}" -methods "${CHECK_METHODS:-dps cadps}" -bf16-batches "${CHECK_BF16_BATCHES-16}" \
		-noise-batch "${CHECK_NOISE_BATCH:-16}" -noise-steps "${CHECK_NOISE_STEPS:-10}" -run-steps 0 |
		grep -v '^budget:' || status=1
	mem_stop "the TF32 timings, all their configurations together,"
	if [ "$run_share" -gt 0 ]; then
		# Each batch alone in its process, so that its peak memory is its own;
		# all but the last get the steps' worth of time at batch 1 (about 20 s
		# per 1000 steps on an H200) plus compilation, the last what is left.
		local rb rbs
		IFS=', ' read -r -a rbs <<<"${CHECK_RUN_BATCH:-1,16}"
		for i in "${!rbs[@]}"; do
			rb=${rbs[$i]}
			left=$((total - (SECONDS - t0)))
			if [ "$i" -lt $((${#rbs[@]} - 1)) ]; then left=$((left / 2)); fi
			[ "$left" -ge 60 ] || left=60
			echo "== a whole ${CHECK_RUN_METHOD:-cadps} run at batch $rb with TF32 and graph noise ($((SECONDS - t0)) s used so far; stopped at ${left} s)"
			mem_start
			timeout --signal=INT --kill-after=10 "$left" "$bin/gpucheck" -budget "$((left - 15))s" -size "${CHECK_SIZE:-256}" \
				-batches "" -bf16-batches "" -noise-steps 0 -run-method "${CHECK_RUN_METHOD:-cadps}" \
				-run-steps "${CHECK_RUN_STEPS:-1000}" -run-batch "$rb" | grep -v '^backend:\|^model:\|^budget:' || status=1
			mem_stop "the whole run at batch $rb alone"
		done
	fi
	echo "total: $((SECONDS - t0)) s"
	exit $status
}

case "${1:-}" in
build) build ;;
run) run ;;
*) echo "usage: scripts/gpu/check.sh build|run" >&2; exit 2 ;;
esac
