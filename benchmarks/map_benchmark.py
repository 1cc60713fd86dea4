"""Mapping benchmark: a 12 000 x 12 000 px orthomosaic mapped end to end by ``sscnb map``.

The RGBA orthomosaic is built from the real StMarg images, mapped (reading to COGs written) in a separate
process, with its peak memory, and its map scored against the stitched labels.

    python benchmarks/map_benchmark.py                  # build the mosaic once, then map it
    python benchmarks/map_benchmark.py --size 6000      # a smaller one
    python benchmarks/map_benchmark.py --phase2 rf
    python benchmarks/map_benchmark.py --assess 500     # also: areas with 95% CIs from 500 points
    python benchmarks/map_benchmark.py --surveys 3      # a batch: 3 copies mapped by one sscnb map

Needs a CNN trained on StMarg by notebook 02: ``python -m sscnb run --config configs/stmarg.yml
--only 00 01 02`` (default --model outputs/stmarg/model/cnn_stmarg.keras) and the real data in
../shared/data/stmarg. The mosaic and its labels are written under outputs/benchmarks/ (git-ignored;
never commit them). Targets: >= 1.5 Mpx/s on 2 cores, peak RSS <= 2 GB, pixel-weighted F1 >= 0.97.

The mosaic: the five dense-label images of stmarg/Validate, each 1960 x 3008 px, laid out in a
grid (flipped left-right and up-down in turn, so neighbours differ), inside a wobbly flown-area
footprint; outside it RGB and alpha are 0 (no data) and the label is 0. EPSG:32619, 5 cm pixels.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402


def footprint(rows: np.ndarray, W: int, H: int, seed: int = 7) -> np.ndarray:
    """Return the valid (flown) area of rows ``rows`` of an ``H x W`` mosaic.

    A superellipse with a wobbly edge that leaves a no-data border of a few hundred px.
    """
    yy, xx = np.meshgrid(rows.astype(np.float32), np.arange(W, dtype=np.float32), indexing="ij")
    u = (xx - W / 2) / (0.48 * W)
    v = (yy - H / 2) / (0.48 * H)
    wob = 0.04 * np.sin(xx / W * 17 + 1.3) * np.cos(yy / H * 11 + seed)
    return (np.abs(u) ** 6 + np.abs(v) ** 6) < 1 + wob


def build_mosaic(data: Path, out: Path, size: int) -> tuple[Path, Path]:
    import rasterio
    from rasterio.enums import ColorInterp
    from rasterio.transform import from_origin
    from rasterio.windows import Window

    from sscnb.data._pairs import find_pairs, read_pair
    from sscnb.synthetic import ORTHO_CRS, ORTHO_ORIGIN, ORTHO_PIXEL_M

    img_path = out / f"stmarg_mosaic_{size}.tif"
    lab_path = out / f"stmarg_mosaic_{size}_labels.tif"
    if img_path.exists() and lab_path.exists():
        return img_path, lab_path
    out.mkdir(parents=True, exist_ok=True)
    recs = find_pairs(data)
    pairs = [read_pair(r) for r in recs]
    h, w = pairs[0][0].shape[:2]
    n_rows, n_cols = -(-size // h), -(-size // w)
    print(f"building a {size} x {size} mosaic from {len(recs)} images of {data} ({n_rows} x {n_cols} placements)")
    common = dict(
        driver="GTiff",
        width=size,
        height=size,
        crs=ORTHO_CRS,
        transform=from_origin(*ORTHO_ORIGIN, ORTHO_PIXEL_M, ORTHO_PIXEL_M),
        tiled=True,
        blockxsize=512,
        blockysize=512,
        BIGTIFF="IF_SAFER",
    )
    with (
        rasterio.open(
            img_path.with_suffix(".part"),
            "w",
            count=4,
            dtype="uint8",
            compress="deflate",
            photometric="RGB",
            alpha="YES",
            **common,
        ) as di,
        rasterio.open(lab_path.with_suffix(".part"), "w", count=1, dtype="uint8", compress="deflate", nodata=0, **common) as dl,
    ):
        di.colorinterp = [ColorInterp.red, ColorInterp.green, ColorInterp.blue, ColorInterp.alpha]
        for r in range(n_rows):
            y0 = r * h
            y1 = min(size, y0 + h)
            rgb = np.zeros((y1 - y0, size, 3), np.uint8)
            lab = np.zeros((y1 - y0, size), np.uint8)
            for c in range(n_cols):
                k = (r * n_cols + c) % len(pairs)
                im, lb = pairs[k]
                if (r + c) % 2:
                    im, lb = im[:, ::-1], lb[:, ::-1]
                if r % 2:
                    im, lb = im[::-1], lb[::-1]
                x0 = c * w
                x1 = min(size, x0 + w)
                rgb[:, x0:x1] = im[: y1 - y0, : x1 - x0]
                lab[:, x0:x1] = lb[: y1 - y0, : x1 - x0]
            valid = footprint(np.arange(y0, y1), size, size)
            rgb[~valid] = 0
            lab[~valid] = 0
            win = Window(0, y0, size, y1 - y0)
            di.write(np.moveaxis(rgb, -1, 0), (1, 2, 3), window=win)
            di.write(np.where(valid, 255, 0).astype(np.uint8), 4, window=win)
            dl.write(lab, 1, window=win)
    img_path.with_suffix(".part").replace(img_path)
    lab_path.with_suffix(".part").replace(lab_path)
    return img_path, lab_path


def score(map_path: Path, lab_path: Path, codes) -> tuple[float, object]:
    """Pixel-weighted F1 of a map against the stitched labels, read in strips."""
    import rasterio
    from rasterio.windows import Window

    from sscnb.assess import _metrics as metrics

    cm = 0
    with rasterio.open(map_path) as dm, rasterio.open(lab_path) as dl:
        for y0 in range(0, dm.height, 1024):
            win = Window(0, y0, dm.width, min(1024, dm.height - y0))
            cm = cm + metrics.confusion(dl.read(1, window=win), dm.read(1, window=win), codes)
    rep = metrics.report_from_confusion(cm, codes)
    return metrics.weighted_f1(rep), rep


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=str(ROOT / "outputs/stmarg/model/cnn_stmarg.keras"))
    ap.add_argument("--data", default=str(ROOT.parent / "shared/data/stmarg/Validate"))
    ap.add_argument("--size", type=int, default=12_000, help="mosaic side in px (default %(default)s)")
    ap.add_argument("--phase2", default="mlp", choices=["mlp", "mlp_rf", "rf"], help="default mlp: the MLP of the measured pages")
    ap.add_argument("--window-mpx", type=float, default=None)
    ap.add_argument("--work", default=str(ROOT / "outputs/benchmarks"), help="where the mosaic and maps go")
    ap.add_argument(
        "--assess",
        type=int,
        default=0,
        metavar="N",
        help="draw N points from the final map (sscnb assess), take their classes from the stitched "
        "labels and say whether each class's 95%% CI holds its share of the labels",
    )
    ap.add_argument(
        "--surveys",
        type=int,
        default=1,
        metavar="N",
        help="map N copies of the mosaic (links) in one sscnb map process, as a batch of surveys is: "
        "the process's start is paid once; prints each survey's time and checks that the maps are identical",
    )
    ap.add_argument("map_options", nargs="*", help="more options for sscnb map after --, e.g. -- --mlp_epochs 10")
    a = ap.parse_args()
    if not Path(a.model).exists():
        sys.exit(f"{a.model} not found: train it with python -m sscnb run --config configs/stmarg.yml --only 00 01 02")
    if not Path(a.data).is_dir():
        sys.exit(f"{a.data} not found: the real StMarg data is only on CI and developer machines")
    work = Path(a.work)
    t0 = time.perf_counter()
    img, lab = build_mosaic(Path(a.data), work, a.size)
    print(f"mosaic: {img} ({img.stat().st_size / 2**20:.0f} MiB, built/found in {time.perf_counter() - t0:.0f} s)")

    out = work / f"map_{a.size}_{a.phase2}"
    surveys = survey_copies(img, a.surveys)
    cmd = [
        sys.executable,
        "-m",
        "sscnb",
        "-q",
        "map",
        "--model",
        a.model,
        "--out",
        str(out),
        "--experiment",
        "bench",
        "--phase2",
        a.phase2,
        "--overwrite",
        *map(str, surveys),
    ]
    if a.window_mpx:
        cmd += ["--window-mpx", str(a.window_mpx)]
    cmd += a.map_options
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode:
        sys.exit(f"sscnb map failed:\n{proc.stderr[-3000:]}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20  # KiB -> GiB
    from sscnb.params import SSCParams

    name = SSCParams(phase2=a.phase2).phase2_name  # the files' tag: MLP, RF or MLPRF
    man = json.loads((out / f"{img.stem}_bench_{name}.json").read_text())
    secs = man["seconds"]
    mpx = a.size * a.size / 1e6

    from sscnb.data._classes import DEFAULT_CLASSES

    f1, rep = score(out / f"{img.stem}_bench_{name}.tif", lab, list(DEFAULT_CLASSES.labelled_codes))
    f1_cnn, rep_cnn = score(out / f"{img.stem}_bench_CNN.tif", lab, list(DEFAULT_CLASSES.labelled_codes))
    from sscnb.assess import _metrics as metrics
    from sscnb.cnn import machine

    batch = f", {a.surveys} surveys" if a.surveys > 1 else ""
    print(f"\nmachine: {machine()}")
    print(f"command: {' '.join(cmd[1:])}")
    print(f"input: {a.size} x {a.size} px = {mpx:.0f} Mpx, {man['info']['valid_px'] / 1e6:.0f} Mpx inside the flown area")
    print("steps: " + "  ".join(f"{k} {v:.1f}s" for k, v in secs.items()))
    print("per stage, in its own thread: " + "  ".join(f"{k} {v:.1f}s" for k, v in man.get("profile", {}).items()))
    print("cores kept busy on average: " + "  ".join(f"{k} {v:.2f}" for k, v in man.get("cores_busy", {}).items()))
    print(
        f"end to end (process start, reading, to COGs written{batch}): {wall:.1f} s = {mpx * a.surveys / wall:.2f} Mpx/s "
        f"(mapping alone{' the first' if a.surveys > 1 else ''} {secs['total']:.1f} s = {mpx / secs['total']:.2f} Mpx/s)"
    )
    print(f"peak RSS of the mapping process: {peak:.2f} GiB")
    print(f"pixel-weighted F1 against the stitched labels: CNN map {f1_cnn:.5f}, {name} map {f1:.5f}")
    print(
        f"macro F1 (every class counts the same): CNN map {metrics.macro_f1(rep_cnn):.4f}, {name} map {metrics.macro_f1(rep):.4f}"
    )
    both = rep.merge(rep_cnn, on="class", suffixes=("", " (CNN)"))
    both["class"] = [DEFAULT_CLASSES.name(int(c)) for c in both["class"]]
    print(both.round(4).to_string(index=False))
    if a.surveys > 1:
        report_batch(out, surveys, name, mpx)
    if a.assess:
        assess_mosaic(out / f"{img.stem}_bench_{name}.tif", lab, out / "assess", a.assess)


def survey_copies(img: Path, n: int) -> list[Path]:
    """Return the mosaic and n - 1 hard links to it under other names: n surveys for one sscnb map.

    Hard links, as sscnb map takes a file given twice (a symbolic link resolves to it) once.
    """
    if n < 1:
        sys.exit(f"--surveys must be at least 1, not {n}")
    paths = [img]
    for i in range(2, n + 1):
        link = img.with_name(f"{img.stem}_survey{i}{img.suffix}")
        if link.is_symlink() or (link.exists() and not link.samefile(img)):
            link.unlink()
        if not link.exists():
            os.link(img, link)
        paths.append(link)
    return paths


def report_batch(out: Path, inputs: list[Path], name: str, mpx: float):
    """Print each survey's mapping time and whether the final maps are identical.

    The first survey also pays for what a process traces and compiles once.
    """
    import rasterio

    totals = [json.loads((out / f"{p.stem}_bench_{name}.json").read_text())["seconds"]["total"] for p in inputs]
    n = len(inputs)
    print(
        f"{n} surveys in one process, mapping alone, survey by survey: "
        + "  ".join(f"{t:.1f} s = {mpx / t:.2f} Mpx/s" for t in totals)
    )
    first = None
    for p in inputs:
        with rasterio.open(out / f"{p.stem}_bench_{name}.tif") as ds:
            m = ds.read(1)
        if first is None:
            first = m
        elif not np.array_equal(m, first):
            sys.exit(f"the final map of {p.name} differs from the first survey's: the batch is not deterministic")
    print(f"the {n} final maps are identical")


def assess_mosaic(map_path: Path, lab_path: Path, out: Path, n: int):
    """Areas with 95% CIs from n points labelled from the stitched labels, against the labels' own shares."""
    import rasterio
    from rasterio.windows import Window

    from sscnb.assess import _estimate as assess
    from sscnb.data._classes import DEFAULT_CLASSES

    res = assess.assess_map(map_path, out, n, reference=lab_path, overwrite=True, log=print)
    counts = np.zeros(256, np.int64)
    with rasterio.open(lab_path) as dl:
        for y0 in range(0, dl.height, 1024):
            counts += np.bincount(dl.read(1, window=Window(0, y0, dl.width, min(1024, dl.height - y0))).ravel(), minlength=256)
    truth = counts[1:] / counts[1:].sum()
    est = res["estimates"]
    est = est[est.class_code != "overall"]
    total = est.mapped_px.sum()
    print(
        f"\n{len(res['points'])} points with a reference class ({res['dropped']} on unlabelled pixels dropped); "
        f"shares of the labelled area:"
    )
    print(f"{'class':>22} {'mapped':>8} {'labels':>8} {'estimated +- 95% CI':>22} {'CI holds the labels':>20}")
    for r in est.itertuples():
        c = int(r.class_code)
        t = truth[c - 1]
        p = r.estimated_area / est.mapped_area.sum()
        ci = r.area_ci95 / est.mapped_area.sum()
        print(
            f"{DEFAULT_CLASSES.name(c):>22} {r.mapped_px / total:8.4f} {t:8.4f} {p:12.4f} +- {ci:.4f} "
            f"{'yes' if abs(p - t) <= ci else 'NO':>20}"
        )
    o = res["estimates"].iloc[-1]
    print(f"overall accuracy {o.users_accuracy:.4f} +- {o.users_ci95:.4f}")


if __name__ == "__main__":
    main()
