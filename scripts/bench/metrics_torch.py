"""PyTorch timings for scripts/bench/metrics.sh: LPIPS (alex) on 16 pairs of
256x256 images and FID Inception pool3 features of 16 images of 256x256,
with the networks of scripts/fixtures (torchvision's modules) and random
weights, on the CPU with every core (or $OMP_NUM_THREADS threads). Prints "lpips SECONDS" and
"fid SECONDS", the mean over the iterations after one warm-up run."""
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "fixtures"))
import fid_reference  # noqa: E402
from make_metric_fixtures import LPIPS, backbone  # noqa: E402


def timed(f, iters):
    with torch.no_grad():
        f()
        t = time.perf_counter()
        for _ in range(iters):
            f()
        return (time.perf_counter() - t) / iters


def main():
    iters = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS") or os.cpu_count()))
    torch.manual_seed(0)
    lin = {f"lin{k}.model.1.weight": torch.rand(1, c, 1, 1) for k, c in enumerate([64, 192, 384, 256, 256])}
    lp = LPIPS("alex", backbone("alex"), lin)
    x0, x1 = torch.rand(16, 3, 256, 256) * 2 - 1, torch.rand(16, 3, 256, 256) * 2 - 1
    print(f"lpips {timed(lambda: lp(x0, x1), iters):.4f}", flush=True)
    inc = fid_reference.fid_inception()
    x = torch.rand(16, 3, 256, 256)
    print(f"fid {timed(lambda: fid_reference.blocks(inc, x, 3), iters):.4f}", flush=True)


if __name__ == "__main__":
    main()
