"""Batch benchmark: notebook 03's work in this process and on a Dask LocalCluster.

The images of stmarg/Validate, in this process and on 1 and 2 workers, with images per hour and the per-image
times side by side.

    python benchmarks/batch_benchmark.py                 # serial, 1 and 2 workers
    python benchmarks/batch_benchmark.py --workers 1 2 4

Needs a CNN trained on StMarg by notebook 02 (``python -m sscnb run --config configs/stmarg.yml
--only 00 01 02``) and ../shared/data/stmarg. Figures are drawn (as in notebook 03).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402

from sscnb import evaluation, ssc  # noqa: E402
from sscnb.cnn import _files as modelfiles  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=str(ROOT / "outputs/stmarg/model/cnn_stmarg.keras"))
    ap.add_argument("--data", default=str(ROOT.parent / "shared/data/stmarg/Validate"))
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    a = ap.parse_args()
    if not Path(a.model).exists():
        sys.exit(f"{a.model} not found: train it with python -m sscnb run --config configs/stmarg.yml --only 00 01 02")
    if not Path(a.data).is_dir():
        sys.exit(f"{a.data} not found: the real StMarg data is only on CI and developer machines")
    cnn = modelfiles.load_model(a.model)
    work = Path(tempfile.mkdtemp(prefix="sscnb_batch_"))
    rows, per_image = [], {}
    try:
        for workers in [None] + a.workers:
            label = "serial (in process)" if workers is None else f"{workers} worker(s)"
            out = work / (f"w{workers}" if workers else "serial")
            t0 = time.perf_counter()
            summary, timings = evaluation.evaluate_folder(
                a.data, cnn, out, "bench", ssc.SSCParams(), progress=False, workers=workers, log=lambda *_: None
            )
            wall = time.perf_counter() - t0
            n = len(summary)
            rows.append(
                {
                    "run": label,
                    "images": n,
                    "wall_s": round(wall, 1),
                    "images_per_hour": round(3600 * n / wall),
                    "F1_final": round(evaluation.overall_f1(out, "bench")["MLP"], 5),
                }
            )
            per_image[label] = timings.set_index("image")["total"].round(2)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    from sscnb.cnn import machine

    print(f"machine: {machine()}; {a.data}")
    print(pd.DataFrame(rows).to_string(index=False))
    print("\nseconds per image (each run's own timing of read + SSC + figure, inside its process):")
    print(pd.DataFrame(per_image).to_string())
    print("\n(wall time includes starting the workers and loading the model in each)")


if __name__ == "__main__":
    main()
