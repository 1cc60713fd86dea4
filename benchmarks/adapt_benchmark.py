"""Adapt the StMarg CNN to a second river (Wildcat Creek) with N labelled tiles, and score it.

A simulated user labels N = 0, 25, 50, 100, 200 tiles of frame 3 only, in the labeller's order
(sscnb.labeller.LabelSession); each tile's class is read from the label raster for that tile only
(a tile that is not 90% one class is "mixed"). The model is fine-tuned (sscnb.adapt.fine_tune,
default settings), then both frames are mapped (phase 1 + phase 2 with its self-check; on frame 3
the user's tiles judge phase 2) and scored on all their labelled pixels. stmarg/Validate is scored
with the adapted model too (does replay keep what the model knew?).

    python benchmarks/adapt_benchmark.py                       # N = 0 25 50 100 200, mixed order
    python benchmarks/adapt_benchmark.py --n 50 100 --orders mixed random least_confident diverse

Needs ../shared/data/wildcat and ../shared/data/stmarg, and the StMarg model of configs/stmarg.yml
(``python -m sscnb run --config configs/stmarg.yml --only 01 02``). Writes
outputs/benchmarks/adapt/adapt_benchmark.csv and adapt_benchmark.png, and each simulated user's labels
(tile_labels_<order>_<N>.csv; configs/wildcat.yml runs notebook 07 with the 100 of the mixed order).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=str(ROOT / "outputs/stmarg/model/cnn_stmarg.keras"))
    ap.add_argument("--n", type=int, nargs="+", default=[0, 25, 50, 100, 200])
    ap.add_argument("--orders", nargs="+", default=["mixed"])
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--replay", type=float, default=None)
    ap.add_argument("--no-stmarg", action="store_true", help="skip scoring stmarg/Validate")
    ap.add_argument("--out", default=str(ROOT / "outputs/benchmarks/adapt"))
    ap.add_argument("--replot", action="store_true", help="only redraw the plot from the CSV in --out")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--min-agreement", type=float, default=None, help="phase 2's self-check threshold (default: SSCParams)")
    a = ap.parse_args(argv)

    import numpy as np
    import pandas as pd

    if a.replot:
        out = Path(a.out)
        _plot(pd.read_csv(out / "adapt_benchmark.csv"), out / "adapt_benchmark.png", os.cpu_count())
        return
    from sscnb import adapt, labeller, labels, metrics, modelfiles, ssc
    from sscnb import tiles as T
    from sscnb.data import find_pairs, read_pair

    wild = DATA / "wildcat"
    if not wild.is_dir() or not (DATA / "stmarg").is_dir():
        sys.exit(f"needs {wild} and {DATA / 'stmarg'}")
    parent = modelfiles.load_model(a.model)
    scheme = parent.scheme
    tile = parent.tile_size
    codes = list(scheme.labelled_codes)
    names = {c: scheme.name(c) for c in scheme.codes}
    recs = {r.name: r for r in find_pairs(wild)}
    f3, f4 = recs["Wildcat_0003"], recs["Wildcat_0004"]
    pairs = {n: read_pair(r, scheme, tile) for n, r in recs.items()}
    truth3 = T.purity_labels(pairs[f3.name][1], tile, codes, 0.9).reshape(T.grid_shape(pairs[f3.name][1].shape, tile))
    stmarg_val = find_pairs(DATA / "stmarg" / "Validate")
    stmarg_pairs = [read_pair(r, scheme, tile) for r in stmarg_val] if not a.no_stmarg else []
    kw = {}
    if a.epochs is not None:
        kw["epochs"] = a.epochs
    if a.replay is not None:
        kw["replay"] = a.replay if a.replay < 1 else int(a.replay)
    replay_dir = DATA / "stmarg" / "Train"
    params = ssc.SSCParams() if a.min_agreement is None else ssc.SSCParams(min_agreement=a.min_agreement)
    unchecked = ssc.SSCParams(**{**params.to_dict(), "phase2_check": False})
    from sscnb.provenance import machine

    print(
        f"machine: {machine()}; model {parent.path.name}; phase 2 {params.phase2_name}; "
        f"train_confidence {params.train_confidence}, min_agreement {params.min_agreement}"
    )
    rows = []
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)

    def score(model, name, judge=None):
        img, lab = pairs[name]
        res = ssc.classify_image(img, model, params, judge=judge)
        r_c = metrics.class_report(lab, res.cnn_map, codes, names)
        r_f = metrics.class_report(lab, res.final_map, codes, names)
        d = {
            "f1_cnn": metrics.weighted_f1(r_c),
            "f1_final": metrics.weighted_f1(r_f),
            "phase2": res.info.get("phase2_choice"),
            "agreement": str(res.info.get("agreement")),
            "agreement_pixels": str(res.info.get("agreement_pixels")),
            "f1_phase2_unchecked": metrics.weighted_f1(
                metrics.class_report(lab, ssc.classify_image(img, model, unchecked).final_map, codes, names)
            ),
        }
        err = metrics.errors_by_confidence(lab, res.cnn_map, res.cnn_proba.max(axis=-1), tile)
        d["cnn_wrong_low_conf_half"], d["cnn_wrong_high_conf_half"] = err["low"], err["high"]
        d["macro_f1_cnn"], d["macro_f1_final"] = metrics.macro_f1(r_c), metrics.macro_f1(r_f)
        for rep, tag in ((r_c, "cnn"), (r_f, "final")):
            for _, rr in rep.iterrows():
                if rr["support"] > 0:
                    d[f"{tag}_f1_{rr['class']}"] = rr["f1_score"]
        return d

    for order in a.orders:
        with tempfile.TemporaryDirectory() as tmp:
            sess = labeller.LabelSession(
                {f3.name: f3.image_path}, Path(tmp) / "labels.csv", parent, order=order, seed=a.seed, max_tiles_per_image=None
            )
            for n in sorted(a.n):
                while len(sess.table) < n and sess.current() is not None:
                    _, r, c = sess.current()
                    code = int(truth3[r, c])
                    sess.label(code if code > 0 else labels.MIXED)
                tab = sess.table
                if sess.path.exists():  # for configs/wildcat.yml
                    shutil.copyfile(sess.path, out / f"tile_labels_{order}_{n}.csv")
                new = labels.tile_set(tab, {f3.name: f3.image_path}, tile)
                counts = {names[c]: int((new.y == c).sum()) for c in codes if (new.y == c).any()}
                if n == 0:
                    model, secs = parent, 0.0
                else:
                    res = adapt.fine_tune(parent, new, replay_dir=replay_dir, seed=a.seed, progress=False, **kw)
                    secs = res.seconds
                    model = modelfiles.LoadedModel(res.model, res.key, res.card, parent.path, scheme)
                judge = np.zeros_like(truth3)
                lab_rows = tab[tab.class_code > 0]
                judge[lab_rows.tile_row.to_numpy(), lab_rows.tile_col.to_numpy()] = lab_rows.class_code.to_numpy()
                base = {
                    "order": order,
                    "n_labelled": n,
                    "n_pure": len(new),
                    "tiles_per_class": str(counts),
                    "fine_tune_s": round(secs, 1),
                }
                for frame, jd in ((f3.name, judge if n else None), (f4.name, None)):
                    t0 = time.perf_counter()
                    d = score(model, frame, jd)
                    rows.append({**base, "image": frame, **d, "map_s": round(time.perf_counter() - t0, 1)})
                    print(
                        f"{order:>15} N={n:>3} ({len(new)} pure) {frame}: CNN {d['f1_cnn']:.3f} final "
                        f"{d['f1_final']:.3f} (phase 2 unchecked {d['f1_phase2_unchecked']:.3f}) "
                        f"[{d['phase2']}; agreement {d['agreement']} pixels "
                        f"{d['agreement_pixels']}] fine-tune {secs:.0f} s",
                        flush=True,
                    )
                if stmarg_pairs:
                    tp = {}
                    for img, lab in stmarg_pairs:
                        r = ssc.classify_image(img, model, params)
                        for tag, mp in (("cnn", r.cnn_map), ("final", r.final_map)):
                            rep = metrics.class_report(lab, mp, codes, names)
                            tp.setdefault(tag, []).append(rep)
                    d = {f"f1_{tag}": metrics.weighted_f1(reps) for tag, reps in tp.items()}
                    rows.append({**base, "image": "stmarg/Validate", **d})
                    print(f"{order:>15} N={n:>3} stmarg/Validate: CNN {d['f1_cnn']:.4f} final {d['f1_final']:.4f}", flush=True)
    df = pd.DataFrame(rows)
    df.to_csv(out / "adapt_benchmark.csv", index=False)
    print(
        df[["order", "n_labelled", "n_pure", "image", "f1_cnn", "f1_final", "phase2", "fine_tune_s"]].to_string(
            index=False, float_format=lambda v: f"{v:.3f}"
        )
    )
    per_class = [c for c in df.columns if c.startswith(("cnn_f1_", "final_f1_"))]
    print("\nper class F1, and the share of labelled pixels the CNN map gets wrong in its less / more confident half of tiles:")
    print(
        df[df.image != "stmarg/Validate"][
            ["order", "n_labelled", "image", *per_class, "cnn_wrong_low_conf_half", "cnn_wrong_high_conf_half"]
        ].to_string(index=False, float_format=lambda v: f"{v:.3f}")
    )
    _plot(df, out / "adapt_benchmark.png", os.cpu_count())
    print(f"wrote {out / 'adapt_benchmark.csv'} and {out / 'adapt_benchmark.png'}")


def _plot(df, path, cores):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sscnb.classes import ClassScheme

    scheme = ClassScheme.default()
    colour = {scheme.name(c): scheme.colour(c) for c in scheme.labelled_codes}
    frames = [f for f in df.image.unique() if f != "stmarg/Validate"]
    fig, axes = plt.subplots(1, len(frames) + 1, figsize=(5 * (len(frames) + 1), 4), sharey=True)
    for ax, frame in zip(axes, frames + ["stmarg/Validate"], strict=True):
        d = df[df.image == frame]
        for order, g in d.groupby("order"):
            ax.plot(g.n_labelled, g.f1_cnn, "o--", color="k", label=f"CNN map ({order})")
            ax.plot(g.n_labelled, g.f1_final, "s-", color="tab:red", alpha=0.7, label=f"final map ({order})")
            if frame != "stmarg/Validate" and order == "mixed":
                for col in [c for c in g.columns if c.startswith("final_f1_")]:
                    name = col.replace("final_f1_", "")
                    ax.plot(g.n_labelled, g[col], ":", color=colour.get(name), lw=2, label=f"final: {name}")
        ax.set_title(
            frame
            + (
                " (labelled frame)"
                if frame.endswith("0003")
                else " (never labelled)"
                if frame.endswith("0004")
                else " (replay check)"
            )
        )
        ax.set_xlabel("labelled tiles of frame 3")
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("F1 (pixel-weighted; dotted: per class)")
    axes[0].legend(fontsize=7)
    secs = df.groupby("n_labelled").fine_tune_s.max()
    fig.suptitle(
        "Adapting the StMarg CNN to Wildcat Creek; fine-tuning "
        + ", ".join(f"N={n}: {s:.0f} s" for n, s in secs.items() if n)
        + f" on {cores} cores"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
