#!/usr/bin/env python3
"""Summaries of an nsys profile's CSV reports, for scripts/gpu/tune.sh.

  nsys_report.py kernels KERN_SUM.csv REPEAT
      nsys's cuda_gpu_kern_sum report as a table of the kernels launched at
      least REPEAT times (the timed calls, not the compile's autotuning), the
      twenty longest first, and the shares of matrix products and
      convolutions against the rest.

  nsys_report.py gaps GPU_TRACE.csv REPEAT
      nsys's cuda_gpu_trace report (every kernel and copy with its start and
      duration): how long the GPU waits between the last timed calls. The
      window starts where every kernel launched at least REPEAT times has
      at most REPEAT launches left (so inside the last measurement's timed
      calls, after any autotuning that ran the same kernels) and ends with
      the last of them; inside it, idle stretches of a second or more
      (compiles) are left out, and those of 20 µs or more are counted as
      the waits between one execution and the next, when the host reads
      the step's result and starts the next one.

Both read only the columns they need, so that nsys versions that add
columns still work.
"""

import csv
import re
import statistics
import sys

DENSE = re.compile(r"gemm|conv|xmma|cutlass|cublas|cudnn|fprop|dgrad|wgrad|implicit|triton_gemm|__dot|dot_", re.I)
WAIT_NS = 20_000  # idle stretches this long or longer count as waits between calls
COMPILE_NS = 1_000_000_000  # idle stretches this long or longer are compiles


def read(path, need):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        sys.exit(f"{path}: no rows")
    missing = [c for c in need if c not in rows[0]]
    if missing:
        sys.exit(f"{path}: no column {', '.join(missing)} (columns: {', '.join(rows[0])})")
    return rows


def kernels(path, repeat):
    every = read(path, ["Instances", "Total Time (ns)", "Name"])
    rows = [r for r in every if int(r["Instances"]) >= repeat]
    if not rows:
        sys.exit(f"no kernel launched {repeat} times in {path}")
    left_out = sum(float(r["Total Time (ns)"]) for r in every if r not in rows)
    total = sum(float(r["Total Time (ns)"]) for r in rows)
    print(f"{'ms':>10} {'%':>6} {'calls':>7}  kernel")
    for r in sorted(rows, key=lambda r: -float(r["Total Time (ns)"]))[:20]:
        t = float(r["Total Time (ns)"])
        print(f"{t / 1e6:10.2f} {100 * t / total:6.2f} {r['Instances']:>7}  {r['Name'][:110]}")
    dense = sum(float(r["Total Time (ns)"]) for r in rows if DENSE.search(r["Name"]))
    print(f"\nkernels launched at least {repeat} times: {total / 1e6:.1f} ms in {len(rows)} kinds; matrix products "
          f"and convolutions {100 * dense / total:.1f} %, the rest {100 * (total - dense) / total:.1f} %")
    print(f"left out: {len(every) - len(rows)} kinds launched fewer times (the compile's autotuning, one-off copies), "
          f"{left_out / 1e6:.1f} ms")


def gaps(path, repeat):
    rows = read(path, ["Start (ns)", "Duration (ns)", "Name"])
    spans = sorted((int(float(r["Start (ns)"])), int(float(r["Start (ns)"])) + int(float(r["Duration (ns)"])), r["Name"])
                   for r in rows)
    starts = {}
    for s, _, name in spans:
        starts.setdefault(name, []).append(s)  # in order: spans are sorted
    timed = {name for name, l in starts.items() if len(l) >= repeat}
    if not timed:
        sys.exit(f"no kernel launched {repeat} times in {path}")
    lo = max(starts[name][-repeat] for name in timed)
    hi = max(e for _, e, name in spans if name in timed)
    busy, waits, compiles = 0, [], []
    end = None  # end of the current stretch of work
    for s, e, _ in spans:
        if e <= lo or s >= hi:
            continue
        s, e = max(s, lo), min(e, hi)
        if end is None:
            busy, end = e - s, e
            continue
        if s > end:
            idle = s - end
            if idle >= COMPILE_NS:
                compiles.append(idle)
            elif idle >= WAIT_NS:
                waits.append(idle)
            busy += e - s
            end = e
        elif e > end:
            busy += e - end
            end = e
    window = hi - lo - sum(compiles)
    print(f"window: {window / 1e6:.1f} ms of the last timed calls, "
          f"{len(compiles)} compile pauses of a second or more left out ({sum(compiles) / 1e9:.1f} s)")
    print(f"GPU busy: {100 * busy / window:.1f} % of the window")
    if waits:
        print(f"waits of {WAIT_NS // 1000} µs or more: {len(waits)}, median {statistics.median(waits) / 1e3:.0f} µs, "
              f"largest {max(waits) / 1e3:.0f} µs, {sum(waits) / 1e6:.1f} ms in all ({100 * sum(waits) / window:.1f} % of the window)")
    else:
        print(f"waits of {WAIT_NS // 1000} µs or more: none")


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in ("kernels", "gaps"):
        sys.exit("usage: nsys_report.py kernels|gaps REPORT.csv REPEAT")
    {"kernels": kernels, "gaps": gaps}[sys.argv[1]](sys.argv[2], int(sys.argv[3]))


if __name__ == "__main__":
    main()
