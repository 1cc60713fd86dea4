"""Another day, another light: stmarg/Validate shifted the way another survey would shift it, scored.

Each shift is applied to the five images of stmarg/Validate (their labels moved with them where the
geometry changes), and each shifted image is classified (phase 1 + phase 2, default settings) with
the StMarg CNN of configs/stmarg.yml. Prints the CNN and final F1 (pixel-weighted over the five
images) and the per-class F1 of the final map for each shift, and saves the table.

    python benchmarks/robustness_benchmark.py [--model outputs/stmarg/model/cnn_stmarg.keras] [--tag NAME]
                                              [--no-normalise] [--wildcat]

Shifts: none; flown 2x higher (downsampled 0.5); flown 2x lower (the centre upsampled 2x); darker
(gamma 1.6); brighter (gamma 0.6); warmer white balance (R x1.15, B x0.8); JPEG quality 25;
Gaussian blur sigma 2 px. Writes outputs/benchmarks/robustness/robustness_<tag>.csv.

``--no-normalise`` turns off the CNN input's gamma correction (``normalise``, on by default) to
compare. Each shifted image is checked against the model card's training statistics: the table
counts the images that got an InputShiftWarning and those whose CNN input was gamma-corrected.
``--wildcat`` also maps the two Wildcat Creek frames (../shared/data/wildcat) zero-shot.
"""

from __future__ import annotations

import argparse
import io
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's sscnb, whichever sscnb is installed
DATA = ROOT.parent / "shared" / "data" / "stmarg" / "Validate"
WILDCAT = ROOT.parent / "shared" / "data" / "wildcat"


def _gamma(img, g):
    return np.clip(255.0 * (img / 255.0) ** g + 0.5, 0, 255).astype(np.uint8)


def _jpeg(img, quality):
    import imageio.v3 as iio

    buf = io.BytesIO()
    iio.imwrite(buf, img, extension=".jpg", quality=quality)
    return iio.imread(buf.getvalue(), extension=".jpg")


def _blur(img, sigma):
    from skimage.filters import gaussian

    return np.clip(gaussian(img, sigma=sigma, channel_axis=-1, preserve_range=True) + 0.5, 0, 255).astype(np.uint8)


def _down(img, lab):
    from skimage.transform import rescale

    small = rescale(img, 0.5, channel_axis=-1, anti_aliasing=True, preserve_range=True)
    return np.clip(small + 0.5, 0, 255).astype(np.uint8), lab[::2, ::2][: small.shape[0], : small.shape[1]]


def _up(img, lab):
    from skimage.transform import resize

    H, W = lab.shape
    y0, x0 = H // 4, W // 4
    crop, lcrop = img[y0 : y0 + H // 2, x0 : x0 + W // 2], lab[y0 : y0 + H // 2, x0 : x0 + W // 2]
    big = resize(crop, (2 * crop.shape[0], 2 * crop.shape[1]), order=1, preserve_range=True)
    return np.clip(big + 0.5, 0, 255).astype(np.uint8), np.repeat(np.repeat(lcrop, 2, axis=0), 2, axis=1)


def _warm(img):
    return np.clip(img * np.array([1.15, 1.0, 0.8]) + 0.5, 0, 255).astype(np.uint8)


SHIFTS = {
    "none": lambda i, l: (i, l),
    "flown 2x higher (downsampled 0.5)": _down,
    "flown 2x lower (centre upsampled 2x)": _up,
    "darker (gamma 1.6)": lambda i, l: (_gamma(i, 1.6), l),
    "warmer white balance (R x1.15, B x0.8)": lambda i, l: (_warm(i), l),
    "JPEG quality 25": lambda i, l: (_jpeg(i, 25), l),
    "Gaussian blur, sigma 2 px": lambda i, l: (_blur(i, 2), l),
    "brighter (gamma 0.6)": lambda i, l: (_gamma(i, 0.6), l),
}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=str(ROOT / "outputs/stmarg/model/cnn_stmarg.keras"))
    ap.add_argument("--tag", default="stmarg", help="name of the saved table")
    ap.add_argument("--out", default=str(ROOT / "outputs/benchmarks/robustness"))
    ap.add_argument("--no-normalise", action="store_true", help="no gamma correction of the CNN's input")
    ap.add_argument("--wildcat", action="store_true", help="also map the Wildcat Creek frames zero-shot")
    ap.add_argument("--shifts", nargs="+", metavar="WORD", help="only the shifts whose name holds one of these words")
    ap.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE", help="other phase-2 settings (e.g. phase2=mlp)")
    a = ap.parse_args(argv)

    import pandas as pd

    from sscnb import ssc
    from sscnb.assess import _metrics as metrics
    from sscnb.cnn import _files as modelfiles
    from sscnb.cnn._inputstats import InputShiftWarning
    from sscnb.data._pairs import find_pairs, read_pair

    if not DATA.is_dir():
        sys.exit(f"needs {DATA}")
    model = modelfiles.load_model(a.model)
    scheme = model.scheme
    codes = list(scheme.labelled_codes)
    names = {c: scheme.name(c) for c in scheme.codes}
    records = find_pairs(DATA)
    pairs = [read_pair(r, scheme, model.tile_size) for r in records]
    from seed_benchmark import phase2_settings  # benchmarks/: one reading of --set

    params = ssc.SSCParams(**{"normalise": not a.no_normalise, **phase2_settings(a.set)})
    from sscnb.cnn import machine

    print(
        f"machine: {machine()}; model {Path(a.model).name} (colour augmentation: "
        f"{model.card.get('colour_augment')}; training statistics in its card: "
        f"{'input_statistics' in model.card}); normalise={params.normalise}; {len(pairs)} images of {DATA}"
    )
    shifts = dict(SHIFTS)
    if a.wildcat:
        shifts["Wildcat Creek, zero-shot (another river)"] = None
    if a.shifts:
        shifts = {k: v for k, v in shifts.items() if any(w in k for w in a.shifts)}
    rows, per_image = [], []
    for name, shift in shifts.items():
        t0 = time.perf_counter()
        rep_c, rep_f = [], []
        cms = {"final": 0, "CNN": 0}  # confusion matrices pooled over the images: per-class F1 of all pixels
        warned = corrected = 0
        if shift is None:
            wild = find_pairs(WILDCAT)
            items = [read_pair(r, scheme, model.tile_size) for r in wild]
            stems = [r.name for r in wild]
        else:
            items = (shift(img, lab) for img, lab in pairs)
            stems = [r.name for r in records]
        for stem, (im, lb) in zip(stems, items, strict=True):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", InputShiftWarning)
                res = ssc.classify_image(im, model, params)
            warned += bool(res.info["input_check"])
            corrected += res.info["cnn_gamma"] != 1.0
            rep_c.append(metrics.class_report(lb, res.cnn_map, codes, names))
            rep_f.append(metrics.class_report(lb, res.final_map, codes, names))
            agreement = res.info.get("agreement") or {}
            per_image.append(  # does the self-check's agreement tell where phase 2 helps, on images the check warned of?
                {
                    "shift": name,
                    "image": stem,
                    "warned": bool(res.info["input_check"]),
                    "agreement": max(agreement.values(), default=float("nan")),
                    "min_class_agreement": min(
                        (min(v.values(), default=1.0) for v in (res.info.get("agreement_by_class") or {}).values()), default=1.0
                    ),
                    "phase2": res.info.get("phase2_choice"),
                    "f1_cnn": metrics.weighted_f1([rep_c[-1]]),
                    "f1_final": metrics.weighted_f1([rep_f[-1]]),
                }
            )
            cms["final"] = cms["final"] + metrics.confusion(lb, res.final_map, codes)
            cms["CNN"] = cms["CNN"] + metrics.confusion(lb, res.cnn_map, codes)
        pooled = {tag: metrics.report_from_confusion(cm, codes, names) for tag, cm in cms.items()}
        row = {
            "shift": name,
            "f1_final": metrics.weighted_f1(rep_f),
            "f1_cnn": metrics.weighted_f1(rep_c),
            "macro_f1_final": metrics.macro_f1(pooled["final"]),
            "macro_f1_cnn": metrics.macro_f1(pooled["CNN"]),
            "images_warned": warned,
            "images_gamma_corrected": corrected,
        }
        for tag, rep in pooled.items():
            for _, r in rep.iterrows():
                if r["support"] > 0:
                    row[f"{tag} F1 {r['class']}"] = r["f1_score"]
        rows.append(row)
        print(
            f"{name:>40}: final {row['f1_final']:.3f}, CNN {row['f1_cnn']:.3f}; warned {warned}, gamma-corrected "
            f"{corrected} ({time.perf_counter() - t0:.0f} s)",
            flush=True,
        )
    df = pd.DataFrame(rows)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    df.to_csv(out / f"robustness_{a.tag}.csv", index=False)
    images = pd.DataFrame(per_image)
    images.to_csv(out / f"robustness_{a.tag}_images.csv", index=False)
    print(images.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(df.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(f"wrote {out / f'robustness_{a.tag}.csv'}")


if __name__ == "__main__":
    main()
