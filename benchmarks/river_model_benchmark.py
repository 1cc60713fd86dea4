"""A model of more than one river: trained on StMarg and one Wildcat frame, scored on the frame left out.

For each Wildcat frame left out (leave-one-out by frame: the data hold two labelled frames of the
second river), a CNN is trained on the pure tiles of stmarg/Train and of the other Wildcat frame
(each river's classes local to it, as the method does), then the frame left out and the five
stmarg/Validate images are mapped with the default phase 2, with and without test-time
augmentation (``tta``), and scored on all their labelled pixels (pixel-weighted F1, and per class).

    python benchmarks/river_model_benchmark.py                       # compact and EfficientNet-Lite0 frozen
    python benchmarks/river_model_benchmark.py --backbones compact --epochs 12
    python benchmarks/river_model_benchmark.py --backbones efficientnet_lite0   # fine-tuned: slow on a CPU

Backbones: ``compact`` (from scratch), ``efficientnet_lite0-frozen`` (ImageNet features, the head
trained) and ``efficientnet_lite0`` (ImageNet start, every layer trained). Needs
../shared/data/stmarg and ../shared/data/wildcat. Writes
outputs/benchmarks/river_model/river_model_benchmark.csv.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
sys.path.insert(0, str(ROOT))
FRAMES = ("Wildcat_0003", "Wildcat_0004")


def class_weights(kind: str | None, y, n_outputs: int):
    """Return the CNN's class weights for ``kind``: None, "balanced" (scikit-learn's), or "sqrt" (their square roots).

    "sqrt" goes half-way to balanced: a class with a quarter of another's tiles weighs twice as much.
    """
    from sscnb.cnn import _model as cnn

    if kind in (None, "none"):
        return None
    balanced = cnn.class_weights(y, n_outputs)
    if kind == "balanced":
        return balanced
    if kind == "sqrt":
        return {k: w**0.5 for k, w in balanced.items()}
    raise ValueError(f"class weight must be none, balanced or sqrt, not {kind!r}")


def train_model(backbone: str, records, scheme, epochs: int, seed: int, input_size: int | None, class_weight=None):
    """Train a tile classifier on the records' pure tiles; return (LoadedModel, seconds, tiles)."""
    from cnn_benchmark import build  # benchmarks/: one reading of the backbone names

    from sscnb.cnn import _classkey as classkey
    from sscnb.cnn import _files as modelfiles
    from sscnb.cnn import _model as cnn
    from sscnb.cnn import _tilesets as tilesets

    tiles = tilesets.collect_tiles(records, scheme, 50, 0.9, progress=False)
    key = classkey.make_class_key(tiles, scheme, local_classes=True)
    y = key.encode(tiles.y, tiles.river)
    model = build(backbone, key.n_outputs, seed, input_size)
    t0 = time.perf_counter()
    cw = class_weights(class_weight, y, key.n_outputs)
    history = cnn.train(model, tiles.x, y, epochs=epochs, batch_size=64, seed=seed, progress=True, class_weight=cw)
    secs = time.perf_counter() - t0
    card = modelfiles.make_card(
        backbone=backbone,
        weights=None,
        tile_size=50,
        purity=0.9,
        scheme=scheme,
        tiles=tiles,
        epochs=epochs,
        seed=seed,
        history=history,
    )
    return modelfiles.LoadedModel(model, key, card, Path(f"{backbone}.keras"), scheme), secs, tiles


def score(model, pairs, tta: bool, scheme):
    """Map each (image, label) pair; return F1 of the CNN and final maps (pixel-weighted), per class, and seconds per image."""
    from sscnb import ssc
    from sscnb.assess import _metrics as metrics

    codes = list(scheme.labelled_codes)
    names = {c: scheme.name(c) for c in scheme.codes}
    reps: dict[str, list] = {"cnn": [], "final": []}
    t0 = time.perf_counter()
    for img, lab in pairs:
        r = ssc.classify_image(img, model, ssc.SSCParams(tta=tta))
        for tag, mp in (("cnn", r.cnn_map), ("final", r.final_map)):
            reps[tag].append(metrics.class_report(lab, mp, codes, names))
    d = {f"f1_{tag}": metrics.weighted_f1(rr) for tag, rr in reps.items()}
    if len(pairs) == 1:  # per class on a frame
        for _, row in reps["final"][0].iterrows():
            if row["support"] > 0:
                d[f"final_f1_{row['class']}"] = row["f1_score"]
    d["map_s_per_image"] = (time.perf_counter() - t0) / len(pairs)
    return d


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backbones", nargs="+", default=["compact", "efficientnet_lite0-frozen"])
    ap.add_argument("--epochs", type=int, default=None, help="default: 12 for compact, 4 for EfficientNet-Lite0")
    ap.add_argument("--input-size", type=int, default=None, help="EfficientNet-Lite0's input (px; default 112)")
    ap.add_argument("--left-out", nargs="+", default=list(FRAMES), choices=FRAMES)
    ap.add_argument("--no-stmarg", action="store_true", help="skip scoring stmarg/Validate")
    ap.add_argument("--no-tta", action="store_true", help="map without test-time augmentation only")
    ap.add_argument("--append", action="store_true", help="add to the CSV in --out instead of replacing it")
    ap.add_argument(
        "--class-weight",
        choices=["none", "balanced", "sqrt"],
        default="none",
        help="balanced: each output class weighs as much as the others in the CNN's loss; sqrt: the square root of "
        "those weights (default: none)",
    )
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--out", default=str(ROOT / "outputs/benchmarks/river_model"))
    a = ap.parse_args(argv)

    import pandas as pd

    from sscnb.cnn import machine
    from sscnb.data._classes import ClassScheme
    from sscnb.data._pairs import find_pairs, read_pair

    if not (DATA / "wildcat").is_dir() or not (DATA / "stmarg").is_dir():
        sys.exit(f"needs {DATA / 'wildcat'} and {DATA / 'stmarg'}")
    scheme = ClassScheme.default()
    print(f"machine: {machine()} ({os.cpu_count()} cores)", flush=True)
    stmarg_train = find_pairs(DATA / "stmarg" / "Train")
    wild = {r.name: r for r in find_pairs(DATA / "wildcat")}
    validate = [] if a.no_stmarg else [read_pair(r, scheme, 50) for r in find_pairs(DATA / "stmarg" / "Validate")]
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    csv = out / "river_model_benchmark.csv"
    rows = pd.read_csv(csv).to_dict("records") if a.append and csv.is_file() else []
    for left in a.left_out:
        other = [f for f in FRAMES if f != left]
        test = [read_pair(wild[left], scheme, 50)]
        for bb in a.backbones:
            epochs = a.epochs or (12 if bb == "compact" else 4)
            records = stmarg_train + [wild[f] for f in other]
            model, secs, tiles = train_model(bb, records, scheme, epochs, a.seed, a.input_size, a.class_weight)
            for tta in (False,) if a.no_tta else (False, True):
                base = {"left_out": left, "trained_on": "stmarg/Train + " + "+".join(other), "backbone": bb, "tta": tta}
                base["class_weight"] = a.class_weight
                base["input_size"] = (a.input_size or 112) if bb.startswith("efficientnet") else None
                base |= {"epochs": epochs, "tiles": len(tiles), "train_s": round(secs, 1)}
                d = score(model, test, tta, scheme)
                rows.append({**base, "scored": left, **d})
                print(
                    f"{bb:>26} tta {tta!s:>5} left out {left}: CNN {d['f1_cnn']:.3f} final {d['f1_final']:.3f} "
                    f"({d['map_s_per_image']:.1f} s per image; trained {secs:.0f} s)",
                    flush=True,
                )
                if validate:
                    d = score(model, validate, tta, scheme)
                    rows.append({**base, "scored": "stmarg/Validate", **d})
                    print(f"{'':>26} tta {tta!s:>5} stmarg/Validate: CNN {d['f1_cnn']:.4f} final {d['f1_final']:.4f}", flush=True)
            pd.DataFrame(rows).to_csv(csv, index=False)  # after every model: a long run keeps what it did
    df = pd.DataFrame(rows)
    cols = ["left_out", "backbone", "tta", "scored", "f1_cnn", "f1_final", "train_s", "map_s_per_image"]
    print(df[cols].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    per_class = [c for c in df.columns if c.startswith("final_f1_")]
    print("\nper class F1 of the final map (frames left out):")
    print(
        df[df.scored != "stmarg/Validate"][["left_out", "backbone", "tta", *per_class]].to_string(
            index=False, float_format="{:.3f}".format
        )
    )


if __name__ == "__main__":
    main()
