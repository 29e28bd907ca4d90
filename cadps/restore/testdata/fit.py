"""Writes the fit-*.png fixtures of TestFitResizeReference.

For each case, the first FFHQ image of the shared data (cropped to the
case's height) is fitted to a square two ways and saved as 8-bit PNG:
fit-NAME-torchvision.png as torchvision's Resize(size, BICUBIC) and
CenterCrop(size) give it for a PIL image, and fit-NAME-guided.png as
guided-diffusion's center_crop_arr (image_datasets.py) gives it.

Run from the repository root: /usr/bin/python3 cadps/restore/testdata/fit.py
"""
import numpy as np
from PIL import Image

CASES = [("256x256-64", 256, 64), ("256x201-64", 201, 64), ("256x117-100", 117, 100)]


def torchvision_fit(im, size):
    w, h = im.size
    if w <= h:
        nw, nh = size, int(size * h / w)
    else:
        nw, nh = int(size * w / h), size
    a = np.asarray(im.resize((nw, nh), Image.BICUBIC))
    top, left = int(round((nh - size) / 2)), int(round((nw - size) / 2))
    return a[top:top + size, left:left + size]


def guided_fit(im, size):
    # halve with a box filter while the short side is at least twice the
    # size, then bicubic to the size, then a centre crop rounded down
    while min(im.size) >= 2 * size:
        im = im.resize(tuple(v // 2 for v in im.size), resample=Image.BOX)
    s = size / min(im.size)
    im = im.resize(tuple(round(v * s) for v in im.size), resample=Image.BICUBIC)
    a = np.asarray(im)
    top, left = (a.shape[0] - size) // 2, (a.shape[1] - size) // 2
    return a[top:top + size, left:left + size]


src = Image.open("../shared/data/ffhq/00000.png").convert("RGB")
for name, h, size in CASES:
    im = src.crop((0, 0, 256, h))
    Image.fromarray(torchvision_fit(im, size)).save(f"cadps/restore/testdata/fit-{name}-torchvision.png")
    Image.fromarray(guided_fit(im, size)).save(f"cadps/restore/testdata/fit-{name}-guided.png")
