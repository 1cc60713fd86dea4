"""Does phase 2 give the same map whatever its seed? Pooled per-class F1 on stmarg/Validate, seed by seed.

For each phase-2 classifier (``--phase2``) and share of training pixels (``--subsample``), the five
stmarg/Validate images are mapped with the StMarg CNN once per seed (``--seeds``), every other
setting at its default (``sscnb.params.SSCParams``). The seed draws phase 2's training pixels and its
held-out tiles and starts the classifier (the MLP's weights, the forest's trees). Prints, per seed,
the weighted F1 and each class's F1 of the final map (confusion matrices pooled over the images),
then each class's range over the seeds: the default phase 2 should keep dry sediment, the rarest
class, within 0.05.

    python benchmarks/seed_benchmark.py                                   # mlp and rf, seeds 1-6
    python benchmarks/seed_benchmark.py --phase2 mlp --subsample 0.01 0.05 --seeds 1 2 3
    python benchmarks/seed_benchmark.py --phase2 mlp --set min_class_sample=5000     # any SSCParams setting
    python benchmarks/seed_benchmark.py --phase2 rf --seeds 1 2 3 --set rf_min_leaf=1   # the forest's leaves
    python benchmarks/seed_benchmark.py --data sample_data/Validate --model outputs/sample_demo/model  # after make demo

Needs ../shared/data/stmarg and the StMarg model of configs/stmarg.yml (``python -m sscnb run
--config configs/stmarg.yml --only 01 02``). Writes outputs/benchmarks/seeds/seed_benchmark.csv.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's sscnb, whichever sscnb is installed
DATA = ROOT.parent / "shared" / "data" / "stmarg" / "Validate"


def phase2_settings(items: list[str]) -> dict:
    """Return the phase-2 settings of ``--set KEY=VALUE ...`` (values read as YAML), checked before any work.

    Shared by the benchmarks that take ``--set`` (seed, ssc, adapt).
    """
    import yaml

    from sscnb import ssc

    settings = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            sys.exit(f"--set {item}: write KEY=VALUE, e.g. min_class_sample=5000")
        settings[key] = yaml.safe_load(value)
    ssc.SSCParams.from_dict(settings, "--set")  # an unknown or wrong setting stops here, before any map
    return settings


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=str(ROOT / "outputs/stmarg/model/cnn_stmarg.keras"))
    ap.add_argument("--data", default=str(DATA), help="a folder of labelled images (default: stmarg/Validate)")
    ap.add_argument("--phase2", nargs="+", default=["mlp", "rf"])
    ap.add_argument("--subsample", type=float, nargs="+", default=[None], help="default: SSCParams' subsample")
    ap.add_argument("--features", default="median_rgb")
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5, 6])
    ap.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE", help="other SSCParams settings, for every run")
    ap.add_argument("--out", default=str(ROOT / "outputs/benchmarks/seeds"))
    a = ap.parse_args(argv)
    data = Path(a.data)
    if not data.is_dir():
        sys.exit(f"needs {data}")

    import pandas as pd

    from sscnb import ssc
    from sscnb.assess import _metrics as metrics
    from sscnb.cnn import _files as modelfiles
    from sscnb.cnn import machine
    from sscnb.data._pairs import find_pairs, read_pair

    settings = phase2_settings(a.set)
    cnn = modelfiles.load_model(a.model)
    codes = list(cnn.scheme.labelled_codes)
    names = {c: cnn.scheme.name(c) for c in cnn.scheme.codes}
    pairs = [read_pair(r, cnn.scheme, cnn.tile_size) for r in find_pairs(data)]
    print(f"machine: {machine()}; model {cnn.path.name}; {len(pairs)} images of {data}; settings {settings or 'defaults'}")
    rows = []
    for kind in a.phase2:
        for sub in a.subsample:
            extra = settings if sub is None else {**settings, "subsample": sub}
            for seed in a.seeds:
                p = ssc.SSCParams(phase2=kind, features=a.features, seed=seed, **extra)
                cm, t0, kept = 0, time.perf_counter(), 0
                for img, lab in pairs:
                    r = ssc.classify_image(img, cnn, p)
                    cm = cm + metrics.confusion(lab, r.final_map, codes)
                    kept += r.info.get("phase2_choice") != "CNN tile map"
                rep = metrics.report_from_confusion(cm, codes, names)
                row = {"phase2": kind, "subsample": p.subsample, "features": a.features, "settings": str(settings), "seed": seed}
                row["weighted_f1"] = metrics.weighted_f1(rep)
                row.update({f"f1_{rr['class']}": rr["f1_score"] for _, rr in rep.iterrows() if rr["support"] > 0})
                row["images_phase2_kept"] = kept
                row["s_per_image"] = round((time.perf_counter() - t0) / len(pairs), 1)
                rows.append(row)
                per = "  ".join(f"{k[3:]} {v:.3f}" for k, v in row.items() if k.startswith("f1_"))
                head = f"{kind} subsample {p.subsample} seed {seed}: weighted {row['weighted_f1']:.4f}"
                print(f"{head}  {per}  ({row['s_per_image']} s/image)", flush=True)
    df = pd.DataFrame(rows)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    df.to_csv(out / "seed_benchmark.csv", index=False)
    f1s = [c for c in df.columns if c.startswith("f1_") or c == "weighted_f1"]
    g = df.groupby(["phase2", "subsample"])
    summary = pd.concat(
        {"mean": g[f1s].mean(), "range": g[f1s].max() - g[f1s].min(), "time": g[["s_per_image"]].median()}, axis=1
    )
    print(f"\nover {len(a.seeds)} seeds ({os.cpu_count()} cores): mean and range (max - min) of each F1")
    print(summary.to_string(float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
