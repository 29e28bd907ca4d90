"""Writes the small torch.save files that TestTorchSavedFiles reads: state
dicts saved in the legacy format with every pickle protocol, a legacy file
whose writer claimed a big-endian machine, and checkpoints that keep
objects beside their state dict (argparse.Namespace, numpy values, sets,
complex tensors) or inside it.

Run from the repository root (Debian's python3-torch and python3-numpy):

    /usr/bin/python3 checkpoints/testdata/gen.py

Every state dict holds a.weight = [[0, 1, 2], [3, 4, 5]] and
a.bias = [0.5, -1], float32. The files differ from run to run in their
bytes, not their content: legacy storage keys are object addresses, and
sets pickle in hash order.
"""
import argparse
import collections
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))


def state_dict():
    return collections.OrderedDict(
        [
            ("a.weight", torch.arange(6, dtype=torch.float32).reshape(2, 3)),
            ("a.bias", torch.tensor([0.5, -1.0])),
        ]
    )


def save(name, obj, **kw):
    torch.save(obj, os.path.join(HERE, name), **kw)


for p in (2, 3, 4, 5):
    save(f"legacy_protocol{p}.pt", state_dict(), pickle_protocol=p, _use_new_zipfile_serialization=False)

# The legacy writer records sys.byteorder in its system information but
# writes counts and data in the machine's order, which on every machine
# torch runs on is little-endian; torch.load ignores the flag.
byteorder = sys.byteorder
sys.byteorder = "big"
try:
    save("legacy_flag_big_endian.pt", state_dict(), _use_new_zipfile_serialization=False)
finally:
    sys.byteorder = byteorder

args = argparse.Namespace(lr=0.1, name="run", betas=(0.9, 0.999))
extras = {
    "args": args,
    "epoch": 3,
    "best": np.float64(0.5),
    "mean": np.arange(3, dtype=np.float32),
    "tags": {"ffhq", "ema"},
    "counts": collections.Counter("aab"),
    "seed": 2**80 + 1,
    "spectrum": torch.zeros(2, dtype=torch.complex64),
}
save("wrapped_objects.pt", {"state_dict": state_dict(), **extras})
save("wrapped_objects_protocol4.pt", {"model": state_dict(), **extras}, pickle_protocol=4)
save("wrapped_objects_legacy.pt", {"ema": state_dict(), **extras}, pickle_protocol=4, _use_new_zipfile_serialization=False)

sd = state_dict()
sd["config"] = args
save("state_dict_with_namespace.pt", sd)
sd = state_dict()
sd["a.phase"] = torch.zeros(2, dtype=torch.complex64)
save("state_dict_with_complex.pt", sd)
save("wrapped_state_dict_with_numpy.pt", {"model": collections.OrderedDict(list(state_dict().items()) + [("scale", np.float32(2))]), "epoch": 1})
print("ok")
