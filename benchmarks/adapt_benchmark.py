"""Adapt the StMarg CNN to a second river (Wildcat Creek) with N labelled tiles, and score it.

A simulated user labels N tiles, of frame 3 only (``--labelled 3``) or half on each of frames 3 and
4 (``both``), in the labeller's order (sscnb.labels.LabelSession); each tile's class is read from
the label raster for that tile only (a tile that is not 90% one class is "mixed"). The model is
fine-tuned (sscnb.adapt.fine_tune, default settings), then both frames are mapped: phase 1, then
phase 2 with each feature set (``--features``; median RGB and multiscale), which on a labelled frame
learns from the user's tiles and is judged on them (sscnb.phase2.choose_phase2). Each map is
scored on all the frame's labelled pixels (the user's tiles included) and outside the user's tiles.
stmarg/Validate is scored with the adapted model too (does replay keep what the model knew?).

    python benchmarks/adapt_benchmark.py                      # N = 0 25 50 100; frame 3, then both
    python benchmarks/adapt_benchmark.py --n 100 --labelled both --seeds 1 2 3 --no-stmarg
    python benchmarks/adapt_benchmark.py --model imagenet-stmarg --n 0 50 100 --no-stmarg --out outputs/benchmarks/adapt_imagenet

Needs ../shared/data/wildcat and ../shared/data/stmarg, and the StMarg model of configs/stmarg.yml
(``python -m sscnb run --config configs/stmarg.yml --only 01 02``). Writes
outputs/benchmarks/adapt/adapt_benchmark.csv and adapt_benchmark.png, and each simulated user's labels
(tile_labels_<labelled>_<N>.csv; configs/wildcat.yml runs notebook 07 with the 100 of frame 3).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's sscnb, whichever sscnb is installed
DATA = ROOT.parent / "shared" / "data"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--model",
        default=str(ROOT / "outputs/stmarg/model/cnn_stmarg.keras"),
        help="the parent model; imagenet-stmarg: EfficientNet-Lite0's frozen ImageNet features with a head trained on "
        "stmarg/Train alone (as the shipped rivers model, without Wildcat), built once into --out",
    )
    ap.add_argument("--n", type=int, nargs="+", default=[0, 25, 50, 100])
    ap.add_argument("--labelled", nargs="+", choices=["3", "both"], default=["3", "both"])
    ap.add_argument("--features", nargs="+", default=["median_rgb", "multiscale"])
    ap.add_argument("--phase2", default=None, help="mlp, rf or mlp_rf (default: SSCParams)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[42], help="phase 2's seeds (the labels and fine-tuning keep --seed)")
    ap.add_argument("--order", default="mixed")
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--replay", type=float, default=None)
    ap.add_argument("--label-cnn-share", type=float, default=None)
    ap.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE", help="other phase-2 settings (e.g. mlp_depth=compact)")
    ap.add_argument("--no-stmarg", action="store_true", help="skip scoring stmarg/Validate")
    ap.add_argument(
        "--also-unchecked",
        action="store_true",
        help="on a labelled frame, also map with phase2_check off (f1_unchecked: what phase 2 gives where its check refused it)",
    )
    ap.add_argument("--out", default=str(ROOT / "outputs/benchmarks/adapt"))
    ap.add_argument("--replot", action="store_true", help="only redraw the plot from the CSV in --out")
    ap.add_argument("--seed", type=int, default=42)
    a = ap.parse_args(argv)

    import numpy as np
    import pandas as pd
    from seed_benchmark import phase2_settings  # benchmarks/: one reading of --set

    if a.replot:
        out = Path(a.out)
        _plot(pd.read_csv(out / "adapt_benchmark.csv"), out / "adapt_benchmark.png", os.cpu_count())
        return
    from sscnb import labels, ssc
    from sscnb.adapt import _finetune as adapt
    from sscnb.assess import _metrics as metrics
    from sscnb.cnn import _files as modelfiles
    from sscnb.cnn import machine
    from sscnb.data import _tiles as T
    from sscnb.data._pairs import find_pairs, read_pair
    from sscnb.labels import _labeller as labeller
    from sscnb.phase2._choose import TILE_MAP, PixelLabels

    wild = DATA / "wildcat"
    if not wild.is_dir() or not (DATA / "stmarg").is_dir():
        sys.exit(f"needs {wild} and {DATA / 'stmarg'}")
    parent = modelfiles.load_model(_imagenet_stmarg(Path(a.out), a.seed) if a.model == "imagenet-stmarg" else a.model)
    scheme = parent.scheme
    tile = parent.tile_size
    codes = list(scheme.labelled_codes)
    names = {c: scheme.name(c) for c in scheme.codes}
    recs = {r.name: r for r in find_pairs(wild)}
    frames = ["Wildcat_0003", "Wildcat_0004"]
    pairs = {n: read_pair(recs[n], scheme, tile) for n in frames}
    truth = {n: T.purity_labels(pairs[n][1], tile, codes, 0.9).reshape(T.grid_shape(pairs[n][1].shape, tile)) for n in frames}
    stmarg_pairs = [read_pair(r, scheme, tile) for r in find_pairs(DATA / "stmarg" / "Validate")] if not a.no_stmarg else []
    kw = {}
    if a.epochs is not None:
        kw["epochs"] = a.epochs
    if a.replay is not None:
        kw["replay"] = a.replay if a.replay < 1 else int(a.replay)
    base_settings = {k: v for k, v in (("phase2", a.phase2), ("label_cnn_share", a.label_cnn_share)) if v is not None}
    base_settings |= phase2_settings(a.set)
    print(f"machine: {machine()}; model {parent.path.name}; settings {ssc.SSCParams(**base_settings).to_dict()}")
    rows = []
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)

    def scores(lab, res, user):
        """F1 of both maps on all labelled pixels and outside the user's tiles, and the final map's per class."""
        outside = np.where(user, 0, lab)
        d = {}
        for tag, mp in (("cnn", res.cnn_map), ("final", res.final_map)):
            rep = metrics.class_report(lab, mp, codes, names)
            d[f"f1_{tag}"] = metrics.weighted_f1(rep)
            d[f"f1_{tag}_outside"] = metrics.weighted_f1(metrics.class_report(outside, mp, codes, names))
            for _, rr in rep.iterrows():
                if rr["support"] > 0:
                    d[f"{tag}_f1_{rr['class']}"] = rr["f1_score"]
        return d

    for labelled in a.labelled:
        on = ["Wildcat_0003"] if labelled == "3" else frames
        for n in sorted(a.n):
            tables = []
            with tempfile.TemporaryDirectory() as tmp:
                for k, frame in enumerate(on):  # half each on both frames
                    want = n // len(on) + (1 if k < n % len(on) else 0)
                    sess = labeller.LabelSession(
                        {frame: recs[frame].image_path},
                        Path(tmp) / f"{frame}.csv",
                        parent,
                        order=a.order,
                        seed=a.seed,
                        max_tiles_per_image=None,
                    )
                    while len(sess.table) < want and sess.current() is not None:
                        _, r, c = sess.current()
                        code = int(truth[frame][r, c])
                        sess.label(code if code > 0 else labels.MIXED)
                    tables.append(sess.table)
            tab = pd.concat(tables, ignore_index=True)
            tab.to_csv(out / f"tile_labels_{labelled}_{n}.csv", index=False)
            images = {f: recs[f].image_path for f in on}
            new = labels.tile_set(tab, images, tile)
            if n == 0:
                model, secs = parent, 0.0
            else:
                res = adapt.fine_tune(parent, new, replay_dir=DATA / "stmarg" / "Train", seed=a.seed, progress=False, **kw)
                secs = res.seconds
                model = modelfiles.LoadedModel(res.model, res.key, res.card, parent.path, scheme)
            base = {
                "parent": parent.path.stem,
                "labelled": labelled,
                "n_labelled": n,
                "n_pure": len(new),
                "tiles_per_class": str({names[c]: int((new.y == c).sum()) for c in codes if (new.y == c).any()}),
                "fine_tune_s": round(secs, 1),
            }
            for frame in frames:
                img, lab = pairs[frame]
                mine = tab[(tab.image == frame) & (tab.class_code > 0)]
                grid = np.zeros(truth[frame].shape, np.int64)
                grid[mine.tile_row.to_numpy(), mine.tile_col.to_numpy()] = mine.class_code.to_numpy()
                user = np.kron(grid > 0, np.ones((tile, tile), bool))
                user = np.pad(user, ((0, lab.shape[0] - user.shape[0]), (0, lab.shape[1] - user.shape[1])))
                plabels = PixelLabels.from_tile_grid(grid, tile, learnt=True) if len(mine) else None
                for feats in a.features:
                    for seed in a.seeds:
                        params = ssc.SSCParams(**base_settings, features=feats, seed=seed)
                        t0 = time.perf_counter()
                        r = ssc.classify_image(img, model, params, labels=plabels, name=frame)
                        d = scores(lab, r, user)
                        lf1 = r.info.get("label_f1", {})
                        d["label_f1_tile"] = lf1.get(TILE_MAP)
                        d["label_f1_phase2"] = max((v for k, v in lf1.items() if k != TILE_MAP), default=None)
                        if a.also_unchecked and len(mine):
                            ru = ssc.classify_image(
                                img, model, dataclasses.replace(params, phase2_check=False), labels=plabels, name=frame
                            )
                            d["f1_unchecked"] = metrics.weighted_f1(metrics.class_report(lab, ru.final_map, codes, names))
                        rows.append(
                            {
                                **base,
                                "image": frame,
                                "image_labelled": bool(len(mine)),
                                "features": feats,
                                "seed": seed,
                                **d,
                                "phase2": r.info.get("phase2_choice"),
                                "why": r.info.get("phase2_reason"),
                                "map_s": round(time.perf_counter() - t0, 1),
                                "fit_s": round(r.timings["fit"], 1),
                                "features_s": round(r.timings["features"], 1),
                                "predict_s": round(r.timings["predict"], 1),
                            }
                        )
                        print(
                            f"labelled {labelled:>4} N={n:>3} ({len(new)} pure) {frame} {feats:>10} seed {seed}: "
                            f"CNN {d['f1_cnn']:.3f} final {d['f1_final']:.3f} (outside the user's tiles "
                            f"{d['f1_cnn_outside']:.3f} / {d['f1_final_outside']:.3f}) [{r.info.get('phase2_choice')}] "
                            f"map {rows[-1]['map_s']} s, fine-tune {secs:.0f} s",
                            flush=True,
                        )
            if stmarg_pairs:
                tp = {}
                for img, lab in stmarg_pairs:
                    r = ssc.classify_image(img, model, ssc.SSCParams(**base_settings))
                    for tag, mp in (("cnn", r.cnn_map), ("final", r.final_map)):
                        tp.setdefault(tag, []).append(metrics.class_report(lab, mp, codes, names))
                d = {f"f1_{tag}": metrics.weighted_f1(reps) for tag, reps in tp.items()}
                rows.append({**base, "image": "stmarg/Validate", "features": "median_rgb", **d})
                print(
                    f"labelled {labelled:>4} N={n:>3} stmarg/Validate: CNN {d['f1_cnn']:.4f} final {d['f1_final']:.4f}",
                    flush=True,
                )
    df = pd.DataFrame(rows)
    df.to_csv(out / "adapt_benchmark.csv", index=False)
    cols = ["labelled", "n_labelled", "n_pure", "image", "features", "seed", "f1_cnn", "f1_final", "f1_final_outside"]
    cols += ["label_f1_tile", "label_f1_phase2", "f1_unchecked", "phase2"]
    print(df[[c for c in cols if c in df]].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    per_class = [c for c in df.columns if c.startswith("final_f1_")]
    print("\nper class F1 of the final map:")
    print(
        df[df.image != "stmarg/Validate"][["labelled", "n_labelled", "image", "features", "seed", *per_class]].to_string(
            index=False, float_format=lambda v: f"{v:.3f}"
        )
    )
    times = df[df.image != "stmarg/Validate"].groupby("features")[["map_s", "features_s", "fit_s", "predict_s"]].median()
    print(f"\nmedian seconds per frame ({os.cpu_count()} cores):\n{times.to_string()}")
    _plot(df, out / "adapt_benchmark.png", os.cpu_count())
    print(f"wrote {out / 'adapt_benchmark.csv'} and {out / 'adapt_benchmark.png'}")


def _imagenet_stmarg(out: Path, seed: int) -> Path:
    """Return the path of the ImageNet parent trained on StMarg alone, training it (about 2 minutes on 2 cores) if missing."""
    path = out / "parent_imagenet_stmarg.npz"
    if path.is_file():
        return path
    from river_model_benchmark import train_model  # benchmarks/: the shipped model's recipe (build_river_model.MODELS)

    from sscnb.cnn import _files as modelfiles
    from sscnb.data._classes import ClassScheme
    from sscnb.data._pairs import find_pairs

    scheme = ClassScheme.default()
    m, secs, tiles = train_model("efficientnet_lite0-frozen", find_pairs(DATA / "stmarg" / "Train"), scheme, 4, seed, None)
    print(f"trained the ImageNet parent on {len(tiles)} StMarg tiles in {secs:.0f} s", flush=True)
    out.mkdir(parents=True, exist_ok=True)
    modelfiles.save_model(out, path.stem, m.model, m.key, m.card, head_only=True)
    return path


def _plot(df, path, cores):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    frames = [f for f in df.image.unique() if f != "stmarg/Validate"]
    fig, axes = plt.subplots(1, len(frames), figsize=(6 * len(frames), 4.5), sharey=True, squeeze=False)
    style = {"3": "--", "both": "-"}
    colour = {"median_rgb": "tab:blue", "multiscale": "tab:red"}
    for ax, frame in zip(axes[0], frames, strict=True):
        d = df[df.image == frame].groupby(["labelled", "features", "n_labelled"], as_index=False)[["f1_cnn", "f1_final"]].mean()
        for labelled, g in d.groupby("labelled"):
            cnn = g.groupby("n_labelled").f1_cnn.mean()
            ax.plot(cnn.index, cnn.values, "o" + style[str(labelled)], color="k", label=f"CNN map (labels on {labelled})")
            for feats, h in g.groupby("features"):
                ax.plot(
                    h.n_labelled,
                    h.f1_final,
                    "s" + style[str(labelled)],
                    color=colour.get(feats, "tab:green"),
                    label=f"final, {feats} (labels on {labelled})",
                )
        ax.axhline(0.85, color="grey", lw=0.8)
        ax.set_title(frame)
        ax.set_xlabel("labelled tiles (frame 3, or half on each frame)")
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("F1, all labelled pixels (pixel-weighted)")
    axes[0][0].legend(fontsize=7)
    secs = df.groupby("n_labelled").fine_tune_s.max()
    fig.suptitle(
        f"Adapting {df.parent.iloc[0] if 'parent' in df else 'the StMarg CNN'} to Wildcat Creek, phase 2 from the labels; "
        "fine-tuning " + ", ".join(f"N={n}: {s:.0f} s" for n, s in secs.items() if n) + f" on {cores} cores"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
