#!/usr/bin/env bash
# Where the toolkit's DPS step spends its time on a GPU, and which XLA
# settings move it, in one call of about 200 seconds (TUNE_SECONDS).
#
#   scripts/gpu/tune.sh run   on the GPU machine, given build/gpu/gpucheck.gz
#                             (scripts/gpu/compare.sh build), within
#                             TUNE_SECONDS (default 200 s):
#     1. with TUNE_PROFILE=1 and nsys (Nsight Systems) on the PATH (else
#        skipped, saying so at the start): the forward pass and the DPS step at
#        batch TUNE_BATCH, each called TUNE_PROFILE_REPEAT (30) times,
#        profiled; the GPU kernels launched at least that often (the timed
#        calls, not the compile's autotuning) by total time, and their
#        share by kind: matrix products and convolutions (cuBLAS, cuDNN,
#        CUTLASS and XLA's Triton GEMMs) against everything else (XLA's
#        fusions: GroupNorm, SiLU, softmax, the update); and, from the
#        trace of every kernel, the share of time the GPU is busy during
#        the last timed calls and the waits between them;
#     2. the same timings under each XLA setting of TUNE_VARIANTS, each in a
#        process of its own (an XLA that does not know a flag stops only
#        that one), TF32 as XLA's default; with TUNE_MEMORY=1 each also
#        dumps XLA's compiled modules and reports the memory each needs, from
#        their buffer assignments ("Total bytes used"), not the allocator's
#        high mark.
#
# Output, in TUNE_OUT (default $OUT, else build/gpu-tune), named TUNE_NAME
# (default: the date, the GPU's name and "tune", e.g.
# 2026-12-06-nvidia-h100-80gb-hbm3-tune):
#   NAME-kernels.txt   with TUNE_PROFILE=1, part 1: the kernel table and the
#                      shares by kind, and how long the GPU waits between the
#                      timed calls (scripts/gpu/nsys_report.py), or why there
#                      is none
#   NAME.log           the setup (GPU, plugin, GOMLX_BACKEND, precision), then
#                      part 2: gpucheck's output, each variant under
#                      "== variant NAME: VARIABLES" (its precision and XLA_FLAGS)
#   NAME-summary.txt   part 2: one line per variant and measurement, ms
#                      per call (also printed)
#   NAME-memory.txt    with TUNE_MEMORY=1: per variant, each compiled
#                      module's "Total bytes used" (the dumps are removed)
#
# Environment (defaults in brackets):
#   TUNE_BATCH [16]      the batch
#   TUNE_PRESET [ffhq256] the UNet (gpucheck -preset: ffhq256, imagenet256)
#   TUNE_SIZE [256]      the image size (gpucheck -size)
#   TUNE_MEMORY [0]      1: the compiled memory of part 2 (e.g. with
#                        TUNE_VARIANTS="default=" and each batch in turn)
#   TUNE_REPEAT [5]      timed repetitions (the median is reported)
#   TUNE_PROFILE [0]     1: part 1, the nsys profile (nsys must be on the PATH)
#   TUNE_NSYS_SECONDS [60] part 1's share of TUNE_SECONDS
#   TUNE_PROFILE_REPEAT [30] part 1's calls of each
#   TUNE_VARIANTS        "NAME=FLAGS" entries separated by ";", FLAGS added
#                        to XLA_FLAGS; by default:
#                        "default= ; nhwc=--xla_gpu_force_conv_nhwc=true ;
#                        no-command-buffers=--xla_gpu_enable_command_buffer="
#                        (XLA's default, convolutions forced to NHWC, no CUDA
#                        graphs); e.g. add "; cublas-gemms=
#                        --xla_gpu_enable_triton_gemm=false" with more time
#   CHECK_BACKEND, CHECK_PLUGIN, CHECK_XLA_OPTIONS: as for check.sh (env.sh);
#   CHECK_TF32=0 runs every part in exact float32 instead of TF32 (the log
#   names the precision);
#   CHECK_BACKEND=cadps with a small TUNE_SIZE tries the script on the CPU
#   (the XLA settings then change nothing).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=env.sh
. "$root/scripts/gpu/env.sh"

default_variants="default= ; nhwc=--xla_gpu_force_conv_nhwc=true ; no-command-buffers=--xla_gpu_enable_command_buffer="

run() {
	local total="${TUNE_SECONDS:-200}" t0=$SECONDS status=0 bin
	unpack_bins "$root/build/gpu" gpucheck || { echo "tune.sh: build it on the development machine first: scripts/gpu/compare.sh build" >&2; exit 2; }
	# The setup's lines, printed and kept at the top of NAME.log.
	if ! setup_xla_env >"$bin/setup.log"; then cat "$bin/setup.log"; exit 2; fi
	cat "$bin/setup.log"
	local device dest name
	output_place tune -tune "${TUNE_OUT:-}" "${TUNE_NAME:-}"
	local log="$dest/$name.log" summary="$dest/$name-summary.txt" kernels="$dest/$name-kernels.txt"
	local memory="$dest/$name-memory.txt"
	cat "$bin/setup.log" >"$log"
	: >"$summary"
	[ "${TUNE_MEMORY:-0}" != 1 ] || : >"$memory"
	local -a args=(-preset "${TUNE_PRESET:-ffhq256}" -size "${TUNE_SIZE:-256}" -batches "${TUNE_BATCH:-16}" -methods dps
		-bf16-batches "" -noise-steps 0 -run-steps 0)
	left() { seconds_left "$total" "$t0"; }
	local -a variants
	IFS=';' read -r -a variants <<<"${TUNE_VARIANTS:-$default_variants}"
	local v
	for v in "${variants[@]}"; do
		v=$(sed 's/^ *//; s/ *$//' <<<"$v")
		[[ -z "$v" || "$v" == *=* ]] || { echo "tune.sh: TUNE_VARIANTS entry '$v' is not NAME=FLAGS" >&2; exit 2; }
	done
	echo "tune: $device, ${TUNE_PRESET:-ffhq256} at batch ${TUNE_BATCH:-16}, size ${TUNE_SIZE:-256}; $total s in all" | tee -a "$log"
	# Every part runs at one precision, XLA's default unless CHECK_TF32=0.
	echo "precision: ${default_env[*]:1}" | tee -a "$log"
	# Said first: whether there will be a kernel profile.
	local profile=0
	if [ "${TUNE_PROFILE:-0}" != 1 ]; then
		echo "kernel profile: off (TUNE_PROFILE=1 turns it on where nsys is on the PATH); the XLA settings only" | tee -a "$log"
	elif ! command -v nsys >/dev/null; then
		echo "kernel profile: none, nsys is not on the PATH (TUNE_PROFILE=1); the XLA settings only" | tee -a "$log" "$kernels"
	else
		profile=1
		echo "kernel profile: $(command -v nsys)" | tee -a "$log"
	fi

	# Part 1: the kernels of a profiled run.
	local share="${TUNE_NSYS_SECONDS:-60}"
	if [ "$profile" = 0 ]; then
		:
	elif [ "$share" -lt 20 ] || [ "$(left)" -lt 20 ]; then
		echo "no profile: TUNE_NSYS_SECONDS=$share, $(left) s left (it needs 20)" | tee "$kernels"
	else
		[ "$share" -le "$(left)" ] || share=$(left)
		local rep="$dest/$name-profile" reps="${TUNE_PROFILE_REPEAT:-30}"
		echo "== profile ($share s): nsys profile gpucheck ${args[*]} -repeat $reps" | tee -a "$log"
		# The profile gets its share less the time nsys then takes to export
		# the report (a quarter of it).
		local ps=$((share * 3 / 4))
		bounded "$ps" "$log" '' '' "${default_env[@]}" nsys profile --force-overwrite=true --trace=cuda \
			--output "$rep" "$bin/gpucheck" -budget "$((ps - $(grace_of "$ps") - 5))s" "${args[@]}" -repeat "$reps" || status=1
		if [ -f "$rep.nsys-rep" ]; then
			bounded "$(seconds_left "$total" "$t0" $((share - ps)))" "$log" '' '' nsys stats --force-export=true \
				--report cuda_gpu_kern_sum,cuda_gpu_trace --format csv --output "$rep" "$rep.nsys-rep" || status=1
			python3 "$root/scripts/gpu/nsys_report.py" kernels "${rep}_cuda_gpu_kern_sum.csv" "$reps" >"$kernels" 2>&1 || status=1
			{ echo; echo "== the GPU between the timed calls"; python3 "$root/scripts/gpu/nsys_report.py" gaps "${rep}_cuda_gpu_trace.csv" "$reps"; } >>"$kernels" 2>&1 || status=1
			rm -f "$rep.nsys-rep" "$rep.sqlite" "${rep}_cuda_gpu_kern_sum.csv" "${rep}_cuda_gpu_trace.csv"
		else
			echo "nsys wrote no report (see $log)" >"$kernels"
			status=1
		fi
		head -n 12 "$kernels"
	fi

	# Part 2: the variants, each with an equal share of what is left.
	local i vname vflags s
	for i in "${!variants[@]}"; do
		v=$(sed 's/^ *//; s/ *$//' <<<"${variants[$i]}")
		[ -n "$v" ] || continue
		vname=${v%%=*}
		vflags=${v#*=}
		s=$(($(left) / (${#variants[@]} - i)))
		if [ "$s" -lt 15 ]; then
			echo "== variant $vname: skipped, no time left" | tee -a "$log"
			continue
		fi
		local dump="$dest/$name-xla-dump-$vname"
		[ "${TUNE_MEMORY:-0}" = 1 ] && vflags="$vflags --xla_dump_to=$dump"
		precision_env "$default_precision" "$vflags"
		echo "== variant $vname: ${penv[*]:1} ($s s)" | tee -a "$log"
		bounded "$s" "$log" '' '' "${penv[@]}" \
			"$bin/gpucheck" -budget "$((s - $(grace_of "$s") - 3))s" "${args[@]}" -repeat "${TUNE_REPEAT:-5}" || status=1
		if [ "${TUNE_MEMORY:-0}" = 1 ]; then
			compiled_memory "$vname" "$dump" | tee -a "$memory"
			rm -rf "$dump"
		fi
		# gpucheck's lines: "WHAT batch B: first call … ms, step MS ms, …".
		sed -n "s/^\([a-z0-9:=,-]*\) *batch *\([0-9]*\): first call[^,]*, step *\([0-9.]*\) ms.*/$vname \1 \2 \3/p" \
			<(sed -n "/^== variant $vname:/,/^== variant /p" "$log") | tee -a "$summary"
	done
	echo "wrote $log and $summary"
	[ ! -f "$kernels" ] || echo "wrote $kernels"
	[ "${TUNE_MEMORY:-0}" != 1 ] || echo "wrote $memory"
	echo "total: $((SECONDS - t0)) s"
	exit $status
}

# compiled_memory VARIANT DUMP prints, for each module XLA compiled into the
# folder DUMP, the memory its buffer assignment needs, or what the folder
# holds when it has no buffer assignment.
compiled_memory() {
	local f found=0
	for f in "$2"/*buffer-assignment.txt; do
		[ -f "$f" ] || continue
		found=1
		echo "$1 ${f##*/}: $(grep -m 1 'Total bytes used' "$f" || echo 'no "Total bytes used" line')"
	done
	if [ "$found" = 0 ]; then
		echo "$1: no buffer assignment in $2; it holds: $(ls "$2" 2>/dev/null | head -n 5 | tr '\n' ' ')"
	fi
}

case "${1:-}" in
run) run ;;
*) echo "usage: scripts/gpu/tune.sh run (build with scripts/gpu/compare.sh build)" >&2; exit 2 ;;
esac
