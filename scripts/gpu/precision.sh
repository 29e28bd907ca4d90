#!/usr/bin/env bash
# Whether a reduced precision changes a restoration, on a GPU: the shipped
# small prior restores the ten test images of cadps/prior/small/testimages
# (super-resolution ×2, box inpainting and Gaussian blur; DPS and CA-DPS;
# PRECISION_STEPS steps, graph noise, seed 1) once in each precision, with
# XLA's deterministic ops so that only the precision differs between runs:
#
#   exact  exact float32 (NVIDIA_TF32_OVERRIDE=0, XLA's Triton GEMMs off)
#   tf32   XLA's default (TF32 tensor cores)
#   bf16   TF32 and the network's torso in bfloat16 (cadps reproduce -bf16)
#
# then compares each reconstruction with the exact one (PSNR and SSIM between
# the two 8-bit images, `cadps metrics`) and each item's PSNR and SSIM
# against the clean image with the exact run's.
#
#   scripts/gpu/precision.sh run   on the GPU machine, given
#                                  build/gputrain/cadps.gz (scripts/gpu/train.sh
#                                  build), within PRECISION_SECONDS (default 240)
#
# Each precision gets an equal share of what is left of the time, less 20 s
# for the comparison (a run stopped early restores fewer items; the
# comparison takes the items both have). Output, in PRECISION_OUT (default
# $OUT, else build/gpu-precision), named PRECISION_NAME (default: the date,
# the GPU's name and "precision"):
#   NAME.txt           the variables each precision ran with, then per
#                      precision against exact: the agreement of the
#                      images and the change of each metric (also printed)
#   NAME.log           each run's whole output
#   NAME-items.csv     per item: precision, task, method, image, PSNR and
#                      SSIM against exact, ΔPSNR and ΔSSIM against the clean
#                      image
#   NAME-runs.tar.gz   each run as cadps reproduce writes it, in a folder
#                      NAME-PREC/ (metrics.csv, the tables, the grids, each
#                      item's record; the restored images only with
#                      PRECISION_KEEP=1), packed into one file so that the
#                      output folder holds four files, not dozens
#
# Environment (defaults in brackets): PRECISION_STEPS [100],
# PRECISION_LIMIT [10] images, PRECISION_PRECISIONS ["exact tf32 bf16"; exact
# first], PRECISION_TASKS (cadps reproduce -task specs separated by spaces;
# default "super_resolution:factor=2 inpaint_box:size=12
# gaussian_blur:kernel_size=9,intensity=1"), PRECISION_METHODS [dps,cadps];
# PRECISION_CADPS (a cadps binary to run instead of build/gputrain/cadps.gz);
# CHECK_BACKEND, CHECK_PLUGIN, CHECK_XLA_OPTIONS as for check.sh (env.sh);
# CHECK_BACKEND=cadps tries the script on the CPU (exact and tf32 are then
# the same float32 arithmetic; bf16 is bfloat16 on the CPU). CHECK_TF32 is
# refused: each precision sets its own.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=env.sh
. "$root/scripts/gpu/env.sh"

run() {
	local total="${PRECISION_SECONDS:-240}" t0=$SECONDS status=0 bin cadps="${PRECISION_CADPS:-}"
	refuse_check_tf32
	if [ -z "$cadps" ]; then
		unpack_bins "$root/build/gputrain" cadps || { echo "precision.sh: build it on the development machine first: scripts/gpu/train.sh build" >&2; exit 2; }
		cadps="$bin/cadps"
	fi
	setup_xla_env || exit 2
	local device dest name
	output_place precision -precision "${PRECISION_OUT:-}" "${PRECISION_NAME:-}"
	local -a precisions tasks=()
	read -r -a precisions <<<"${PRECISION_PRECISIONS:-exact tf32 bf16}"
	[ "${precisions[0]:-}" = exact ] || { echo "precision.sh: PRECISION_PRECISIONS must start with exact, got '${precisions[*]}'" >&2; exit 2; }
	local p
	for p in "${precisions[@]}"; do
		case "$p" in exact | tf32 | bf16) ;; *) echo "precision.sh: unknown precision '$p' in PRECISION_PRECISIONS (exact, tf32, bf16)" >&2; exit 2 ;; esac
	done
	local t
	for t in ${PRECISION_TASKS:-super_resolution:factor=2 inpaint_box:size=12 gaussian_blur:kernel_size=9,intensity=1}; do
		tasks+=(-task "$t")
	done
	local deterministic="--xla_gpu_deterministic_ops=true"
	echo "precision: $device; ${precisions[*]}; $total s in all"

	# The comparison after the runs (one `cadps metrics` per image) gets 20 s.
	local s i=0 log="$dest/$name.log" settings=""
	: >"$log"
	for p in "${precisions[@]}"; do
		local -a extra=()
		case "$p" in
		exact) precision_env exact "$deterministic" ;;
		tf32) precision_env tf32 "$deterministic" ;;
		bf16) precision_env tf32 "$deterministic" && extra=(-bf16) ;;
		esac
		local -a envs=("${penv[@]}")
		# An equal share of what is left, so that every precision runs.
		s=$(($(seconds_left "$total" "$t0") - 20))
		s=$((s > 0 ? s / (${#precisions[@]} - i) : 0))
		i=$((i + 1))
		if [ "$s" -lt 20 ]; then echo "== $p: skipped, $s s left (it needs 20)"; status=1; continue; fi
		echo "== $p ($((SECONDS - t0)) s used so far; stopped at $s s): ${envs[*]:1}" | tee -a "$log"
		settings+="$p: ${envs[*]:1}"$'\n'
		rm -rf "${dest:?}/$name-$p"
		bounded "$s" "$log" . '' "${envs[@]}" "$cadps" reproduce "$root/cadps/prior/small/testimages" \
			"${tasks[@]}" -methods "${PRECISION_METHODS:-dps,cadps}" -steps "${PRECISION_STEPS:-100}" \
			-limit "${PRECISION_LIMIT:-10}" -graph-noise -seed 1 -quiet -out "$dest/$name-$p" "${extra[@]}" || status=1
	done

	# Each reconstruction against the exact one, then the summary.
	local img rel m
	echo "precision,task,method,image,psnr_vs_exact,ssim_vs_exact" >"$dest/$name-pairs.csv"
	for p in "${precisions[@]:1}"; do
		[ -d "$dest/$name-$p" ] || continue
		while IFS= read -r img; do
			rel=${img#"$dest/$name-exact/"}
			[ -f "$dest/$name-$p/$rel" ] || continue
			m=$("$cadps" metrics "$img" "$dest/$name-$p/$rel") || { status=1; continue; }
			IFS=/ read -r -a parts <<<"$rel" # TASK/METHOD/recon/NNNNN.png
			echo "$p,${parts[0]},${parts[1]},${parts[3]%.png},$(sed 's/.*"psnr":\([^,]*\),"ssim":\([^,}]*\).*/\1,\2/' <<<"$m")" >>"$dest/$name-pairs.csv"
		done < <(find "$dest/$name-exact" -path '*/recon/*.png' | sort)
	done
	printf 'settings of each run\n%s\n' "$settings" >"$dest/$name.txt"
	python3 - "$dest" "$name" "${precisions[@]}" >>"$dest/$name.txt" <<'PY' || status=1
import csv, math, os, statistics, sys
dest, name, precs = sys.argv[1], sys.argv[2], sys.argv[3:]

def metrics(p):
    path = os.path.join(dest, f"{name}-{p}", "metrics.csv")
    if not os.path.exists(path):
        return {}
    rows = {}
    for r in csv.DictReader(open(path, newline="")):
        rows[(r["task"], r["method"], int(r["index"]))] = r
    return rows

exact = metrics("exact")
pairs = list(csv.DictReader(open(os.path.join(dest, f"{name}-pairs.csv"), newline="")))
out = csv.writer(open(os.path.join(dest, f"{name}-items.csv"), "w", newline=""))
out.writerow(["precision", "task", "method", "image", "psnr_vs_exact", "ssim_vs_exact", "delta_psnr", "delta_ssim"])
print(f"{len(exact)} items restored in exact float32")
for p in precs[1:]:
    other = metrics(p)
    mine = [r for r in pairs if r["precision"] == p]
    if not other or not mine:
        print(f"{p}: no results")
        continue
    dps, dss, between, sims, identical = [], [], [], [], 0
    for r in mine:
        key = (r["task"], r["method"], int(r["image"]))  # recon/NNNNN.png is item NNNNN
        e, o = exact.get(key), other.get(key)
        dp = ds = ""
        if e and o and e["status"] == o["status"] == "ok":
            dp, ds = float(o["psnr"]) - float(e["psnr"]), float(o["ssim"]) - float(e["ssim"])
            dps.append(dp)
            dss.append(ds)
        # Identical images: cadps metrics writes their PSNR as "+Inf".
        if r["psnr_vs_exact"] in ("null", "") or math.isinf(float(r["psnr_vs_exact"])):
            identical += 1
        else:
            between.append(float(r["psnr_vs_exact"]))
        sims.append(float(r["ssim_vs_exact"]))
        out.writerow([p, r["task"], r["method"], e["image"] if e else r["image"], r["psnr_vs_exact"], r["ssim_vs_exact"], dp, ds])
    print(f"\n{p} against exact float32, {len(mine)} reconstructions:")
    print(f"  identical 8-bit images: {identical}")
    if between:
        print(f"  PSNR between the images, where they differ: median {statistics.median(between):.2f} dB, "
              f"lowest {min(between):.2f} dB")
    print(f"  SSIM between the images: mean {statistics.mean(sims):.4f}, lowest {min(sims):.4f}")
    if dps:
        print(f"  change of PSNR against the clean image: mean {statistics.mean(dps):+.3f} dB, "
              f"largest |change| {max(abs(d) for d in dps):.3f} dB")
        print(f"  change of SSIM against the clean image: mean {statistics.mean(dss):+.4f}, "
              f"largest |change| {max(abs(d) for d in dss):.4f}")
PY
	rm -f "$dest/$name-pairs.csv"
	cat "$dest/$name.txt"
	if [ "${PRECISION_KEEP:-0}" != 1 ]; then
		find "$dest" -path "$dest/$name-*/*" -name '*.png' -not -name 'grid*' -delete
	fi
	local -a runs=()
	for p in "${precisions[@]}"; do
		[ ! -d "$dest/$name-$p" ] || runs+=("$name-$p")
	done
	if [ "${#runs[@]}" -gt 0 ]; then
		if tar -czf "$dest/$name-runs.tar.gz" -C "$dest" "${runs[@]}"; then
			rm -rf "${runs[@]/#/$dest/}"
			echo "the runs are in $dest/$name-runs.tar.gz"
		else
			status=1
		fi
	fi
	echo "total: $((SECONDS - t0)) s"
	exit $status
}

case "${1:-}" in
run) run ;;
*) echo "usage: scripts/gpu/precision.sh run (build with scripts/gpu/train.sh build)" >&2; exit 2 ;;
esac
