"""Writes resize299.txt: values of F.interpolate(x, (299, 299), mode='bilinear',
align_corners=False) for a few input sizes, which TestResizeTorch compares
with fid.Resize bit for bit.

Run from the repository root (Debian's python3-torch):

    /usr/bin/python3 cadps/metrics/fid/testdata/resize299.py

Input: one image [1,3,H,W] with value k at flat index k being
((k·7919) mod 10007) / 10007 rounded to float32. Output lines: H W c y x and
the float32 bits of out[0,c,y,x] in hex, for 40 positions per size drawn
with numpy's RandomState(0).
"""
import os

import numpy as np
import torch
import torch.nn.functional as F

SIZES = [(28, 28), (300, 299), (512, 384), (1024, 1000)]

rng = np.random.RandomState(0)
lines = [
    f"# F.interpolate(x, (299, 299), mode='bilinear', align_corners=False), torch {torch.__version__};",
    "# made by /usr/bin/python3 cadps/metrics/fid/testdata/resize299.py (see it for the input)",
    "# H W channel y x float32-bits",
]
for h, w in SIZES:
    k = np.arange(3 * h * w, dtype=np.int64)
    x = ((k * 7919) % 10007 / 10007).astype(np.float32).reshape(1, 3, h, w)
    y = F.interpolate(torch.from_numpy(x), size=(299, 299), mode="bilinear", align_corners=False).numpy()
    pos = sorted(zip(rng.randint(0, 3, 40), rng.randint(0, 299, 40), rng.randint(0, 299, 40)))
    for c, i, j in pos:
        bits = np.float32(y[0, c, i, j]).view(np.uint32)
        lines.append(f"{h} {w} {c} {i} {j} {bits:08x}")
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "resize299.txt"), "w") as f:
    f.write("\n".join(lines) + "\n")
