"""Phase 2's feature sets on a new river: median RGB against median RGB + the multiscale bands.

For each Wildcat frame (``../shared/data/wildcat``, dense labels), N pure 50 px tiles (purity 0.9,
as a user labels them) are drawn at random, once per seed. Phase 2 (``SSCParams`` defaults, the
classifier of ``--phase2``) is trained on the pixels of those tiles alone, with each feature set,
predicts the whole frame, and is scored: pixel-weighted F1 and F1 per class, on every labelled
pixel and on the labelled pixels outside the N tiles. No CNN: this measures what the features can
carry when phase 2 learns from the user's own tiles. Prints the machine's cores and the seconds of
each stage (features, fit, predict).

    python benchmarks/features_benchmark.py [--n 25 50 100] [--seeds 0 1 2] [--phase2 mlp|rf]
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
import pandas as pd  # noqa: E402

from sscnb import ssc  # noqa: E402
from sscnb.assess import _metrics as metrics  # noqa: E402
from sscnb.data import _tiles as tiles  # noqa: E402
from sscnb.data._pairs import find_pairs, read_pair  # noqa: E402
from sscnb.phase2 import _choose as phase2  # noqa: E402
from sscnb.phase2 import _features as features  # noqa: E402
from sscnb.phase2 import _pixel as pixel  # noqa: E402

CODES = [1, 2, 3, 4, 5]
NAMES = {1: "water", 2: "dry sediment", 3: "green vegetation", 4: "senescent vegetation", 5: "paved road"}


def run_frame(image, label, n_tiles, seeds, params_by_set, tile=50):
    """Return one row per (feature set, N, seed) for one frame, and the seconds of the features."""
    pure = tiles.purity_labels(label, tile, CODES, 0.9).reshape(tiles.grid_shape(label.shape, tile))
    candidates = np.flatnonzero(pure.ravel() > 0)
    rows, feats, secs = [], {}, {}
    for name, p in params_by_set.items():
        t0 = time.perf_counter()
        feats[name] = features.pixel_features(image, p.median_radius, p.use_entropy, None, p.features)
        secs[name] = time.perf_counter() - t0
    for n in n_tiles:
        for seed in seeds:
            chosen = np.random.default_rng(seed).choice(candidates, size=min(n, len(candidates)), replace=False)
            grid = np.zeros(pure.shape, np.uint8)
            grid.ravel()[chosen] = pure.ravel()[chosen]
            in_tiles = np.kron(grid > 0, np.ones((tile, tile), bool))
            outside = np.ones(label.shape, bool)
            outside[: in_tiles.shape[0], : in_tiles.shape[1]] = ~in_tiles
            for name, p in params_by_set.items():
                r, c, y = pixel.sample_tile_pixels(
                    grid, tile, p.subsample, p.min_sample, p.seed, max_sample=p.max_sample, min_class=p.min_class_sample
                )
                cand = phase2.candidate_features(p.use_entropy, p.features)[-1]
                t0 = time.perf_counter()
                clf = phase2.fit_phase2(phase2._candidate_x(feats[name][r, c], cand), y, p)
                t_fit = time.perf_counter() - t0
                t0 = time.perf_counter()
                final = clf.predict(phase2._candidate_x(feats[name], cand))
                t_pred = time.perf_counter() - t0
                rep = metrics.class_report(label, final, CODES, NAMES)
                rep_out = metrics.class_report(np.where(outside, label, 0), final, CODES, NAMES)
                row = {"features": name, "n_tiles": n, "seed": seed, "f1": metrics.weighted_f1(rep)}
                row["f1_outside_tiles"] = metrics.weighted_f1(rep_out)
                for _, cls in rep[rep.support > 0].iterrows():
                    row[f"F1 {cls['class']}"] = cls.f1_score
                row.update(fit_s=t_fit, predict_s=t_pred)
                rows.append(row)
    return rows, secs


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=str(ROOT.parent / "shared/data/wildcat"))
    ap.add_argument("--n", type=int, nargs="+", default=[25, 50, 100])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--phase2", default="mlp", choices=["mlp", "mlp_rf", "rf"], help="default mlp: the MLP of the measured pages")
    ap.add_argument("--out", default=str(ROOT / "outputs/benchmarks/features"))
    args = ap.parse_args(argv)
    recs = find_pairs(args.data)
    if not recs:
        raise SystemExit(f"no labelled images in {args.data} (the Wildcat frames of ../shared/data; see its README)")
    print(f"{os.cpu_count()} CPU cores; phase 2: {args.phase2}; N = {args.n}; seeds {args.seeds}")
    sets = {fs: ssc.SSCParams(phase2=args.phase2, features=fs) for fs in features.FEATURE_SETS}
    rows = []
    for rec in recs:
        image, label = read_pair(rec)
        frame_rows, secs = run_frame(image, label, args.n, args.seeds, sets)
        mpx = image.shape[0] * image.shape[1] / 1e6
        print(f"{rec.name} ({mpx:.1f} Mpx): features " + ", ".join(f"{k} {v:.1f} s" for k, v in secs.items()))
        rows += [{"image": rec.name, "features_s": secs[r["features"]], **r} for r in frame_rows]
    df = pd.DataFrame(rows)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    df.to_csv(out / f"features_{args.phase2}.csv", index=False)
    cols = ["f1", "f1_outside_tiles"] + [c for c in df.columns if c.startswith("F1 ")] + ["fit_s", "predict_s"]
    summary = df.groupby(["image", "n_tiles", "features"])[cols].agg(["mean", "min", "max"])
    with pd.option_context("display.width", 250, "display.max_columns", 40, "display.precision", 3):
        print(df.groupby(["image", "n_tiles", "features"])[cols].mean())
        print("\nspread over seeds (max - min) of F1:")
        print((summary.xs("max", axis=1, level=1) - summary.xs("min", axis=1, level=1))[["f1"] + cols[2:-2]])
    print(f"\nrows: {out / f'features_{args.phase2}.csv'}")


if __name__ == "__main__":
    main()
