#!/usr/bin/env bash
# Installs what executing the notebooks needs, skipping what is there:
# Debian's Jupyter (notebook, nbconvert, ipykernel), GoNB v0.11.1 and goimports,
# and the GoNB kernel registered with Jupyter. Safe to run again.
set -euo pipefail
# shellcheck source=../gotools.sh
. "$(dirname "$0")/../gotools.sh"

need=()
command -v jupyter-nbconvert >/dev/null 2>&1 || need+=(jupyter-nbconvert)
command -v jupyter-notebook >/dev/null 2>&1 || need+=(jupyter-notebook)
command -v jupyter-kernelspec >/dev/null 2>&1 || need+=(jupyter-client)
# Debian's Jupyter runs Debian's Python, whatever python3 is first on PATH.
/usr/bin/python3 -c 'import ipykernel' >/dev/null 2>&1 || need+=(python3-ipykernel)
if [ ${#need[@]} -gt 0 ]; then
	as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >/dev/null
fi

gobin=$(gobin)
export PATH="$gobin:$PATH"
if [ ! -x "$gobin/gonb" ] || [ ! -x "$gobin/goimports" ]; then
	install_go_tools github.com/janpfeifer/gonb@v0.11.1 golang.org/x/tools/cmd/goimports@v0.52.0 \
		github.com/janpfeifer/gonb golang.org/x/tools/cmd/goimports
fi
if ! jupyter kernelspec list 2>/dev/null | grep -q '^ *gonb '; then
	# gopls serves only auto-completion
	if ! out=$(gonb --install --force_deps 2>&1); then
		echo "$out" >&2
		echo "setup: could not register the GoNB kernel with Jupyter" >&2
		exit 1
	fi
fi
