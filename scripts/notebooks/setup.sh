#!/usr/bin/env bash
# Installs what executing the notebooks needs, skipping what is there:
# Debian's Jupyter (notebook, nbconvert, ipykernel), GoNB v0.11.1 and goimports,
# and the GoNB kernel registered with Jupyter. Safe to run again.
set -euo pipefail

need=()
command -v jupyter-nbconvert >/dev/null 2>&1 || need+=(jupyter-nbconvert)
command -v jupyter-notebook >/dev/null 2>&1 || need+=(jupyter-notebook)
command -v jupyter-kernelspec >/dev/null 2>&1 || need+=(jupyter-client)
python3 -c 'import ipykernel' >/dev/null 2>&1 || need+=(python3-ipykernel)
if [ ${#need[@]} -gt 0 ]; then
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q >/dev/null
	apt-get install -y -q "${need[@]}" >/dev/null
fi

gobin=$(go env GOPATH)/bin
export PATH="$gobin:$PATH"
# Built inside a throw-away module: `go install mod@version` asks the proxy for
# the module's version list (deprecation check), which only-exact-version
# proxies refuse.
if [ ! -x "$gobin/gonb" ] || [ ! -x "$gobin/goimports" ]; then
	tmp=$(mktemp -d)
	(cd "$tmp" && go mod init gonbtools >/dev/null 2>&1 &&
		go get github.com/janpfeifer/gonb@v0.11.1 golang.org/x/tools/cmd/goimports@v0.52.0 >/dev/null 2>&1 &&
		go install github.com/janpfeifer/gonb golang.org/x/tools/cmd/goimports)
	rm -rf "$tmp"
fi
if ! jupyter kernelspec list 2>/dev/null | grep -q '^ *gonb '; then
	gonb --install --force_deps >/dev/null 2>&1 # gopls serves only auto-completion
fi
