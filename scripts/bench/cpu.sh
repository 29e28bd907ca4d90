#!/usr/bin/env bash
# Times the unet-a fixture model on the CPU with the toolkit's backend and
# with the PyTorch reference (../shared/bench/torch_reference.py), back to
# back on the same machine, and prints both and their ratio:
#
#   forward   one UNet forward, batch 1, 32x32
#   dps       one DPS reverse step (UNet, its input gradient, the update)
#   cadps     one CA-DPS reverse step
#
# Usage: scripts/bench/cpu.sh [-count N] [-reps N] [-threads N]
#   -count N    Go benchmark repetitions (default 3); the median and the
#               fastest are printed
#   -reps N     iterations per Go benchmark run (default 5)
#   -threads N  run both sides on N threads (GOMAXPROCS and OMP_NUM_THREADS);
#               by default each side uses what it picks itself (Go: every
#               core; PyTorch: its OpenMP default), and both are printed
# Environment: PYTHON (an interpreter that imports torch; default: the first
# of python3, /usr/bin/python3 that does), TORCH_REFERENCE (the script's
# path), GOMLX_BACKEND (another backend for the Go side, e.g. "go" for
# GoMLX's own pure-Go backend).
set -euo pipefail
cd "$(dirname "$0")/../.."

count=3
reps=5
while [[ $# -gt 0 ]]; do
	case "$1" in
	-count) count=$2; shift 2 ;;
	-reps) reps=$2; shift 2 ;;
	-threads) export GOMAXPROCS=$2 OMP_NUM_THREADS=$2; shift 2 ;;
	*) echo "usage: $0 [-count N] [-reps N] [-threads N]" >&2; exit 2 ;;
	esac
done

ref=${TORCH_REFERENCE:-../shared/bench/torch_reference.py}
if [[ ! -f $ref ]]; then
	echo "$0: PyTorch reference script $ref not found (set TORCH_REFERENCE)" >&2
	exit 1
fi
py=${PYTHON:-}
if [[ -z $py ]]; then
	for c in python3 /usr/bin/python3; do
		if command -v "$c" >/dev/null && "$c" -c 'import torch' 2>/dev/null; then
			py=$c
			break
		fi
	done
fi
if [[ -z $py ]]; then
	echo "$0: no python3 that imports torch (install python3-torch or set PYTHON)" >&2
	exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "machine: $(getconf _NPROCESSORS_ONLN) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "Go backend: ${GOMLX_BACKEND:-cadps (default)}; $(go run ./scripts/bench/kernelname)"

go test ./cadps/unet -run '^$' -bench 'Forward/unet-a' -benchtime "${reps}x" -count "$count" >"$tmp/unet.txt"
go test ./cadps/guidance -run '^$' -bench 'MethodStep/(dps|cadps)$' -benchtime "${reps}x" -count "$count" >"$tmp/step.txt"
"$py" "$ref" time --preset unet-a --device cpu --batches 1 --json "$tmp/torch.jsonl" >"$tmp/torch.txt"
echo "PyTorch: $("$py" -c 'import torch; print(torch.__version__, "with", torch.get_num_threads(), "threads")')"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

"$py" - "$tmp" <<'PY'
import json, re, statistics, sys
tmp = sys.argv[1]
def go_ms(path, pattern):
    out = []
    for line in open(path):
        if re.match(pattern, line):
            out.append(float(re.search(r"\s([\d.]+) ns/op", line).group(1)) / 1e6)
    if not out:
        sys.exit(f"no Go benchmark line matching {pattern} in {path}")
    return statistics.median(out), min(out)
go = {
    "forward": go_ms(f"{tmp}/unet.txt", r"BenchmarkForward/unet-a"),
    "dps": go_ms(f"{tmp}/step.txt", r"BenchmarkMethodStep/dps(-\d+)?\s"),
    "cadps": go_ms(f"{tmp}/step.txt", r"BenchmarkMethodStep/cadps(-\d+)?\s"),
}
torch = {}
for line in open(f"{tmp}/torch.jsonl"):
    rec = json.loads(line)
    if rec.get("record") == "measurement":
        torch[rec["kind"]] = (rec["ms"], rec["ms_min"])
print(f"{'what':8} {'Go ms':>9} {'Go min':>9} {'torch ms':>9} {'torch min':>9} {'Go/torch':>9}")
for k in ("forward", "dps", "cadps"):
    g, t = go[k], torch[k]
    print(f"{k:8} {g[0]:9.1f} {g[1]:9.1f} {t[0]:9.1f} {t[1]:9.1f} {g[0] / t[0]:9.2f}")
print("(medians; Go/torch is the ratio of the medians)")
PY
