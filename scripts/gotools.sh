# shellcheck shell=bash
# Functions the setup scripts share (source this file):
#   gobin                    the folder where `go install` puts commands: GOBIN
#                            when set, else the bin folder of GOPATH's first entry
#   install_go_tools MOD@V... PKG...
#                            builds the commands PKG of the modules MOD@V into
#                            gobin, inside a throw-away module (`go install
#                            mod@version` asks the proxy for the module's version
#                            list, which only-exact-version proxies refuse); on a
#                            failure it prints the go command's output and which
#                            modules it could not fetch or build
#   as_root CMD...           runs CMD as root (through sudo unless already root)

gobin() {
	local dir gopath
	dir=$(go env GOBIN) || return
	if [ -z "$dir" ]; then
		gopath=$(go env GOPATH) || return
		dir=${gopath%%:*}/bin
	fi
	echo "$dir"
}

install_go_tools() {
	local mods=() pkgs=() arg tmp log status=0
	for arg in "$@"; do
		case "$arg" in
		*@*) mods+=("$arg") ;;
		*) pkgs+=("$arg") ;;
		esac
	done
	tmp=$(mktemp -d)
	log="$tmp/go.log"
	(cd "$tmp" && go mod init tools >>"$log" 2>&1 &&
		go get "${mods[@]}" >>"$log" 2>&1 &&
		GOBIN=$(gobin) go install "${pkgs[@]}" >>"$log" 2>&1) || status=$?
	if [ "$status" -ne 0 ]; then
		cat "$log" >&2
		echo "setup: could not fetch or build ${mods[*]} (is the Go module proxy reachable?)" >&2
	fi
	rm -rf "$tmp"
	return "$status"
}

as_root() {
	if [ "$(id -u)" -eq 0 ]; then
		"$@"
	else
		sudo "$@"
	fi
}
