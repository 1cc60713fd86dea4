"""Tile prediction as ``sscnb map`` calls it: strip after strip of different tile counts.

    python benchmarks/predict_benchmark.py [--model outputs/stmarg/model/cnn_stmarg.keras] [--tiles 57600]

Compares, each on a freshly loaded model (so that first-time compilation counts, as it does for a
user), the old way (``model.predict`` at batch 256 on each strip as it comes: every new remainder
is a new batch shape, which XLA compiles anew under JAX or TensorFlow) with ``predict_tiles``
(batches of one fixed shape, the last padded; 512 tiles on a GPU, 256 on a CPU, or
``$SSCNB_PREDICT_BATCH``), and says whether both give the same classes. Prints the machine (cores,
Keras backend, accelerator). Random tiles: the time does not depend on what they show.
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
    ap.add_argument("--model", default=str(ROOT / "outputs/stmarg/model/cnn_stmarg.keras"))
    ap.add_argument("--tiles", type=int, default=57_600, help="tiles in all (a 12 000 px mosaic at 50 px)")
    ap.add_argument("--strips", type=int, default=24)
    a = ap.parse_args(argv)

    from sscnb.cnn import _files as modelfiles
    from sscnb.cnn import _model as cnn
    from sscnb.cnn import machine

    if not Path(a.model).exists():
        sys.exit(f"{a.model} not found: train it with python -m sscnb run --config configs/stmarg.yml --only 01 02")
    side = cnn.network_side(modelfiles.load_model(a.model).model)
    print(f"machine: {machine()}; fixed batch {cnn.predict_batch_size(side)} tiles of {side} px as the network sees them")
    rng = np.random.default_rng(0)
    sizes = rng.integers(int(0.75 * a.tiles / a.strips), int(1.1 * a.tiles / a.strips), a.strips)
    T = modelfiles.load_model(a.model).tile_size
    strips = [rng.integers(0, 256, (int(n), T, T, 3), dtype=np.uint8) for n in sizes]
    n = int(sizes.sum())
    results = {}
    for label, fn in (
        (
            "per-strip shapes (model.predict, batch 256)",
            lambda m, x: np.asarray(m.predict(x.astype(np.float32), batch_size=256, verbose=0)),
        ),
        ("fixed shape (predict_tiles)", lambda m, x: cnn.predict_tiles(m, x)),
    ):
        model = modelfiles.load_model(a.model).model
        for run in ("first", "again"):
            t0 = time.perf_counter()
            out = [fn(model, x) for x in strips]
            dt = time.perf_counter() - t0
            print(
                f"{label:>44}, {run}: {dt:6.2f} s = {n / dt:9,.0f} tiles/s ({n:,} tiles in {a.strips} strips "
                f"of {sizes.min():,}-{sizes.max():,})",
                flush=True,
            )
        results[label] = np.concatenate(out).argmax(axis=1)
    a_, b_ = results.values()
    print(f"same class for {np.mean(a_ == b_):.4%} of the tiles")


if __name__ == "__main__":
    main()
