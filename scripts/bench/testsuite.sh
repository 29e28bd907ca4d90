#!/usr/bin/env bash
# Times every part of `make test` (each command `make -n test` lists: the
# setup scripts, gofmt, go vet, staticcheck, go test, the purego kernels,
# the notebooks, the Slurm check), in wall-clock and CPU seconds (user +
# system of the command and the children it waits for), for this checkout
# and any others named, alternating between them round by round, so that
# two commits can be compared on the same machine at the same load.
#
# Usage: scripts/bench/testsuite.sh [-rounds N] [-only REGEX] [-skip REGEX]
#                                   [-cold] [-log DIR] [OTHER_CHECKOUT ...]
#   -rounds N    rounds (default 1); each round runs every checkout once,
#                the order alternating from one round to the next
#   -only REGEX  time only the commands that match REGEX (grep -E), e.g.
#                'go test' or 'go (vet|test)'
#   -skip REGEX  leave out the commands that match REGEX, e.g.
#                'slurm-check|notebooks'
#   -cold        give each checkout's run an empty Go build cache (GOCACHE)
#                and staticcheck cache, as a fresh CI machine has; the module
#                cache is kept
#   -log DIR     keep each command's output in DIR (default: a temporary
#                folder, removed at the end unless a command fails)
#
# A checkout's tests read the shared fixtures from ../shared beside it (see
# internal/fixtures): an extra worktree needs one there, e.g.
#
#   git worktree add /tmp/ts/main main && ln -s "$PWD/../shared" /tmp/ts/shared
#   scripts/bench/testsuite.sh -rounds 2 /tmp/ts/main
#
# The CPU seconds are the steadier number on a shared machine: the wall
# time of a command grows with everything else the machine runs. CPU time
# of daemons (the Slurm check's slurmd and the jobs it runs) is not counted.
# A failing command is reported and the run goes on.
set -uo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)

rounds=1
only=""
skip=""
cold=0
logdir=""
trees=("$here")
while [[ $# -gt 0 ]]; do
	case "$1" in
	-rounds) rounds=$2; shift 2 ;;
	-only) only=$2; shift 2 ;;
	-skip) skip=$2; shift 2 ;;
	-cold) cold=1; shift ;;
	-log) logdir=$2; shift 2 ;;
	-h | -help | --help) sed -n '2,31p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	-*) echo "testsuite.sh: unknown flag $1 (see -h)" >&2; exit 2 ;;
	*)
		[[ -f $1/Makefile ]] || { echo "testsuite.sh: $1 holds no Makefile" >&2; exit 2; }
		trees+=("$(cd "$1" && pwd)")
		shift
		;;
	esac
done
keep=1
if [[ -z $logdir ]]; then
	logdir=$(mktemp -d)
	keep=0
fi
mkdir -p "$logdir"
results=$logdir/results.tsv
: >"$results"
failed=0

# commands TREE: the commands `make test` runs in TREE, one a line.
commands() {
	make --no-print-directory -n -C "$1" test | grep -v '^\s*$' | {
		if [[ -n $only ]]; then grep -E -- "$only"; else cat; fi
	} | {
		if [[ -n $skip ]]; then grep -v -E -- "$skip"; else cat; fi
	}
}

# makeenv TREE: the variables TREE's Makefile exports to its commands
# (GOFLAGS, for one), as NAME=VALUE lines.
makeenv() {
	make --no-print-directory -C "$1" --eval '__testsuite_env: ; @env' __testsuite_env 2>/dev/null |
		grep -v -E '^(_|MAKE|MFLAGS|MAKEFLAGS|MAKELEVEL|MAKEOVERRIDES)=' | sort >"$logdir/env.make"
	env | sort >"$logdir/env.here"
	comm -23 "$logdir/env.make" "$logdir/env.here"
}

# runtree ROUND TREE: times each command of TREE's `make test`.
runtree() {
	local round=$1 tree=$2 n=0 line log rc wall user sys cpu status
	local -a env=()
	mapfile -t env < <(makeenv "$tree")
	if [[ $cold = 1 ]]; then
		local cache
		cache=$(mktemp -d)
		env+=(GOCACHE="$cache/go-build" XDG_CACHE_HOME="$cache")
	fi
	echo "== round $round: $tree ($(git -C "$tree" log -1 --format='%h %s' | cut -c1-60))"
	echo "   $(uptime)"
	[[ ${#env[@]} = 0 ]] || echo "   environment: ${env[*]}"
	while IFS= read -r line; do
		n=$((n + 1))
		log=$logdir/r$round-$(basename "$tree")-$n.log
		/usr/bin/time -o "$log.time" -f '%e %U %S' env "${env[@]}" bash -c "cd '$tree' && $line" </dev/null >"$log" 2>&1
		rc=$?
		read -r wall user sys < <(tail -n 1 "$log.time")
		rm -f "$log.time"
		cpu=$(awk -v u="$user" -v s="$sys" 'BEGIN {print u + s}')
		status=ok
		[[ $rc = 0 ]] || status=FAILED
		printf '%s\t%s\t%d\t%s\t%s\t%s\t%s\n' "$round" "$tree" "$n" "$wall" "$cpu" "$status" "${line:0:70}" >>"$results"
		printf '   %7.1f s wall %7.1f s CPU  %-6s  %s\n' "$wall" "$cpu" "$status" "${line:0:70}"
	done < <(commands "$tree")
	echo "   $(uptime)"
	if [[ $cold = 1 ]]; then
		rm -rf "$cache"
	fi
}

for ((r = 1; r <= rounds; r++)); do
	order=("${trees[@]}")
	if ((r % 2 == 0)); then
		order=()
		for ((i = ${#trees[@]} - 1; i >= 0; i--)); do order+=("${trees[$i]}"); done
	fi
	for tree in "${order[@]}"; do
		runtree "$r" "$tree"
	done
done

echo
echo "== totals per round (wall s / CPU s)"
awk -F'\t' '{w[$2" round "$1]+=$4; c[$2" round "$1]+=$5; if ($6 != "ok") f[$2" round "$1]=" (a command FAILED)"}
	END {for (k in w) printf "   %8.1f / %8.1f  %s%s\n", w[k], c[k], k, f[k]}' "$results" | sort -k4
if grep -q FAILED "$results"; then
	failed=1
	keep=1
fi
if [[ $keep = 1 ]]; then
	echo "logs and results.tsv in $logdir"
else
	rm -rf "$logdir"
fi
exit $failed
