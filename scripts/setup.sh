#!/usr/bin/env bash
# Installs what the toolkit's tests and notebooks need on a fresh Debian
# machine, skipping whatever is already there. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

go mod download
