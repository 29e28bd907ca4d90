#!/usr/bin/env bash
# Installs what the toolkit's tests and notebooks need on a fresh Debian
# machine, skipping whatever is already there. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=gotools.sh
. scripts/gotools.sh

go mod download

# staticcheck for `make test`'s lint step.
if [ ! -x "$(gobin)/staticcheck" ]; then
	install_go_tools honnef.co/go/tools/cmd/staticcheck@v0.8.2 honnef.co/go/tools/cmd/staticcheck
fi

# Fashion-MNIST (MIT licence), the training data of the shipped small prior
# (cadps/prior/small, docs/small-prior.md): Debian's dataset-fashion-mnist
# puts the IDX files in /usr/share/datasets/fashion-mnist. The package lists
# are refreshed only when apt does not know the package yet.
fmnist=/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
if [ ! -e "$fmnist" ]; then
	if ! apt-cache show dataset-fashion-mnist >/dev/null 2>&1; then
		as_root apt-get update
	fi
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y dataset-fashion-mnist
fi

# The tests check the shell scripts with ShellCheck
# (scripts/gpucheck: TestShellScripts), and skip that check without it: a
# machine whose package sources lack it still runs every other test.
if ! command -v shellcheck >/dev/null; then
	{ apt-cache show shellcheck >/dev/null 2>&1 || as_root apt-get update; } &&
		as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y shellcheck ||
		echo "setup: could not install shellcheck; the shell scripts' check will be skipped" >&2
fi
