"""The median filter of phase 2 on one strip of ``sscnb map``: on the CPU and on Keras's device.

    python benchmarks/median_benchmark.py [--data ../shared/data/stmarg/Validate] [--rows 660 --cols 12000]

Builds a strip the size ``sscnb map`` filters on the 12 000 px mosaic (660 x 12 000 px by default,
from a StMarg image repeated, with a no-data border) and filters its three bands with
``features.median_rgb`` (radius 5) as ``$SSCNB_MEDIAN`` picks: ``cpu`` (the compiled filter in row
blocks on every core) and ``accelerator`` (``sscnb.phase2``, radix select in ``keras.ops``, on
a GPU where Keras has one, else on the CPU through XLA). Prints the machine, the first call of each
(which compiles), the best of the next ``--repeat``, host arrays in and out, and whether the two are
identical.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=str(ROOT.parent / "shared/data/stmarg/Validate"))
    ap.add_argument("--image", default="StMarg_31162.jpg")
    ap.add_argument("--rows", type=int, default=660, help="strip height, px (default %(default)s)")
    ap.add_argument("--cols", type=int, default=12_000, help="strip width, px (default %(default)s)")
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args(argv)

    from skimage.io import imread

    from sscnb.cnn import machine
    from sscnb.cnn._keras import _keras
    from sscnb.phase2 import _features as features

    path = Path(a.data) / a.image
    if not path.exists():
        sys.exit(f"{path} not found: give --data the folder of the StMarg Validate images")
    _keras()  # Keras in use, as in sscnb map: "auto" would pick the accelerator where there is one
    img = imread(path)[..., :3]
    reps = -(-a.cols // img.shape[1])
    strip = np.ascontiguousarray(np.concatenate([img] * reps, axis=1)[: a.rows, : a.cols])
    valid = np.ones(strip.shape[:2], bool)
    valid[:, : a.cols // 300] = False  # a no-data border, as an orthomosaic's
    print(f"machine: {machine()}; median where unset: {features.median_device()}")
    print(f"strip: {strip.shape[0]} x {strip.shape[1]} px x 3 bands = {strip.shape[0] * strip.shape[1] / 1e6:.1f} Mpx")
    outs = {}
    for device in ("cpu", "accelerator"):
        os.environ["SSCNB_MEDIAN"] = device
        times = []
        for _ in range(1 + a.repeat):
            t0 = time.perf_counter()
            outs[device] = features.median_rgb(strip, 5, valid)
            times.append(time.perf_counter() - t0)
        print(f"{device:>12}: first {times[0]:7.3f} s, then best {min(times[1:]) * 1e3:7.1f} ms", flush=True)
    print(f"identical: {np.array_equal(outs['cpu'], outs['accelerator'])}")


if __name__ == "__main__":
    main()
