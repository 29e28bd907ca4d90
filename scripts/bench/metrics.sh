#!/usr/bin/env bash
# LPIPS (alex, 16 pairs of 256x256 images) and FID Inception pool3 features
# (16 images of 256x256) on the CPU: the toolkit's Go benchmarks
# (BenchmarkLPIPS, BenchmarkFIDFeatures; backend from $GOMLX_BACKEND, the
# pure-Go one by default) against PyTorch on the same machine
# (scripts/bench/metrics_torch.py), and the ratio Go / PyTorch.
#
# Usage: scripts/bench/metrics.sh [-threads N] [ITERATIONS]
# (default 1; Debian's python3-torch and python3-torchvision are needed, or
# PYTHON naming an interpreter that has torch and torchvision).
# -threads N runs both sides on N threads (GOMAXPROCS, OMP_NUM_THREADS);
# by default each uses every core.
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ "${1:-}" = "-threads" ]; then
	[ $# -ge 2 ] || { echo "metrics.sh: -threads needs a number" >&2; exit 2; }
	export GOMAXPROCS=$2 OMP_NUM_THREADS=$2
	shift 2
fi
iters=${1:-1}
python=${PYTHON:-/usr/bin/python3}
if ! "$python" -c 'import torch, torchvision' 2>/dev/null; then
	echo "metrics.sh: $python cannot import torch and torchvision (apt-get install python3-torch python3-torchvision, or set PYTHON)" >&2
	exit 2
fi
go_out=$(go test -timeout 60m -run '^$' -bench '^(BenchmarkLPIPS|BenchmarkFIDFeatures)$' -benchtime "${iters}x" \
	./cadps/metrics/lpips ./cadps/metrics/fid)
echo "$go_out" | grep '^Benchmark' >&2
py_out=$("$python" scripts/bench/metrics_torch.py "$iters")
echo "$py_out" >&2
printf '%s\n%s\n' "$go_out" "$py_out" | awk '
	/^BenchmarkLPIPS/ { go["lpips"] = $3 / 1e9 }
	/^BenchmarkFIDFeatures/ { go["fid"] = $3 / 1e9 }
	/^(lpips|fid) / { torch[$1] = $2 }
	END {
		printf "%-6s %10s %10s %8s\n", "metric", "go_s", "torch_s", "ratio"
		n = split("lpips fid", k, " ")
		for (i = 1; i <= n; i++)
			printf "%-6s %10.3f %10.3f %8.2f\n", k[i], go[k[i]], torch[k[i]], go[k[i]] / torch[k[i]]
	}'
