#!/usr/bin/env bash
# Times the PyTorch reference (torch_reference.py: guided-diffusion's UNet and
# the DPS and CA-DPS steps as the released code runs them) and this toolkit
# (scripts/gpucheck through XLA) on the same GPU, in one call, and writes one
# JSON Lines file of results beside both raw logs.
#
#   scripts/gpu/compare.sh build   on the development machine: scripts/gpu/check.sh
#                                  build (binaries, fixtures, gpucompare and
#                                  torch_reference.py into build/gpu/)
#   scripts/gpu/compare.sh run     on the GPU machine, given build/gpu/, within
#                                  COMPARE_SECONDS (default 470 s), the parts of
#                                  COMPARE_PARTS (default 1-5) in this order:
#     1. torch, the reference's default precision (TF32 convolutions, IEEE matrix
#        products): forward, DPS step, CA-DPS step at each batch, and a whole
#        COMPARE_RUN_STEPS-step CA-DPS loop at each batch (torch takes the
#        smallest batch first: its first timing then sizes the others, not
#        the cold first forward that loads cuDNN);
#     2. cadps with TF32 (XLA's default): forward, DPS and CA-DPS steps at each
#        batch, then the same in bfloat16 (the network's torso) at each batch
#        of COMPARE_BF16_BATCHES;
#     3. cadps, a whole COMPARE_RUN_STEPS-step CA-DPS run with graph noise at
#        each batch of COMPARE_RUN_BATCHES, each in a process of its own;
#     4. torch with TF32 on everywhere (--tf32 on);
#     5. torch with a bfloat16 torso (--dtype bfloat16, the reference's fp16 scheme);
#     6. only when COMPARE_PARTS names it, best alone (COMPARE_PARTS=6: cold
#        Inductor compiles of the forward and of the DPS step's backward at
#        each batch take minutes): torch.compile (--compile at the
#        reference's default precision, with channels-last and cuDNN
#        autotuning; if it fails, once more with --attn-recompute off). Not
#        with --tf32 on: from PyTorch 2.9 that goes through
#        torch.backends.*.fp32_precision, after which torch.compile stops
#        with "mix of the legacy and new APIs" (pytorch/pytorch#166387);
#     7. with COMPARE_EXACT=1 (or 7 in COMPARE_PARTS), both in exact float32
#        (torch --tf32 off; cadps with TF32 and XLA's Triton GEMMs off).
#   Each part stops at its share of the time (COMPARE_SHARES), or at the end
#   of COMPARE_SECONDS when that comes first (the retry of part 6 takes what
#   the first try left of its share); a part that overruns ends its process,
#   its exit status is printed, and the next part still runs. torch stops
#   starting measurements 8 s before its SIGINT, or the setup's `import
#   torch` time plus 4 s when that is more, its share then growing by the
#   difference (torch_start: its clock starts after `import torch`, before
#   it builds the model on the GPU).
#   Each part's header in the logs names the precision variables it ran
#   with. Part 7 has no share by default: asked for, it needs one.
#
# On the GPU machine compare.sh needs only build/gpu/gpucheck.gz, gpucompare.gz
# and bench/ (about 7 MB), and python3 with torch.
#
# Output, in COMPARE_OUT (default $OUT, else build/gpu-compare), named
# COMPARE_NAME (default: the date and the GPU's name, e.g. 2026-12-06-nvidia-h100,
# then -parts- and the parts when they are not 1-5, e.g. -parts-6, or
# -parts-1-2-3-4-5-7 with COMPARE_EXACT=1):
#   NAME.jsonl           one measurement per line (impl, what, batch, precision,
#                        ms, device; steps and s_per_image for whole runs): see
#                        scripts/gpucompare; copy it into docs/gpu-runs/
#   NAME-torch.log       torch_reference.py's output, every part (also printed)
#   NAME-torch.jsonl     torch_reference.py's own JSON lines
#   NAME-cadps-tf32.log  gpucheck's output with TF32, every part (also printed)
#   NAME-cadps-fp32.log  the same in exact float32 (COMPARE_EXACT=1)
#   NAME-plan.jsonl      the measurements each part was to make, and why any
#                        of them has no result: NAME.jsonl has a line with
#                        "skipped" for each (see scripts/gpucompare); written
#                        before the first part, every part "not started",
#                        and with NAME.jsonl again as each part starts and
#                        ends (NAME.jsonl also every COMPARE_MERGE_SECONDS
#                        while a part runs), so that a call ended at any
#                        point leaves both
#   NAME-setup.log       the setup: the GPU (nvidia-smi), the plugin,
#                        GOMLX_BACKEND, the precision variables (also
#                        printed), the COMPARE_ and CHECK_ variables and PYTHON;
#                        written as compare-setup.log until the card has
#                        given its name (each probe of the card or of Python
#                        stops after CHECK_PROBE_SECONDS, 20 s, or a multiple)
# Without the plugin the cadps parts are skipped ("no PJRT plugin: ..." in the
# results) and the torch parts still run; the exit status is then 1.
#
# Environment (defaults in brackets):
#   COMPARE_PRESET [ffhq256]     the UNet (gpucheck -preset and torch --preset)
#   COMPARE_TORCH_PRESET         torch's --preset when it differs (e.g. a config.json)
#   COMPARE_SIZE [256]           gpucheck's image size (torch takes the preset's)
#   COMPARE_BATCHES [16,4,1]     batches of the forward and step timings (the
#                                largest first: what the time leaves out is the
#                                least; torch moves the smallest to the front)
#   COMPARE_BF16_BATCHES         part 2's bfloat16 batches [the largest and the
#                                smallest of COMPARE_BATCHES: 16,1]; empty: none
#   COMPARE_RUN_STEPS [50]       steps of the whole runs (0: none)
#   COMPARE_RUN_BATCHES [16]     batches of cadps's whole runs
#   COMPARE_PARTS [1 2 3 4 5]    the parts to run (6: torch.compile, 7: exact float32)
#   COMPARE_SHARES               seconds of parts 1-7, default "65 245 80 35 35 300 0"
#                                (a part not in COMPARE_PARTS takes none)
#   COMPARE_TORCH_DEVICE [cuda]  torch's --device; COMPARE_TORCH_ARGS adds arguments
#                                to every torch call (e.g. "--warmup 1 --reps 2")
#   COMPARE_REPEAT [5]           gpucheck's timed repetitions
#   COMPARE_MERGE_SECONDS [15]   how often NAME.jsonl is rebuilt while a part runs
#   PYTHON [python3]             the Python that has torch
#   CHECK_BACKEND, CHECK_PLUGIN, CHECK_XLA_OPTIONS: as for check.sh (env.sh);
#   CHECK_BACKEND=cadps with a small COMPARE_SIZE tries the script on the CPU.
#   CHECK_TF32 is refused: it would make the parts labelled TF32 exact.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
gpu="$root/build/gpu"
# shellcheck source=env.sh
. "$root/scripts/gpu/env.sh"

# torch_start is how long before its SIGINT torch starts no measurement:
# --seconds counts from after `import torch` (the import is outside it; the
# model's build on the GPU and the cold first forward pass, CUDA's
# start-up, are inside), and a call may run past its estimate. The setup
# sets it to the time its probe's `import torch` took, plus 4 s, and at
# least 8 s; each torch part's share grows by what it is over 8 s.
torch_start=8

run() {
	local total="${COMPARE_SECONDS:-470}" t0=$SECONDS status=0 bin
	refuse_check_tf32
	local parts p default_parts="1 2 3 4 5" suffix=""
	parts=$(tr ',' ' ' <<<"${COMPARE_PARTS:-$default_parts}" | xargs)
	for p in $parts; do
		case "$p" in
		[1-7]) ;;
		*) echo "compare.sh: COMPARE_PARTS: unknown part '$p' (parts 1-7, e.g. \"1 2 3 4 5\" or 6)" >&2; exit 2 ;;
		esac
	done
	[ "${COMPARE_EXACT:-0}" != 1 ] || [[ " $parts " == *" 7 "* ]] || parts="$parts 7"
	# After part 7 is added: a run with it never takes the default run's name.
	[ "$parts" = "$default_parts" ] || suffix="-parts-${parts// /-}"
	want() { [[ " $parts " == *" $1 "* ]]; }
	local -a share
	read -r -a share <<<"${COMPARE_SHARES:-65 245 80 35 35 300 0}"
	[ "${#share[@]}" -eq 7 ] || { echo "compare.sh: COMPARE_SHARES needs 7 numbers, got '${COMPARE_SHARES:-}'" >&2; exit 2; }
	# Part 7 has no share by default: asked for without one, it would only
	# report its measurements as not run.
	if want 7 && [ "${share[6]}" -le 0 ]; then
		echo "compare.sh: part 7 (exact float32, COMPARE_EXACT=1) has no time: its share, the 7th number of COMPARE_SHARES, is ${share[6]} (e.g. COMPARE_PARTS=7 COMPARE_SHARES=\"0 0 0 0 0 0 300\")" >&2
		exit 2
	fi
	unpack_bins "$gpu" gpucheck gpucompare || { echo "compare.sh: build it on the development machine first: scripts/gpu/compare.sh build" >&2; exit 2; }
	local bench="$gpu/bench/torch_reference.py"
	[ -f "$bench" ] || bench="$root/../shared/bench/torch_reference.py"
	[ -f "$bench" ] || { echo "compare.sh: torch_reference.py missing from $gpu/bench: rerun the build" >&2; exit 2; }
	local py="${PYTHON:-python3}" rc=0
	# The setup's lines go, as they come, to compare-setup.log in the output
	# folder, renamed NAME-setup.log once the card has given its name: a
	# setup stopped by the call's end leaves them. Each probe of the card
	# or of Python has a time limit (env.sh's probe).
	local device dest="${COMPARE_OUT:-${OUT:-$root/build/gpu-compare}}" name early
	mkdir -p "$dest"
	early="$dest/compare-setup.log"
	: >"$early"
	local ti=$SECONDS import_s
	probe $((3 * probe_seconds)) "$py" -c 'import torch' >/dev/null 2>&1 || rc=$?
	if [ "$rc" != 0 ]; then
		echo "compare.sh: $py cannot import torch (set PYTHON): $(probe_failed "$py -c 'import torch'" "$rc")" | tee -a "$early" >&2
		exit 2
	fi
	import_s=$((SECONDS - ti))
	torch_start=$((import_s + 4 > 8 ? import_s + 4 : 8))
	echo "import torch: $import_s s (torch starts no measurement in the last $torch_start s before its SIGINT)" >>"$early"
	# Without the plugin the toolkit's parts are skipped, saying why, and
	# PyTorch's still run.
	local noplugin=""
	if ! setup_xla_env >>"$early" 2>&1; then
		noplugin="no PJRT plugin: $(tail -n 1 "$early" | sed 's/^compare\.sh: //')"
		echo "compare.sh: the toolkit's parts are skipped ($noplugin); PyTorch's still run" >>"$early"
		tf32_env=(env) exact_env=(env)
	fi
	cat "$early"
	output_place compare "$suffix" "$dest" "${COMPARE_NAME:-}"
	local tlog="$dest/$name-torch.log" tjson="$dest/$name-torch.jsonl" setup="$dest/$name-setup.log"
	local ctf32="$dest/$name-cadps-tf32.log" cf32="$dest/$name-cadps-fp32.log" plan="$dest/$name-plan.jsonl"
	# gpucheck's logs only from the parts that run it.
	: >"$tlog"; : >"$tjson"; : >"$plan"; rm -f "$ctf32" "$cf32"
	{ cat "$early"; env | grep -E '^(COMPARE_|CHECK_|PYTHON=)' | sort || true; } >"$bin/setup.log"
	rm -f "$early"
	mv "$bin/setup.log" "$setup"

	local preset="${COMPARE_PRESET:-ffhq256}" batches="${COMPARE_BATCHES:-16,4,1}"
	local tpreset="${COMPARE_TORCH_PRESET:-$preset}" steps="${COMPARE_RUN_STEPS:-50}"
	local tbatches bf16
	tbatches=$(smallest_first "$batches")
	# Part 2's bfloat16 batches: by default the largest and the smallest
	# (at about 10-22 s of compiling per measurement, the three batches in
	# both precisions would need about 275 s).
	bf16=${COMPARE_BF16_BATCHES-$(ends_of "$batches")}

	# torch_part PART SECONDS ARGS...: one torch_reference.py time call, its
	# lines into the torch log and its JSON into the torch JSON lines; ended
	# within SECONDS (the script itself starts no call that would end later),
	# and as much more as torch_start is over 8 s (a slow `import torch`,
	# paid by every call, takes no time from the measurements).
	# NVIDIA_TF32_OVERRIDE is removed: torch records the precision it sets
	# itself, which the variable would silently override.
	torch_part() {
		local part=$1 s rc=0 extra=$((torch_start - 8)) need=$((torch_start + 12))
		[ "$2" -gt 0 ] || extra=0
		s=$(seconds_left "$total" "$t0" $(($2 + extra)))
		shift 2
		if [ "$s" -lt "$need" ]; then
			missing="part not run: $s s left of its share or of the whole (it needs $need)"
			echo "== torch $part: skipped, $s s left of its share or of the whole (it needs $need)" | tee -a "$tlog"
			return 0
		fi
		echo "== torch $part ($((SECONDS - t0)) s used so far; stopped at $s s): $*" | tee -a "$tlog"
		local from
		from=$(($(wc -l <"$tlog") + 1))
		# shellcheck disable=SC2086
		bounded "$s" "$tlog" . '' env -u NVIDIA_TF32_OVERRIDE PYTHONUNBUFFERED=1 "$py" "$bench" time --preset "$tpreset" \
			--batches "$tbatches" --device "${COMPARE_TORCH_DEVICE:-cuda}" --seconds "$((s - $(grace_of "$s") - torch_start))" --json "$tjson" \
			${COMPARE_TORCH_ARGS:-} "$@" || rc=$?
		missing=$(why_missing "$rc" "$s" "$tlog" "$from")
		return "$rc"
	}
	# cadps_part LOG SECONDS MARGIN PRECISION-ENV... -- GPUCHECK-ARGS...: one
	# gpucheck process, run with the env prefix given (tf32_env or
	# exact_env, which the log's header records), which starts no
	# measurement in its last MARGIN seconds (a whole run stops there and
	# reports its time per step).
	cadps_part() {
		local log=$1 s margin=$3 rc=0
		s=$(seconds_left "$total" "$t0" "$2")
		shift 3
		local -a envs=()
		while [ "$1" != -- ]; do envs+=("$1"); shift; done
		shift
		if [ -n "$noplugin" ]; then
			missing=$noplugin
			echo "== cadps: skipped, $noplugin" | tee -a "$log"
			return 1
		fi
		if [ "$s" -le $((margin + 15)) ]; then
			missing="part not run: $s s left of its share or of the whole (it needs more than $((margin + 15)))"
			echo "== cadps: skipped, $s s left of its share or of the whole (it needs more than $((margin + 15)))" | tee -a "$log"
			return 0
		fi
		echo "== cadps ($((SECONDS - t0)) s used so far; stopped at $s s): ${envs[*]:1} gpucheck $*" | tee -a "$log"
		local from
		from=$(($(wc -l <"$log") + 1))
		bounded "$s" "$log" . '' "${envs[@]}" "$bin/gpucheck" -budget "$((s - margin))s" \
			-preset "$preset" -size "${COMPARE_SIZE:-256}" -repeat "${COMPARE_REPEAT:-5}" "$@" || rc=$?
		missing=$(why_missing "$rc" "$s" "$log" "$from")
		return "$rc"
	}
	# why_missing STATUS SECONDS LOG FROM prints why a part that ran within
	# SECONDS and ended with STATUS left a measurement without a result,
	# reading the part's lines of LOG (from line FROM) for the tool's own
	# time budget: torch_reference.py skips what its --seconds leaves no
	# time for, gpucheck what its -budget does not (gpucheck's skipped
	# lines carry their own reason into the results).
	why_missing() {
		local budget
		budget=$(tail -n +"$4" "$3" | grep -Eo 'skipped to stay within --seconds [0-9.]+|the [0-9hms.]+ budget is spent' | head -n 1 || true)
		case "$budget" in
		skipped*) budget="--seconds ${budget##* }" ;;
		the*) budget=${budget#the } budget="-budget ${budget%% *}" ;;
		esac
		case "$1:$budget" in
		0:?*) echo "not measured: the tool skipped it to keep to its own time budget ($budget) within the part's $2 s (see ${3##*/})" ;;
		0:) echo "not measured: the part ended within its $2 s without it (see ${3##*/})" ;;
		124:* | 137:*) echo "not measured: the part was stopped at its $2 s (exit status $1; see ${3##*/})" ;;
		*) echo "not measured: the part ended with exit status $1 (see ${3##*/})" ;;
		esac
	}
	# The plan: every part's measurements, written before any part runs,
	# each part's reason for a measurement without a result updated as the
	# part starts and ends (see scripts/gpucompare), and NAME.jsonl rebuilt
	# from it and the logs each time, so that a call ended at any point
	# leaves both current.
	local -a plan_key=() plan_row=() plan_why=()
	# plan_add KEY IMPL PRECISION OPTIONS "WHAT..." BATCHES adds a part's
	# measurements, not started, under KEY.
	plan_add() {
		local what
		what=$(sed 's/[^ ][^ ]*/"&"/g; s/ /,/g' <<<"$5")
		plan_key+=("$1")
		plan_row+=("$(printf '"impl":"%s","precision":"%s","options":"%s","what":[%s],"batches":[%s]' \
			"$2" "$3" "$4" "$what" "$(tr -d ' ' <<<"$6")")")
		plan_why+=("not started: the call ended before the part began")
	}
	# plan_set KEY WHY sets the reason of KEY's measurements, then writes
	# the plan (through a temporary file: never half written) and rebuilds
	# NAME.jsonl.
	plan_set() {
		local i why=${2//\\/\\\\}
		why=${why//\"/\\\"}
		for i in "${!plan_key[@]}"; do
			[ "${plan_key[$i]}" != "$1" ] || plan_why[i]=$why
		done
		for i in "${!plan_key[@]}"; do
			printf '{%s,"skipped":"%s"}\n' "${plan_row[$i]}" "${plan_why[$i]}"
		done >"$plan.tmp"
		mv -f "$plan.tmp" "$plan"
		merge >/dev/null 2>&1 || true
	}
	# running KEY LOG marks KEY's part as running, and rebuilds NAME.jsonl
	# every COMPARE_MERGE_SECONDS while it runs (what the part has measured
	# so far); ran KEY stops that and marks the part ended, with $missing as
	# the reason.
	local merger=""
	running() {
		plan_set "$1" "not measured: the call ended while the part ran (see ${2##*/})"
		(
			w=""
			trap 'kill "$w" 2>/dev/null; exit 0' TERM
			while :; do
				sleep "${COMPARE_MERGE_SECONDS:-15}" &
				w=$!
				wait "$w"
				merge || true
			done
		) >/dev/null 2>&1 &
		merger=$!
	}
	ran() {
		if [ -n "$merger" ]; then
			kill "$merger" 2>/dev/null || true
			wait "$merger" 2>/dev/null || true
			merger=""
		fi
		plan_set "$1" "$missing"
	}
	# merge writes NAME.jsonl (gpucompare's write is atomic: a temporary
	# file renamed).
	merge() {
		local args=(-device "$device" -out "$dest/$name.jsonl" -torch "$tjson" -plan "$plan")
		[ -s "$ctf32" ] && args+=(-cadps "tf32=$ctf32")
		[ -s "$cf32" ] && args+=(-cadps "fp32=$cf32")
		"$bin/gpucompare" "${args[@]}"
	}
	local missing=""

	echo "compare: $device, parts $parts, preset $preset, batches $batches (torch's order $tbatches; bfloat16 $bf16), whole runs of $steps steps; $total s in all" |
		tee -a "$setup"
	local run_arg=()
	[ "$steps" -gt 0 ] && run_arg=(--steps-run "$steps")
	local steps_what="forward dps-step cadps-step" rb rbs=() n=0 i
	IFS=', ' read -r -a rbs <<<"${COMPARE_RUN_BATCHES:-16}"
	[ "$steps" -le 0 ] || n=${#rbs[@]}
	if want 1; then plan_add p1 torch default "" "$steps_what${run_arg[*]:+ cadps-run}" "$batches"; fi
	if want 2; then
		plan_add p2 cadps tf32 "" "$steps_what" "$batches"
		if [ -n "$bf16" ]; then plan_add p2 cadps bf16 "" "$steps_what" "$bf16"; fi
	fi
	if want 3; then
		for i in "${!rbs[@]}"; do
			if [ "$i" -lt "$n" ]; then plan_add "p3-$i" cadps tf32 "" cadps-run "${rbs[$i]}"; fi
		done
	fi
	if want 4; then plan_add p4 torch tf32 "" "$steps_what" "$batches"; fi
	if want 5; then plan_add p5 torch bf16 "" "$steps_what" "$batches"; fi
	if want 6; then plan_add p6 torch default compile,channels-last,cudnn-benchmark "$steps_what" "$batches"; fi
	if want 7; then
		plan_add p7t torch fp32 "" "$steps_what" "$batches"
		plan_add p7c cadps fp32 "" "$steps_what" "$batches"
	fi
	plan_set "" ""

	if want 1; then
		running p1 "$tlog"
		torch_part "default precision" "${share[0]}" "${run_arg[@]}" || status=1
		ran p1
	fi
	if want 2; then
		running p2 "$ctf32"
		cadps_part "$ctf32" "${share[1]}" 30 "${tf32_env[@]}" -- -batches "$batches" -bf16-batches "$bf16" \
			-noise-steps 0 -run-steps 0 || status=1
		ran p2
	fi
	if want 3 && [ "$n" -gt 0 ]; then
		# A fresh process's first step at batch 16 (the compile) took 39 s on
		# an H200: the margin keeps gpucheck's own stop at its budget 10 s
		# before the SIGINT that bounded sends.
		for i in "${!rbs[@]}"; do
			rb=${rbs[$i]}
			running "p3-$i" "$ctf32"
			cadps_part "$ctf32" $((share[2] / n)) 20 "${tf32_env[@]}" -- -batches "" -bf16-batches "" \
				-noise-steps 0 -run-steps "$steps" -run-batch "$rb" || status=1
			ran "p3-$i"
		done
	fi
	if want 4; then
		running p4 "$tlog"
		torch_part "TF32" "${share[3]}" --tf32 on || status=1
		ran p4
	fi
	if want 5; then
		running p5 "$tlog"
		torch_part "bfloat16" "${share[4]}" --dtype bfloat16 || status=1
		ran p5
	fi
	# torch.compile where it works: a failure is reported in the log, and a
	# failed measurement is tried once more without the attention checkpointing.
	# Default precision: torch.compile fails once TF32 is set through the
	# fp32_precision API, which torch_reference.py's --tf32 on uses where it exists.
	# The retry gets what the first try left of the share.
	if want 6; then
		local t6=$SECONDS
		running p6 "$tlog"
		torch_part "compile" "${share[5]}" --channels-last --cudnn-benchmark --compile || true
		ran p6
		if sed -n '/^== torch compile/,$p' "$tlog" | grep -Eq '^(forward|dps|cadps) .*failed:'; then
			plan_add p6b torch default compile,channels-last,cudnn-benchmark,attn-recompute-off "$steps_what" "$batches"
			running p6b "$tlog"
			torch_part "compile, attention recompute off" $((share[5] - (SECONDS - t6))) --channels-last --cudnn-benchmark \
				--compile --attn-recompute off || true
			ran p6b
		fi
	fi
	if want 7; then
		# torch gets at most half of the share, cadps what torch left of it.
		local t7=$SECONDS
		running p7t "$tlog"
		torch_part "exact float32" $((share[6] / 2)) --tf32 off || status=1
		ran p7t
		running p7c "$cf32"
		cadps_part "$cf32" $((share[6] - (SECONDS - t7))) 30 "${exact_env[@]}" -- \
			-batches "$batches" -bf16-batches "" -noise-steps 0 -run-steps 0 || status=1
		ran p7c
	fi

	if merge; then
		echo "wrote $dest/$name.jsonl ($(wc -l <"$dest/$name.jsonl") measurements) from $name-torch.jsonl and $name-cadps-*.log"
	else
		echo "compare.sh: no $name.jsonl (gpucompare failed); the raw logs are in $dest" >&2
		status=1
	fi
	echo "total: $((SECONDS - t0)) s"
	exit $status
}

# smallest_first BATCHES prints the comma-separated BATCHES with the
# smallest first, the others in their order.
smallest_first() {
	local -a bs
	local b min="" out="" skip=1
	IFS=', ' read -r -a bs <<<"$1"
	for b in "${bs[@]}"; do
		[ -n "$min" ] && [ "$b" -ge "$min" ] || min=$b
	done
	for b in "${bs[@]}"; do
		if [ "$b" = "$min" ] && [ "$skip" = 1 ]; then skip=0; continue; fi
		out="$out,$b"
	done
	echo "$min$out"
}

# ends_of BATCHES prints the largest and the smallest of the comma-separated
# BATCHES, in that order (one when they are the same).
ends_of() {
	local -a bs
	local b min="" max=""
	IFS=', ' read -r -a bs <<<"$1"
	for b in "${bs[@]}"; do
		[ -n "$min" ] && [ "$b" -ge "$min" ] || min=$b
		[ -n "$max" ] && [ "$b" -le "$max" ] || max=$b
	done
	if [ "$min" = "$max" ]; then echo "$max"; else echo "$max,$min"; fi
}

case "${1:-}" in
build) exec "$root/scripts/gpu/check.sh" build ;;
run) run ;;
*) echo "usage: scripts/gpu/compare.sh build|run" >&2; exit 2 ;;
esac
