#!/usr/bin/env bash
# Executes every notebook in notebooks/ headless with the GoNB kernel and fails
# when an output shows an error, a panic or a non-zero exit, when an SVG figure
# is not well-formed XML (as a viewer showing it as an image needs), or when a
# notebook has fewer figures (image/png or image/svg+xml outputs) than its metadata
# "cadps.figures" promises. GoNB exits 0 even after a runtime panic, so the
# outputs are what is checked. (GoNB drops the outputs a cell's program has not
# yet handed over when it exits, so every displaying cell ends with
# gonbui.Sync(), as `go test ./scripts/notebooks` checks.) A code cell whose
# metadata "cadps.fixed" is true shows what the check size does not change (a
# table read from a doc): without --inplace the check fails when its text output
# differs from the committed notebook's, which is then out of date.
#
# The quickstart and ablation notebooks add an LPIPS column when
# CADPS_LPIPS_DIR names a folder holding torchvision's
# alexnet-owt-7be5be79.pth. Without --inplace, and with CADPS_LPIPS_DIR
# unset, the check sets it to a folder of random-weight backbone files
# (scripts/notebooks/randlpips), so that the LPIPS path runs; the values are
# then meaningless. With --inplace the notebooks are kept as a user's run
# gives them: with LPIPS only when CADPS_LPIPS_DIR is set.
#
#   scripts/notebooks/check.sh            execute into a temporary folder
#   scripts/notebooks/check.sh --inplace  execute and keep the outputs in the committed notebooks
#                                         (less the setup cell's, which name this checkout's folder; a
#                                         notebook with another output holding a path of this machine is
#                                         not saved), and refresh the README's thumbnails (docs/notebooks/NAME.png|svg:
#                                         the figure numbered by metadata "cadps.thumbnail", default 0)
#   scripts/notebooks/check.sh [--inplace] NAME.ipynb ...
#                                         the same for the named notebooks of notebooks/ only
#
# A check runs each notebook at the smaller size its metadata "cadps.check"
# names (e.g. {"steps": "10"}: the first `steps = ...` assignment of its code
# reads `steps = 10`), as the documented-commands test runs the documents'
# commands at toy size: every cell and figure is still made, from fewer
# sampling steps. --inplace runs the notebooks as written, since it keeps
# their outputs.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=../gotools.sh
. "$root/scripts/gotools.sh"
# Where setup.sh installed gonb and goimports. Assigned before the export so
# that a failing `go env` stops the script (set -e) instead of being hidden.
gobin=$(gobin)
export PATH="$gobin:$PATH"
inplace=0
if [ "${1:-}" = "--inplace" ]; then inplace=1; shift; fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
status=0
shopt -s nullglob
if [ $# -gt 0 ]; then
	nbs=()
	for name in "$@"; do
		nb="$root/notebooks/$(basename "$name")"
		[ -f "$nb" ] || { echo "notebooks: no notebook $name in $root/notebooks" >&2; exit 1; }
		nbs+=("$nb")
	done
else
	nbs=("$root"/notebooks/*.ipynb)
fi
[ ${#nbs[@]} -gt 0 ] || { echo "notebooks: none found" >&2; exit 1; }
if [ $inplace = 0 ] && [ -z "${CADPS_LPIPS_DIR:-}" ]; then
	(cd "$root" && go run ./scripts/notebooks/randlpips "$tmp/lpips")
	export CADPS_LPIPS_DIR="$tmp/lpips"
	echo "     LPIPS with random-weight backbone files ($CADPS_LPIPS_DIR)"
fi
# check NOTEBOOK: exit 0 if its outputs are clean, 1 otherwise.
check() {
	python3 - "$1" <<'PY'
import json, re, sys
import xml.etree.ElementTree as ET
nb = json.load(open(sys.argv[1]))
bad = re.compile(r"panic:|goroutine \d+ \[|\bERROR\b|error:|exit status [1-9]|failed to (run|compile)|undefined:|cannot use|Traceback", re.I)
problems, figures = [], 0
for i, cell in enumerate(nb.get("cells", [])):
    for o in cell.get("outputs", []):
        if o.get("output_type") == "error":
            problems.append(f"cell {i}: {o.get('ename')}: {o.get('evalue')}")
        text = o.get("text", "")
        if isinstance(text, list): text = "".join(text)
        data = o.get("data", {})
        for k in ("text/plain", "text/html"):  # markdown is the notebook's own prose
            v = data.get(k, "")
            text += "".join(v) if isinstance(v, list) else v
        if o.get("name") == "stderr" or bad.search(text):
            m = bad.search(text)
            if m:
                problems.append(f"cell {i}: {text.strip()[:300]}")
        if "image/png" in data or "image/svg+xml" in data:
            figures += 1
        svg = data.get("image/svg+xml")
        if svg is not None:
            try:  # a viewer showing it as an image parses it as XML
                ET.fromstring("".join(svg) if isinstance(svg, list) else svg)
            except ET.ParseError as e:
                problems.append(f"cell {i}: an SVG figure is not well-formed XML: {e}")
want = nb.get("metadata", {}).get("cadps", {}).get("figures", 1)
if figures < want:
    problems.append(f"{figures} figures, the notebook promises {want}")
for p in problems: print("   ", p)
sys.exit(1 if problems else 0)
PY
}

# strip NOTEBOOK: for --inplace, drops the stream outputs (go get's lines and
# the replace rule naming this checkout's folder) of the setup cell, the one
# that runs %goworkfix, and fails naming the cell when another text output
# still holds a path of this machine (the checkout, $HOME, the temporary
# folder, $CADPS_LPIPS_DIR), so that no such path is committed.
strip() {
	python3 - "$1" "$root" "$tmp" <<'PY'
import json, os, sys
path, paths = sys.argv[1], [p for p in sys.argv[2:] + [os.environ.get("HOME", ""), os.environ.get("CADPS_LPIPS_DIR", "")] if len(p) > 1]
nb = json.load(open(path))
problems = []
for i, cell in enumerate(nb.get("cells", [])):
    if cell.get("cell_type") != "code":
        continue
    src = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
    if "%goworkfix" in src:
        cell["outputs"] = [o for o in cell.get("outputs", []) if o.get("output_type") != "stream"]
    for o in cell.get("outputs", []):
        texts = [o.get("text", "")] + [o.get("data", {}).get(k, "") for k in ("text/plain", "text/markdown")]
        text = "".join("".join(t) if isinstance(t, list) else t for t in texts)
        for p in paths:
            if p in text:
                problems.append(f"cell {i}: an output holds the path {p}")
for p in problems: print("   ", p)
with open(path, "w") as f:  # as nbconvert writes notebooks
    json.dump(nb, f, indent=1, sort_keys=True, ensure_ascii=False)
    f.write("\n")
sys.exit(1 if problems else 0)
PY
}

# same NOTEBOOK OUT: fails naming each cell whose metadata "cadps.fixed" is
# true and whose text outputs in the executed OUT differ from those NOTEBOOK
# holds.
same() {
	python3 - "$1" "$2" <<'PY'
import json, os, sys
committed, executed = (json.load(open(p))["cells"] for p in sys.argv[1:3])
def texts(cell):
    out = []
    for o in cell.get("outputs", []):
        for v in [o.get("text", "")] + [o.get("data", {}).get(k, "") for k in ("text/plain", "text/markdown", "text/html")]:
            out.append("".join(v) if isinstance(v, list) else v)
    return out
problems = []
for i, (c, e) in enumerate(zip(committed, executed)):
    if c.get("metadata", {}).get("cadps", {}).get("fixed") and texts(c) != texts(e):
        problems.append(f"cell {i}: its output is not the committed one: run scripts/notebooks/check.sh --inplace {os.path.basename(sys.argv[1])}")
for p in problems: print("   ", p)
sys.exit(1 if problems else 0)
PY
}

# checksize NOTEBOOK OUT: writes NOTEBOOK to OUT with the assignments of its
# metadata "cadps.check" applied; fails naming an assignment it lacks.
checksize() {
	python3 - "$1" "$2" <<'PY'
import json, re, sys
nb = json.load(open(sys.argv[1]))
sizes = nb.get("metadata", {}).get("cadps", {}).get("check", {})
for var, value in sizes.items():
    pat = re.compile(r"(?m)^(\s*" + re.escape(var) + r"\s*=\s*)[^\s/]+")
    for cell in nb.get("cells", []):
        src = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
        if cell.get("cell_type") == "code" and pat.search(src):
            cell["source"] = pat.sub(lambda m: m.group(1) + str(value), src, count=1)
            break
    else:
        sys.exit(f"{sys.argv[1]}: metadata cadps.check sets {var}, which no code cell assigns")
json.dump(nb, open(sys.argv[2], "w"), indent=1)
PY
}

for nb in "${nbs[@]}"; do
	name=$(basename "$nb")
	out="$tmp/$name"
	src="$nb"
	if [ $inplace = 0 ]; then
		src="$tmp/check-$name"
		checksize "$nb" "$src" || { echo "FAIL $name"; status=1; continue; }
	fi
	start=$(date +%s)
	result=0
	# From stdin, so that the kernel runs in notebooks/ whichever file is executed.
	if ! (cd "$root/notebooks" && jupyter nbconvert --to notebook --execute --ExecutePreprocessor.timeout=1800 \
		--ExecutePreprocessor.kernel_name=gonb --stdin --output "$out" <"$src" >"$tmp/$name.log" 2>&1); then
		echo "FAIL $name: nbconvert failed"; tail -n 20 "$tmp/$name.log"; result=1
	elif ! check "$out"; then
		result=1
	elif [ $inplace = 0 ] && ! same "$nb" "$out"; then
		result=1
	fi
	if [ $result = 0 ] && [ $inplace = 1 ] && ! strip "$out"; then
		echo "FAIL $name: an output holds a path of this machine; the notebook is not saved"; status=1; continue
	fi
	if [ $result = 0 ]; then
		echo "ok   $name ($(( $(date +%s) - start )) s)"
		if [ $inplace = 1 ]; then
			cp "$out" "$nb"
			python3 - "$nb" "$root/docs/notebooks" <<'PY'
import base64, json, os, sys
nb_path, dest = sys.argv[1], sys.argv[2]
nb = json.load(open(nb_path))
want = nb.get("metadata", {}).get("cadps", {}).get("thumbnail", 0)
figs = []
for cell in nb.get("cells", []):
    for o in cell.get("outputs", []):
        d = o.get("data", {})
        for kind in ("image/png", "image/svg+xml"):
            if kind in d:
                v = d[kind]
                figs.append((kind, "".join(v) if isinstance(v, list) else v))
kind, v = figs[want]
os.makedirs(dest, exist_ok=True)
name = os.path.splitext(os.path.basename(nb_path))[0]
for ext in ("png", "svg"):
    old = os.path.join(dest, name + "." + ext)
    if os.path.exists(old): os.remove(old)
if kind == "image/png":
    open(os.path.join(dest, name + ".png"), "wb").write(base64.b64decode(v))
else:
    open(os.path.join(dest, name + ".svg"), "w").write(v)
PY
		fi
	else
		echo "FAIL $name"; status=1
	fi
done
exit $status
