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
# run needs). CHECK_TF32=0 asks for exact float32 in everything:
# NVIDIA_TF32_OVERRIDE=0 (cuDNN and cuBLAS stop using TF32) and
# --xla_gpu_enable_triton_gemm=false (XLA stops writing GEMMs with Triton,
# which the variable does not reach); by default XLA uses TF32, as PyTorch
# does for convolutions. CHECK_BACKEND replaces all of this with a
# GOMLX_BACKEND of its own (e.g. "cadps", the pure-Go backend, to try the
# scripts' logic on the CPU). It also holds what the scripts share:
# unpack_bins, gpu_name, output_place and slug.

# find_plugin prints the plugin's path, or nothing.
find_plugin() {
	if [ -n "${CHECK_PLUGIN:-}" ]; then echo "$CHECK_PLUGIN"; return; fi
	local p
	p=$(python3 -c 'import os, jax_plugins.xla_cuda13 as m; print(os.path.join(os.path.dirname(m.__file__), "xla_cuda_plugin.so"))' 2>/dev/null || true)
	if [ -z "$p" ] || [ ! -f "$p" ]; then
		p=$(find / -name 'xla_cuda_plugin.so' -not -path '/proc/*' 2>/dev/null | head -n 1 || true)
	fi
	echo "$p"
}

# setup_xla_env exports the environment for the XLA backend, or fails with a
# message naming what is missing.
setup_xla_env() {
	if [ -n "${CHECK_BACKEND:-}" ]; then
		export GOMLX_BACKEND="$CHECK_BACKEND"
		echo "GOMLX_BACKEND=$GOMLX_BACKEND (CHECK_BACKEND; no plugin search)"
		return 0
	fi
	if command -v nvidia-smi >/dev/null; then nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true; fi
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
	if [ "${CHECK_TF32:-1}" = 0 ]; then
		export NVIDIA_TF32_OVERRIDE=0
		XLA_FLAGS="${XLA_FLAGS:+$XLA_FLAGS }--xla_gpu_enable_triton_gemm=false"
	fi
	export GOMLX_BACKEND="xla:${plugin}${CHECK_XLA_OPTIONS-,preallocate=false,memory_fraction=0.9}"
	echo "GOMLX_BACKEND=$GOMLX_BACKEND XLA_FLAGS=$XLA_FLAGS NVIDIA_TF32_OVERRIDE=${NVIDIA_TF32_OVERRIDE:-unset}"
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

# gpu_name prints the first GPU's name, or "cpu" with CHECK_BACKEND or
# without nvidia-smi.
gpu_name() {
	if [ -z "${CHECK_BACKEND:-}" ] && command -v nvidia-smi >/dev/null; then
		nvidia-smi --query-gpu=name --format=csv,noheader | head -n 1
	else
		echo cpu
	fi
}

# output_place FOLDER SUFFIX DIR NAME sets device (gpu_name), dest (DIR, else
# $OUT, else build/gpu-FOLDER; created) and name (NAME, else the date and the
# device, e.g. 2026-12-06-nvidia-h100-80gb-hbm3, then SUFFIX) for a script's
# outputs.
output_place() {
	device=$(gpu_name)
	dest="${3:-${OUT:-$root/build/gpu-$1}}"
	name="${4:-$(date -u +%Y-%m-%d)-$(slug "$device")$2}"
	mkdir -p "$dest"
}

# slug turns a name into lower-case letters, digits and dashes.
slug() { tr '[:upper:]' '[:lower:]' <<<"$1" | tr -cs 'a-z0-9' '-' | sed 's/^-*//; s/-*$//'; }
