"""SSC pipeline benchmark on one real image.

This package's pipeline, and optionally the original method's phase 2, side by side in one run, with peak
memory.

    python benchmarks/ssc_benchmark.py                       # ours only
    python benchmarks/ssc_benchmark.py --original            # + the original phase 2 (~11 min on 2 cores)

Needs a CNN trained on StMarg by notebook 02, e.g. ``python -m sscnb run --config
configs/stmarg.yml --only 00 01 02`` (default --model outputs/stmarg/model/cnn_stmarg.keras).
"Original" = same CNN tile map, then the original phase 2: the "deep" MLP trained on every
CNN-labelled pixel for 35 epochs with batch 250 000, and every pixel predicted one by one.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from seed_benchmark import phase2_settings  # noqa: E402  (benchmarks/: one reading of --set)

from sscnb import ssc  # noqa: E402
from sscnb.assess import _metrics as metrics  # noqa: E402
from sscnb.cnn import _files as modelfiles  # noqa: E402
from sscnb.data._pairs import find_pairs, read_pair  # noqa: E402
from sscnb.params import PHASE2_CHOICES  # noqa: E402
from sscnb.phase2 import _features as features  # noqa: E402
from sscnb.phase2 import _pixel as pixel  # noqa: E402
from sscnb.plots._figures import save_figure, ssc_figure  # noqa: E402


def peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB


def f1(lab, m, codes):
    return metrics.weighted_f1(metrics.class_report(lab, m, codes))


def skimage_median_rgb(image, radius):
    """Median RGB with scikit-image's rank filter, one band per thread: the original's features.

    The same numbers as ``features.median_rgb`` (tests/test_features.py), at the speed sscnb had
    before its compiled filter, so that the original's column gains nothing from sscnb's work.
    """
    from concurrent.futures import ThreadPoolExecutor

    from skimage.filters.rank import median
    from skimage.morphology import disk

    with ThreadPoolExecutor(3) as ex:
        bands = list(ex.map(lambda k: median(np.ascontiguousarray(image[..., k]), disk(radius)), range(3)))
    return np.stack(bands, axis=-1)


def multiscale_against_scipy(img, repeat=3):
    """Print the multiscale bands' time by sscnb's compiled filters and by scipy.ndimage (median of ``repeat``)."""
    from sscnb.phase2._gauss import scipy_reference

    times = {}
    for name, fn in (
        ("scipy.ndimage", lambda: scipy_reference(img, features.MULTISCALE_SIGMAS, features._TRUNCATE, features.HUE_SIGMAS)),
        ("sscnb's", lambda: features.multiscale_features(img)),
    ):
        runs = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            out = fn()
            runs.append(time.perf_counter() - t0)
        times[name] = (float(np.median(runs)), out)
    (t_ref, ref), (t_ours, ours) = times.values()
    print(f"multiscale bands: scipy.ndimage {t_ref:.2f} s, sscnb's {t_ours:.2f} s; identical: {np.array_equal(ref, ours)}")


def original_phase2(image, cnn_map, median_radius=5, epochs=35, batch=250_000, seed=0):
    """Return the original phase 2: an MLP on all CNN-labelled pixels, then every pixel predicted.

    35 epochs, batch 250 000, and a prediction of every pixel (no distinct-vector shortcut); the
    features by scikit-image's median filter.
    """
    import keras

    t = {}
    t0 = time.perf_counter()
    feats = skimage_median_rgb(image, median_radius).reshape(-1, 3).astype(np.float32)
    t["features"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    lab = cnn_map.ravel()
    m = lab > 0
    classes = np.unique(lab[m])
    mean, std = feats[m].mean(0), feats[m].std(0)
    z = (feats[m] - mean) / std
    y = np.searchsorted(classes, lab[m])
    model = pixel._mlp(keras, 3, len(classes), "deep", seed)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    model.fit(z, y, epochs=epochs, batch_size=batch, verbose=0)
    t["fit"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    p = model.predict((feats - mean) / std, batch_size=batch, verbose=0)
    out = classes[p.argmax(1)].astype(np.uint8).reshape(cnn_map.shape)
    t["predict"] = time.perf_counter() - t0
    return out, t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=str(ROOT / "outputs/stmarg/model/cnn_stmarg.keras"))
    ap.add_argument("--data", default=str(ROOT.parent / "shared/data/stmarg/Validate"))
    ap.add_argument("--image", default="StMarg_31162")
    ap.add_argument("--phase2", default=ssc.SSCParams.phase2, choices=sorted(PHASE2_CHOICES))
    ap.add_argument("--original", action="store_true", help="also run the original phase 2 (slow)")
    ap.add_argument("--repeat", type=int, default=5, help="runs of our pipeline (the first warms up; the median of the rest)")
    ap.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE", help="other SSCParams settings (features=multiscale)")
    a = ap.parse_args()
    settings = phase2_settings(a.set)
    if not Path(a.model).exists():
        sys.exit(f"{a.model} not found: train it with python -m sscnb run --config configs/stmarg.yml --only 00 01 02")
    from sscnb.cnn import machine

    print(f"machine: {machine()}")
    cnn = modelfiles.load_model(a.model)
    rec = [r for r in find_pairs(a.data) if r.name == a.image][0]
    codes = list(cnn.scheme.labelled_codes)
    runs = []  # per run: {"read": s, step: s, ...}
    for _i in range(a.repeat):
        t0 = time.perf_counter()
        img, lab = read_pair(rec)
        t_read = time.perf_counter() - t0
        res = ssc.classify_image(img, cnn, ssc.SSCParams(phase2=a.phase2, **settings))
        runs.append({"read": t_read, **res.timings})
        t0 = time.perf_counter()
        fig = ssc_figure(
            img,
            lab,
            res.cnn_map,
            res.final_map,
            cnn.scheme,
            f1_cnn=0.0,
            f1_final=0.0,
            phase2_name=res.phase2_name,
            title=rec.name,
        )
        save_figure(fig, Path("/tmp") / f"SSC_bench_{rec.name}.png", dpi=150)
        t_fig = time.perf_counter() - t0
    warm = runs[1:] or runs  # the first run compiles and warms the caches
    totals = [sum(r.values()) for r in warm]
    total = float(np.median(totals))
    print(
        f"\nimage {rec.name}: {img.shape[1]} x {img.shape[0]} px, {res.info.get('distinct_vectors')} distinct "
        f"median-RGB vectors, {res.info.get('n_train')} phase-2 training pixels; settings {settings or 'defaults'}; "
        f"phase 2: {res.info.get('phase2_choice')}"
    )
    print(f"\nours, median of runs 2-{a.repeat} (totals {', '.join(f'{x:.2f}' for x in totals)} s):")
    steps = {k: float(np.median([r[k] for r in warm])) for k in warm[0]}
    print("  " + "  ".join(f"{k} {v:.2f}s" for k, v in steps.items()))
    print(
        f"  pipeline total (excl. figure): {total:.2f} s; figure: {t_fig:.2f} s; "
        f"F1 CNN {f1(lab, res.cnn_map, codes):.4f}, final {f1(lab, res.final_map, codes):.4f}; "
        f"peak memory so far {peak_gb():.2f} GiB"
    )
    print(f"  first run (compiles, or reads JAX's compilation cache): {sum(runs[0].values()):.2f} s")
    if settings.get("features", "median_rgb") != "median_rgb":
        multiscale_against_scipy(img)
    if a.original:
        t0 = time.perf_counter()
        ref = skimage_median_rgb(img, 5)
        t_ref = time.perf_counter() - t0
        t0 = time.perf_counter()
        same = np.array_equal(features.median_rgb(img, 5), ref)
        print(
            f"\nmedian RGB, disk(5): scikit-image's rank filter {t_ref:.2f} s, sscnb's {time.perf_counter() - t0:.2f} s; "
            f"identical: {same}"
        )
        t0 = time.perf_counter()
        out, t = original_phase2(img, res.cnn_map)
        tot = time.perf_counter() - t0 + steps["read"] + steps["tiles"] + steps["cnn"]  # the same phase 1
        print("\noriginal phase 2 (MLP on every CNN-labelled pixel, 35 epochs, batch 250000):")
        print("  " + "  ".join(f"{k} {v:.1f}s" for k, v in t.items()))
        print(
            f"  pipeline total: {tot:.1f} s; F1 CNN {f1(lab, res.cnn_map, codes):.4f}, final {f1(lab, out, codes):.4f}; "
            f"peak memory so far {peak_gb():.2f} GiB"
        )
        print(f"\nside by side: ours {total:.1f} s vs original {tot:.1f} s ({tot / total:.0f}x)")


if __name__ == "__main__":
    main()
