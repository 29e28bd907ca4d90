# shellcheck shell=bash
# Sourced by the scripts of scripts/gpu on the GPU machine:
# finds JAX's CUDA PJRT plugin and the CUDA libraries of its nvidia-* wheels,
# and exports what go-xla needs (LD_LIBRARY_PATH, XLA_FLAGS,
# GOMLX_NO_AUTO_INSTALL, GOMLX_BACKEND, GOPJRT_CUDA_CHECKS). CHECK_PLUGIN names
# a plugin and skips the search. CHECK_XLA_OPTIONS (default
# ",preallocate=false,memory_fraction=0.9") is appended to the backend
# config: the pool grows as needed, so that nvidia-smi shows what the
# programs take, up to 90 % of the card instead of XLA's 75 % (on an H200
# the pool of a batch-16 whole run grew to 76,955 MiB, docs/results.md:
# more than 75 % of an 80 GB card, though a high mark rather than what the
# run needs). CHECK_BACKEND replaces all of this with a GOMLX_BACKEND of its
# own (e.g. "cadps", the pure-Go backend, to try the scripts' logic on the
# CPU).
#
# Precision is set per command, never for the whole process, so that a part
# labelled TF32 is TF32 whatever the caller's environment: setup_xla_env
# sets tf32_env and exact_env, `env` prefixes for a command (precision_env
# makes one with XLA flags of a part's own). tf32_env is
# XLA's default (TF32 tensor cores; PyTorch's default for convolutions) with
# NVIDIA_TF32_OVERRIDE removed; exact_env is exact float32:
# NVIDIA_TF32_OVERRIDE=0 (cuDNN and cuBLAS stop using TF32) and
# --xla_gpu_enable_triton_gemm=false (XLA stops writing GEMMs with Triton,
# which the variable does not reach). default_env is tf32_env, or exact_env
# with CHECK_TF32=0, for scripts whose parts carry no precision of their own
# (train.sh, tune.sh); the scripts that label parts by precision (check.sh,
# compare.sh, precision.sh) refuse CHECK_TF32 (refuse_check_tf32).
#
# It also holds what the scripts share: unpack_bins, gpu_name,
# output_place, slug, seconds_left, probe (a question to the GPU or to
# Python, within CHECK_PROBE_SECONDS, default 20 s: a wedged GPU makes
# nvidia-smi and CUDA's start-up hang, which would otherwise eat the whole
# call before any part runs) and bounded (a part run within its time, its
# whole output logged).

# probe_seconds is how long a probe of the setup may take.
probe_seconds=${CHECK_PROBE_SECONDS:-20}

# probe SECONDS CMD... runs CMD for at most SECONDS (SIGKILL 2 s later),
# returning its status (124 or 137: it did not answer in time).
probe() {
	local s=$1
	shift
	timeout --kill-after=2 "$s" "$@"
}

# probe_failed NAME STATUS prints why a probe failed, naming a timeout.
probe_failed() {
	case "$2" in
	124 | 137) echo "$1 did not answer within its time (exit status $2): is the GPU wedged?" ;;
	*) echo "$1 failed (exit status $2)" ;;
	esac
}

# find_plugin prints the plugin's path, or nothing.
find_plugin() {
	if [ -n "${CHECK_PLUGIN:-}" ]; then echo "$CHECK_PLUGIN"; return; fi
	local p
	p=$(probe "$probe_seconds" python3 -c 'import os, jax_plugins.xla_cuda13 as m; print(os.path.join(os.path.dirname(m.__file__), "xla_cuda_plugin.so"))' 2>/dev/null || true)
	if [ -z "$p" ] || [ ! -f "$p" ]; then
		# Bounded: on a machine with large mounted trees a search of / could
		# eat the whole call.
		p=$(timeout 30 find / -name 'xla_cuda_plugin.so' -not -path '/proc/*' -not -path '/sys/*' 2>/dev/null | head -n 1 || true)
	fi
	echo "$p"
}

# setup_xla_env exports the environment for the XLA backend, or fails with a
# message naming what is missing.
setup_xla_env() {
	if [ -n "${CHECK_BACKEND:-}" ]; then
		export GOMLX_BACKEND="$CHECK_BACKEND"
		echo "GOMLX_BACKEND=$GOMLX_BACKEND (CHECK_BACKEND; no plugin search)"
		precision_envs
		return 0
	fi
	if command -v nvidia-smi >/dev/null; then
		probe "$probe_seconds" nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1 ||
			probe_failed nvidia-smi "$?"
	fi
	local plugin
	plugin=$(find_plugin)
	if [ -z "$plugin" ] || [ ! -f "$plugin" ]; then
		echo "${0##*/}: no xla_cuda_plugin.so found (set CHECK_PLUGIN to its absolute path)" >&2
		return 2
	fi
	echo "plugin: $plugin"
	local site libs ptxas flags=""
	site=$(cd "$(dirname "$plugin")/../.." && pwd)
	libs=$(find "$site/nvidia" -maxdepth 3 -type d -name lib 2>/dev/null | tr '\n' ':' || true)
	export LD_LIBRARY_PATH="${libs}${LD_LIBRARY_PATH:-}"
	# go-xla points XLA at a hard-coded CUDA folder unless XLA_FLAGS is set,
	# so the wheels' folder (where ptxas is) joins the caller's own flags
	# unless they name one already.
	ptxas=$(find "$site/nvidia" -name ptxas -type f 2>/dev/null | head -n 1 || true)
	[ -n "$ptxas" ] && flags="--xla_gpu_cuda_data_dir=$(dirname "$(dirname "$ptxas")")"
	case " ${XLA_FLAGS:-} " in
	*" --xla_gpu_cuda_data_dir="*) ;;
	*) XLA_FLAGS="${XLA_FLAGS:+$XLA_FLAGS${flags:+ }}$flags" ;;
	esac
	export XLA_FLAGS
	export GOMLX_NO_AUTO_INSTALL=1
	# The libraries are found through LD_LIBRARY_PATH, not beside the plugin.
	export GOPJRT_CUDA_CHECKS=0
	export GOMLX_BACKEND="xla:${plugin}${CHECK_XLA_OPTIONS-,preallocate=false,memory_fraction=0.9}"
	if [ -n "${NVIDIA_TF32_OVERRIDE+set}" ]; then
		echo "NVIDIA_TF32_OVERRIDE=$NVIDIA_TF32_OVERRIDE in the environment is ignored: each part sets its own precision"
		unset NVIDIA_TF32_OVERRIDE
	fi
	echo "GOMLX_BACKEND=$GOMLX_BACKEND"
	precision_envs
}

# precision_envs sets tf32_env, exact_env and default_env (see above) from
# the XLA_FLAGS of now, and prints the first two.
precision_envs() {
	tf32_flags=${XLA_FLAGS:-}
	exact_flags="${XLA_FLAGS:+$XLA_FLAGS }--xla_gpu_enable_triton_gemm=false"
	precision_env tf32 && tf32_env=("${penv[@]}")
	precision_env exact && exact_env=("${penv[@]}")
	default_env=("${tf32_env[@]}") default_precision=tf32
	if [ "${CHECK_TF32:-1}" = 0 ]; then
		# shellcheck disable=SC2034 # read by the scripts that source this file
		default_env=("${exact_env[@]}") default_precision=exact
	fi
	echo "precision: tf32: ${tf32_env[*]:1}"
	echo "precision: exact: ${exact_env[*]:1}"
}

# precision_env tf32|exact [FLAGS] sets penv to the env prefix of that
# precision with FLAGS added to its XLA_FLAGS (precision_envs first).
precision_env() {
	local flags
	case "$1" in
	tf32) penv=(env -u NVIDIA_TF32_OVERRIDE) flags=$tf32_flags ;;
	exact) penv=(env NVIDIA_TF32_OVERRIDE=0) flags=$exact_flags ;;
	*) echo "precision_env: unknown precision '$1'" >&2; return 2 ;;
	esac
	penv+=("XLA_FLAGS=${flags}${flags:+${2:+ }}${2:-}")
}

# refuse_check_tf32 stops a script whose parts are labelled by precision
# when CHECK_TF32 is set: exact float32 for the whole process would make
# its TF32 results exact under a TF32 label.
refuse_check_tf32() {
	[ -z "${CHECK_TF32:-}" ] && return 0
	echo "${0##*/}: CHECK_TF32 is not for this script: it runs its exact float32 parts itself, and its TF32 parts must stay TF32 (unset CHECK_TF32)" >&2
	exit 2
}

# unpack_bins FOLDER NAME...: unpacks each FOLDER/NAME.gz, executable, into
# a fresh temporary folder that $bin then names and that is removed when the
# script exits (fresh, so that scripts running at once never overwrite each
# other's binaries), or fails naming the missing or damaged file.
unpack_bins() {
	local from=$1 f
	shift
	for f in "$@"; do
		[ -f "$from/$f.gz" ] || { echo "${0##*/}: $from/$f.gz missing" >&2; return 2; }
	done
	bin=$(mktemp -d "${TMPDIR:-/tmp}/cadps-gpu.XXXXXX")
	# shellcheck disable=SC2064 # the folder's name, fixed now
	trap "rm -rf '$bin'" EXIT
	for f in "$@"; do
		# Callers test the status (`unpack_bins … || exit`), which turns set -e
		# off in here: each failure must return by itself.
		if ! gunzip -c "$from/$f.gz" >"$bin/$f" 2>/dev/null || ! chmod +x "$bin/$f"; then
			echo "${0##*/}: $from/$f.gz is damaged (not a whole gzip file): rebuild it" >&2
			return 2
		fi
	done
}

# gpu_name prints the first GPU's name: "cpu" with CHECK_BACKEND, else
# nvidia-smi's, else (nvidia-smi missing or failing) PyTorch's
# (torch.cuda.get_device_name, through PYTHON or python3, as the PyTorch
# reference records it), else "unknown"; each asked within probe_seconds
# (PyTorch, which imports torch and starts CUDA, twice that). It never
# fails: a script under set -e goes on without the name.
gpu_name() {
	local n=""
	if [ -n "${CHECK_BACKEND:-}" ]; then echo cpu; return 0; fi
	if command -v nvidia-smi >/dev/null; then
		n=$(probe "$probe_seconds" nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n 1) || n=""
	fi
	if [ -z "$n" ]; then
		n=$(probe $((2 * probe_seconds)) "${PYTHON:-python3}" -c 'import torch; print(torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")' 2>/dev/null |
			tail -n 1) || n=""
	fi
	echo "${n:-unknown}"
}

# output_place FOLDER SUFFIX DIR NAME sets device (gpu_name), dest (DIR, else
# $OUT, else build/gpu-FOLDER; created) and name (NAME, else the date and the
# device, e.g. 2026-12-06-nvidia-h100-80gb-hbm3, then SUFFIX) for a script's
# outputs. The folder is created before the card is asked its name.
output_place() {
	dest="${3:-${OUT:-$root/build/gpu-$1}}"
	mkdir -p "$dest"
	device=$(gpu_name)
	# shellcheck disable=SC2034 # read by the scripts that source this file
	name="${4:-$(date -u +%Y-%m-%d)-$(slug "$device")$2}"
}

# slug turns a name into lower-case letters, digits and dashes.
slug() { tr '[:upper:]' '[:lower:]' <<<"$1" | tr -cs 'a-z0-9' '-' | sed 's/^-*//; s/-*$//'; }

# seconds_left TOTAL T0 [CAP] prints what remains of TOTAL seconds counted
# from T0 (a $SECONDS), at most CAP, and never less than 0.
seconds_left() {
	local l=$(($1 - (SECONDS - $2)))
	[ -z "${3:-}" ] || [ "$l" -lt "$3" ] || l=$3
	echo $((l > 0 ? l : 0))
}

# failure_lines matches what a process prints when it dies outside its own
# reporting (a Go runtime fault, a signal, a library that cannot be
# loaded): bounded prints these lines whatever its filter.
failure_lines='fatal error|SIG[A-Z]+|[Ss]egmentation fault|core dumped|panic:|error while loading shared libraries|cannot open shared object|dlopen|undefined symbol|[Oo]ut of memory|RESOURCE_EXHAUSTED'

# line_awk is awk reading its input a line at a time: mawk (Debian's and
# Ubuntu's awk) otherwise reads a pipe in blocks, so that a part's lines
# would be printed in 4 KB chunks instead of as they come (-W interactive;
# gawk and busybox awk read lines as they come).
line_awk=(awk)
case "$(awk -W version 2>/dev/null </dev/null || true)" in
mawk*) line_awk=(awk -W interactive) ;;
esac

# grace_of SECONDS prints how long before SECONDS bounded sends SIGINT.
grace_of() { echo $(($1 >= 40 ? 10 : $1 / 4)); }

# bounded SECONDS LOG KEEP DROP CMD... runs CMD so that it ends within
# SECONDS: SIGINT GRACE seconds before (10, less for a short part: time
# for a process that handles it, as cadps does, to stop cleanly), SIGKILL
# at SECONDS. Its whole output,
# stdout and stderr, is appended to LOG after the command line; the lines
# matching the extended regular expression KEEP (empty: none; "." all) but
# not DROP (empty: none), and every line that failure_lines matches, are
# printed as they come. Then it prints (and logs) CMD's exit status, naming
# a timeout as such, and returns it.
bounded() {
	local s=$1 log=$2 keep=$3 drop=$4 grace rc
	shift 4
	if [ "$s" -lt 2 ]; then
		echo "not run: ${s} s is no time for it" | tee -a "$log"
		return 124
	fi
	grace=$(grace_of "$s")
	{ printf '$ timeout %s s:' "$s"; printf ' %q' "$@"; echo; } >>"$log"
	if timeout --signal=INT --kill-after="$grace" "$((s - grace))" "$@" 2>&1 | tee -a "$log" |
		K=$keep D=$drop F=$failure_lines "${line_awk[@]}" '
			$0 ~ ENVIRON["F"] || (ENVIRON["K"] != "" && $0 ~ ENVIRON["K"] && !(ENVIRON["D"] != "" && $0 ~ ENVIRON["D"])) { print; fflush() }'; then
		rc=0
	else
		rc=${PIPESTATUS[0]}
	fi
	case "$rc" in
	0) echo "exit status 0" ;;
	124) echo "exit status 124: timed out (SIGINT after $((s - grace)) s)" ;;
	137) echo "exit status 137: timed out and killed (SIGKILL at ${s} s)" ;;
	*) echo "exit status $rc" ;;
	esac | tee -a "$log"
	return "$rc"
}

# carry_limit is the most one GPU call carries, in bytes: 64 MiB, all the
# carried paths together.
carry_limit=67108864

# check_carry ROOT PATH... prints the size of the files under the PATHs
# (relative to ROOT), which travel together in one GPU call, or fails
# naming it and the largest entries to drop when it exceeds carry_limit.
check_carry() {
	local root=$1 bytes
	shift
	bytes=$(cd "$root" && find "$@" -type f -printf '%s\n' | awk '{ n += $1 } END { print n + 0 }')
	if [ "$bytes" -le "$carry_limit" ]; then
		echo "to carry: $* ($(mib "$bytes") MiB of the $(mib "$carry_limit") MiB one GPU call carries)"
		return 0
	fi
	{
		echo "${0##*/}: $* together are $bytes bytes ($(mib "$bytes") MiB), over the $carry_limit bytes ($(mib "$carry_limit") MiB) one GPU call carries;"
		echo "drop some of the largest entries, or carry them in a call of their own:"
		# A folder's entries, and the files named themselves.
		(
			cd "$root" || exit
			for p in "$@"; do
				if [ -d "$p" ]; then du -sb "$p"/*; else du -sb "$p"; fi
			done
		) | sort -rn | head -n 5 | awk '{ printf "  %s  %.1f MiB\n", $2, $1 / 1048576 }'
	} >&2
	return 1
}

# mib prints a number of bytes in MiB, to a tenth.
mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }
