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
#                                summary, all within CHECK_SECONDS (default 470 s;
#                                every part takes its time from it, up to a share
#                                of its own, the parity parts leaving the timings
#                                theirs however long they take, and one left
#                                without time says so), and writes every part's
#                                whole output to NAME.log in CHECK_OUT (default
#                                $OUT, else build/gpu-check; NAME: CHECK_NAME, else
#                                the date and the GPU's name):
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
#   CHECK_TIMING_SECONDS [120]    the least the TF32 timings get: the parity parts
#                                 stop in time to leave it, 60 s for the exact
#                                 float32 timings and CHECK_RUN_SECONDS (and 20 s
#                                 more) to the timings, so that a parity part that
#                                 hangs cannot take the timings' time; each only
#                                 when those timings have something to measure, and
#                                 the exact float32 parity parts (which fail the
#                                 check when skipped) at most four fifths of
#                                 CHECK_SECONDS
#   CHECK_SIZE [256], CHECK_SECONDS [470], CHECK_OUT, CHECK_NAME, CHECK_PLUGIN (a
#   plugin path, skipping the search), CHECK_BACKEND (any GOMLX_BACKEND, e.g. "cadps"
#   to try the script on the CPU at a small CHECK_SIZE), CHECK_XLA_OPTIONS (see
#   env.sh). CHECK_TF32 is refused: the parts set their own precision.
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
	# What each script needs travels in one call, at most 64 MiB in all:
	# refused here rather than found out on the GPU machine.
	check_carry "$root" build/gpu || exit 2
	echo "built; carry build/gpu to the GPU machine and run: scripts/gpu/check.sh run"
	check_carry "$root" build/gpu/gpucheck.gz build/gpu/gpucompare.gz build/gpu/bench || exit 2
	echo "compare.sh and tune.sh need only these: scripts/gpu/compare.sh run, scripts/gpu/tune.sh run"
}

run() {
	local t0=$SECONDS total="${CHECK_SECONDS:-470}" bin
	refuse_check_tf32
	unpack_bins "$out" gpucheck unet.test cadps.test || { echo "check.sh: build it on the development machine first: scripts/gpu/check.sh build" >&2; exit 2; }
	local device dest name
	output_place check "" "${CHECK_OUT:-}" "${CHECK_NAME:-}"
	log="$dest/$name.log"
	: >"$log"
	# The setup's lines (the card, the plugin, each precision's variables)
	# head the log too; its exports must stay in this shell, hence the files.
	if ! setup_xla_env >"$bin/setup.out" 2>"$bin/setup.err"; then
		tee -a "$log" <"$bin/setup.out"
		tee -a "$log" <"$bin/setup.err" >&2
		exit 2
	fi
	cat "$bin/setup.out" "$bin/setup.err" | tee -a "$log"
	export CADPS_REFERENCE_DIR="$out/fixtures"
	say "check: $device; $total s in all (CHECK_SECONDS); every part's whole output in $log"

	# The whole runs' share (CHECK_RUN_SECONDS) is kept from every part
	# before them, and from the parity parts also the TF32 timings' least
	# share (CHECK_TIMING_SECONDS) and the exact float32 timings' 60 s, each
	# only when it has something to measure, and 20 s more when any of them
	# has. The exact float32 parity parts, whose skipping fails the check,
	# keep at most four fifths of CHECK_SECONDS (timing_keep_exact).
	local status=0 run_share="${CHECK_RUN_SECONDS:-140}"
	[ "${CHECK_RUN_STEPS:-1000}" -gt 0 ] || run_share=0
	local timing_keep=$run_share
	if [ -n "${CHECK_BATCHES-1,16}" ] || [ -n "${CHECK_BF16_BATCHES-16}" ] || [ "${CHECK_NOISE_STEPS:-10}" -gt 0 ]; then
		timing_keep=$((timing_keep + ${CHECK_TIMING_SECONDS:-120}))
	fi
	[ -z "${CHECK_STRICT_BATCHES:-}" ] || timing_keep=$((timing_keep + 60))
	[ "$timing_keep" -eq 0 ] || timing_keep=$((timing_keep + 20))
	local timing_keep_exact=$((timing_keep < total * 4 / 5 ? timing_keep : total * 4 / 5))
	parity || status=1
	timings || status=1
	say "total: $((SECONDS - t0)) s"
	exit $status
}

# say prints its arguments as a line, and logs it.
say() { echo "$*" | tee -a "$log"; }

# part WANT NEED TITLE [KEEP] sets s to the seconds the part gets: WANT,
# or what is left of the whole time less KEEP (seconds kept for the parts
# after it; 0 by default) when that is less. With under NEED seconds it
# says the part is skipped, in one line, and fails; else it prints the
# part's title.
part() {
	local keep=${4:-0}
	s=$(seconds_left $((total - keep)) "$t0" "$1")
	if [ "$s" -lt "$2" ]; then
		say "== skipped: $3 (it would get $s s, $(seconds_left "$total" "$t0") s being left of CHECK_SECONDS=$total${4:+, $keep s of them kept for the parts after it}; it needs $2)"
		return 1
	fi
	say "== $3 ($((SECONDS - t0)) s used so far; stopped at $s s)"
}

# parity runs the test binaries on the GPU: exact float32 at the CPU tests'
# tolerances (failures fail the check, as does a part skipped for want of
# time), then what TF32 and run-to-run nondeterminism change (logged only).
# Each part stops at its own share, and in time to leave the timings
# timing_keep seconds (the exact float32 ones timing_keep_exact).
parity() {
	local s status=0
	# Test output: results, subtests and every logged line (deviations, failures).
	local keep='^(--- |    --- |PASS|FAIL|ok|panic:)|_test\.go:[0-9]+:'
	# Exact float32 on the GPU: NVIDIA_TF32_OVERRIDE=0 stops cuDNN and cuBLAS
	# from using TF32, and --xla_gpu_enable_triton_gemm=false stops XLA from
	# writing its own GEMM kernels with Triton, which the variable does not
	# reach (on an H200 the UNet was 2e-4–4e-4 off with the variable alone,
	# 1.6e-6 with both: as close as the pure-Go backend).
	if part 150 20 "UNet parity in exact float32 (${exact_env[*]:1}), at the CPU tests' tolerances; bfloat16 vs float32 logged" "$timing_keep_exact"; then
		bounded "$s" "$log" "$keep" '' "${exact_env[@]}" "$bin/unet.test" \
			-test.run 'TestReference|TestInputGradient|TestBFloat16Reference' -test.v || status=1
	else
		status=1
	fi
	if part 150 20 "step and trajectory parity in exact float32, and the graph-noise tests" "$timing_keep_exact"; then
		bounded "$s" "$log" "$keep" 'SKIP' "${exact_env[@]}" "$bin/cadps.test" \
			-test.run 'TestReference|TestGraphNoise' -test.v || status=1
	else
		status=1
	fi
	# The timings run with XLA's default, TF32: how far that is from the
	# fixtures (the UNet, and the single steps and free-running finals).
	if part 60 20 "UNet deviations with TF32 (${tf32_env[*]:1}; the timings below use it): logged, not failures" "$timing_keep"; then
		bounded "$s" "$log" 'unet_test\.go:[0-9]+: .*deviation' '' "${tf32_env[@]}" "$bin/unet.test" \
			-test.run 'TestReference$' -test.v || true
	fi
	if part 90 20 "step and trajectory deviations with TF32: logged, not failures" "$timing_keep"; then
		bounded "$s" "$log" '^=== RUN .*/|_test\.go:[0-9]+: .*(pred_xstart|norm|x_next|sec_der|final).*deviation' '' \
			"${tf32_env[@]}" "$bin/cadps.test" -test.run 'TestReference$' -test.v || true
	fi
	# XLA's GPU kernels may reduce in another order from run to run (the same
	# graph twice differed by 4.6e-3 after four guided steps on an H200).
	if part 90 20 "run-to-run determinism with --xla_gpu_deterministic_ops=true (TF32): the graph-noise runs" "$timing_keep"; then
		precision_env tf32 --xla_gpu_deterministic_ops=true
		bounded "$s" "$log" "$keep|rror|[Uu]nknown" 'SKIP' "${penv[@]}" "$bin/cadps.test" \
			-test.run 'TestGraphNoiseRun' -test.v || true
	fi
	return $status
}

# timings runs gpucheck: the exact float32 timings (CHECK_STRICT_BATCHES),
# the TF32 ones, then each whole run in a process of its own, each group
# with its peak GPU memory. A gpucheck budget stops it starting new
# measurements (and a whole run) before its time is up; bounded ends the
# one under way.
timings() {
	local s status=0 mem="$bin/memory.csv" mempid=""
	local size="${CHECK_SIZE:-256}" drop='^(backend|model|budget):'
	if [ -n "${CHECK_STRICT_BATCHES:-}" ]; then
		local reserve=180
		[ -n "${CHECK_BATCHES-1,16}" ] || reserve=$((run_share + 20))
		if part "$total" 60 "timings in exact float32 (${exact_env[*]:1})" "$reserve"; then
			mem_start
			bounded "$s" "$log" . "$drop" "${exact_env[@]}" "$bin/gpucheck" -budget "$((s - 30))s" -size "$size" \
				-batches "$CHECK_STRICT_BATCHES" -methods "dps cadps" -bf16-batches "" -noise-steps 0 -run-steps 0 -repeat 3 ||
				status=1
			mem_stop "the exact float32 timings"
		fi
	fi
	if part "$total" 40 "timings with TF32 (${tf32_env[*]:1})" $((run_share + 20)); then
		local margin=$((s >= 120 ? 60 : s / 2))
		say "gpucheck budget $((s - margin)) s: no measurement starts after it"
		mem_start
		bounded "$s" "$log" . "$drop" "${tf32_env[@]}" "$bin/gpucheck" -budget "$((s - margin))s" -size "$size" \
			-batches "${CHECK_BATCHES-1,16}" -methods "${CHECK_METHODS:-dps cadps}" -bf16-batches "${CHECK_BF16_BATCHES-16}" \
			-noise-batch "${CHECK_NOISE_BATCH:-16}" -noise-steps "${CHECK_NOISE_STEPS:-10}" -run-steps 0 || status=1
		mem_stop "the TF32 timings, all their configurations together,"
	fi
	[ "$run_share" -gt 0 ] || return $status
	# Each batch alone in its process, so that its peak memory is its own;
	# all but the last get half of what is left (about 20 s per 1000 steps
	# at batch 1 on an H200, plus compilation), the last all of it.
	local rb rbs i want method="${CHECK_RUN_METHOD:-cadps}"
	IFS=', ' read -r -a rbs <<<"${CHECK_RUN_BATCH:-1,16}"
	for i in "${!rbs[@]}"; do
		rb=${rbs[$i]}
		want=$(seconds_left "$total" "$t0")
		[ "$i" -eq $((${#rbs[@]} - 1)) ] || want=$((want / 2))
		part "$want" 40 "a whole $method run at batch $rb with TF32 and graph noise" || continue
		mem_start
		bounded "$s" "$log" . "$drop" "${tf32_env[@]}" "$bin/gpucheck" -budget "$((s - 20))s" -size "$size" \
			-batches "" -bf16-batches "" -noise-steps 0 -run-method "$method" \
			-run-steps "${CHECK_RUN_STEPS:-1000}" -run-batch "$rb" || status=1
		mem_stop "the whole run at batch $rb alone"
	done
	return $status
}

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
	[ ! -s "$mem" ] || say "peak GPU memory used during $1 (nvidia-smi, every 250 ms): $(sort -n "$mem" | tail -n 1) MiB"
}

case "${1:-}" in
build) build ;;
run) run ;;
*) echo "usage: scripts/gpu/check.sh build|run" >&2; exit 2 ;;
esac
