#!/bin/sh
# LPIPS (alex, 16 pairs of 256x256 images) and FID Inception pool3 features
# (16 images of 256x256) on the CPU: the toolkit's Go benchmarks
# (BenchmarkLPIPS, BenchmarkFIDFeatures; backend from $GOMLX_BACKEND, the
# pure-Go one by default) against PyTorch on the same machine
# (scripts/bench/metrics_torch.py), and the ratio Go / PyTorch.
#
# Usage, from the module root: scripts/bench/metrics.sh [-threads N] [ITERATIONS]
# (default 1; Debian's python3-torch and python3-torchvision are needed).
# -threads N runs both sides on N threads (GOMAXPROCS, OMP_NUM_THREADS);
# by default each uses every core.
set -eu
if [ "${1:-}" = "-threads" ]; then
	export GOMAXPROCS=$2 OMP_NUM_THREADS=$2
	shift 2
fi
iters=${1:-1}
python=${PYTHON:-/usr/bin/python3}
go_out=$(go test -timeout 60m -run '^$' -bench '^(BenchmarkLPIPS|BenchmarkFIDFeatures)$' -benchtime "${iters}x" \
	./cadps/metrics/lpips ./cadps/metrics/fid)
echo "$go_out" | grep '^Benchmark' >&2
py_out=$("$python" scripts/bench/metrics_torch.py "$iters" 2>/dev/null)
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
