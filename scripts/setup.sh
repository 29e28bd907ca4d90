#!/usr/bin/env bash
# Installs what the toolkit's tests and notebooks need on a fresh Debian
# machine, skipping whatever is already there. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

go mod download

# staticcheck for `make test`'s lint step, built in a throw-away module (the
# proxy here serves exact versions only).
gobin=$(go env GOPATH)/bin
if [ ! -x "$gobin/staticcheck" ]; then
	tmp=$(mktemp -d)
	(cd "$tmp" && go mod init sc >/dev/null 2>&1 &&
		go get honnef.co/go/tools/cmd/staticcheck@v0.8.2 >/dev/null 2>&1 &&
		go install honnef.co/go/tools/cmd/staticcheck)
	rm -rf "$tmp"
fi

# Fashion-MNIST (MIT licence), the training data of the shipped small prior
# (cadps/prior/small, docs/small-prior.md): Debian's dataset-fashion-mnist
# puts the IDX files in /usr/share/datasets/fashion-mnist. The package lists
# are refreshed only when apt does not know the package yet.
fmnist=/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
if [ ! -e "$fmnist" ]; then
	sudo=""
	if [ "$(id -u)" -ne 0 ]; then
		sudo="sudo"
	fi
	if ! apt-cache show dataset-fashion-mnist >/dev/null 2>&1; then
		$sudo apt-get update
	fi
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y dataset-fashion-mnist
fi
