"""The stratified random sample of :mod:`sscnb.assess` (Olofsson et al. 2014).

A map's strata, Olofsson's allocation (a minimum per class, the rest by area), the seeded draw of pixel
centres that never falls on no-data, read in strips, and the points written for QGIS and the labeller.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import fiona
import numpy as np
import pandas as pd
import rasterio
from rasterio.transform import xy
from rasterio.windows import Window

from sscnb.assess._defaults import DEFAULT_MIN_PER_CLASS
from sscnb.data._geo import SurveyRaster, open_raster, pixel_area_m2
from sscnb.errors import AssessError
from sscnb.provenance import atomic_path, file_sha256, write_json, write_text
from sscnb.results import recipe_status, remove_item

if TYPE_CHECKING:
    from collections.abc import Callable

    from affine import Affine
    from rasterio.crs import CRS

    from sscnb.data._classes import ClassScheme

__all__ = [
    "AssessError",
    "POINT_COLUMNS",
    "ASSESS_FILES",
    "MapStrata",
    "map_strata",
    "allocate",
    "draw_sample",
    "write_points",
    "sample_for",
]

POINT_COLUMNS = ["x", "y", "row", "col", "map_class", "reference_class"]
#: what an assessment writes in its folder: the sample (points, their layer, how it was drawn) and the estimates
ASSESS_FILES = ("points.csv", "points.gpkg", "sample.json", "estimates.csv", "error_matrix.csv")


@dataclass
class MapStrata:
    """What the assessment needs of a map: its classes' pixel counts, grid and georeferencing."""

    path: Path
    counts: dict  # {class code: pixels}, no-data (0) left out
    shape: tuple  # (rows, cols)
    transform: Affine
    crs: CRS | None
    pixel_area_m2: float | None

    @property
    def unit(self) -> str:
        """Return the unit of the areas: m2 for a georeferenced map, px otherwise."""
        return "px" if self.pixel_area_m2 is None else "m2"

    def area(self, pixels):
        """Pixels as area in :attr:`unit` (m2 for a projected map, else pixels)."""
        return pixels * (1.0 if self.pixel_area_m2 is None else self.pixel_area_m2)


def _strips(height: int, width: int, max_px: int = 8_000_000):
    rows = max(1, max_px // max(width, 1))
    for y0 in range(0, height, rows):
        yield y0, min(height, y0 + rows)


def _open(path):
    path = Path(path)
    if not path.exists():
        raise AssessError(
            f"the map {path} does not exist: give the final map that sscnb map or notebook 03 wrote "
            "(<image>_<experiment>_MLP.tif)"
        )
    try:
        return open_raster(path)
    except rasterio.errors.RasterioIOError as exc:
        raise AssessError(f"{path} cannot be read as a raster ({exc}): give a class map (GeoTIFF)") from None


def _centres(transform, rows, cols):
    if len(rows) == 0:
        return np.zeros(0), np.zeros(0)
    xs, ys = xy(transform, rows, cols, offset="center")
    return np.asarray(xs, float), np.asarray(ys, float)


def map_strata(path: str | Path) -> MapStrata:
    """Count the pixels of each class of a class map, reading it in strips.

    Parameters
    ----------
    path : str or Path
        A single-band class map (0 = no data / unclassified).

    Returns
    -------
    MapStrata

    Raises
    ------
    AssessError
        The file is missing, not one band, or holds no classified pixel.
    """
    path = Path(path)
    with _open(path) as ds:
        if ds.count != 1:
            raise AssessError(f"{path} has {ds.count} bands: give the single-band class map (the final map), not the image")
        counts = np.zeros(256, np.int64)
        for y0, y1 in _strips(ds.height, ds.width):
            counts += np.bincount(ds.read(1, window=Window(0, y0, ds.width, y1 - y0)).ravel().astype(np.uint8), minlength=256)
        georef = ds.crs is not None or not ds.transform.is_identity
        raster = SurveyRaster(path, ds.width, ds.height, 1, ds.crs, ds.transform, georef, None, ds.driver)
    strata = {int(c): int(counts[c]) for c in np.flatnonzero(counts) if c != 0}
    if not strata:
        raise AssessError(f"{path} holds no classified pixel (all 0): nothing to assess")
    return MapStrata(path, strata, (raster.height, raster.width), raster.transform, raster.crs, pixel_area_m2(raster))


def allocate(counts: dict, n: int, min_per_class: int = DEFAULT_MIN_PER_CLASS) -> dict:
    """Olofsson's allocation of a stratified sample.

    ``min_per_class`` points per class, the rest in proportion to the classes' areas (largest remainders, so
    the counts add up to ``n``). A class with fewer pixels than its share gets all its pixels, and the points
    it cannot take go to the others.

    Parameters
    ----------
    counts : dict of int to int
        Pixels of each map class.
    n : int
        Points in all.
    min_per_class : int

    Returns
    -------
    dict of int to int

    Raises
    ------
    AssessError
        ``n`` smaller than the classes times the minimum, or more points than pixels.

    Examples
    --------
    >>> allocate({1: 9000, 2: 500, 3: 500}, 200, 50)    # 150 by the minimum, 50 by area
    {1: 95, 2: 53, 3: 52}
    """
    classes = sorted(c for c, v in counts.items() if v > 0)
    k = len(classes)
    if n < k * min_per_class:
        raise AssessError(
            f"n = {n} points cannot give each of the map's {k} classes its minimum of {min_per_class}: "
            f"ask for at least {k * min_per_class} points, or lower min_per_class"
        )
    total = sum(counts[c] for c in classes)
    if n > total:
        raise AssessError(f"n = {n} points is more than the map's {total} classified pixels")
    alloc = {c: min(min_per_class, counts[c]) for c in classes}
    while True:
        left = n - sum(alloc.values())
        open_ = [c for c in classes if alloc[c] < counts[c]]
        if left == 0 or not open_:
            break
        w = np.array([counts[c] for c in open_], float)
        share = left * w / w.sum()
        add = np.floor(share).astype(int)
        for i in np.argsort(-(share - add), kind="stable")[: left - add.sum()]:  # largest remainders
            add[i] += 1
        for c, a in zip(open_, add, strict=True):
            alloc[c] = min(counts[c], alloc[c] + int(a))
    return alloc


def draw_sample(
    map_path: str | Path, n: int, min_per_class: int = DEFAULT_MIN_PER_CLASS, seed: int = 0
) -> tuple[pd.DataFrame, MapStrata]:
    """Return a stratified random sample of pixel centres of a class map (strata: its classes).

    Parameters
    ----------
    map_path : str or Path
    n : int
    min_per_class : int
    seed : int
        The same seed gives the same points.

    Returns
    -------
    points : pandas.DataFrame
        :data:`POINT_COLUMNS` (``reference_class`` empty: -1), ordered by row and column.
    strata : MapStrata
    """
    strata = map_strata(map_path)
    alloc = allocate(strata.counts, int(n), int(min_per_class))
    rng = np.random.default_rng(seed)
    # each class's chosen pixels as ranks among its pixels in row-major order; then one pass finds them
    ranks = {c: np.sort(rng.choice(strata.counts[c], size=m, replace=False)) for c, m in alloc.items() if m}
    seen = dict.fromkeys(ranks, 0)
    rows, cols, cls = [], [], []
    with _open(map_path) as ds:
        for y0, y1 in _strips(ds.height, ds.width):
            block = ds.read(1, window=Window(0, y0, ds.width, y1 - y0))
            for c, r in ranks.items():
                flat = np.flatnonzero(block == c)
                lo, hi = np.searchsorted(r, [seen[c], seen[c] + len(flat)])
                if hi > lo:
                    pos = flat[r[lo:hi] - seen[c]]
                    rows.append(y0 + pos // ds.width)
                    cols.append(pos % ds.width)
                    cls.append(np.full(hi - lo, c))
                seen[c] += len(flat)
    r, c, k = np.concatenate(rows), np.concatenate(cols), np.concatenate(cls)
    order = np.lexsort((c, r))
    r, c, k = r[order], c[order], k[order]
    xs, ys = _centres(strata.transform, r, c)
    pts = pd.DataFrame(
        {
            "x": xs,
            "y": ys,
            "row": r.astype(np.int64),
            "col": c.astype(np.int64),
            "map_class": k.astype(np.int64),
            "reference_class": -1,
        }
    )
    return pts, strata


def write_points(
    points: pd.DataFrame, out_dir: str | Path, strata: MapStrata, scheme: ClassScheme | None = None, meta: dict | None = None
) -> dict:
    """Write the sample's files, each atomically.

    ``points.csv`` always, ``points.gpkg`` for a georeferenced map (to label in QGIS: fill
    ``reference_class``), ``sample.json`` with how it was drawn.

    Parameters
    ----------
    points : pandas.DataFrame
    out_dir : str or Path
    strata : MapStrata
    scheme : ClassScheme, optional
        Class names in the GeoPackage.
    meta : dict, optional
        Recorded in ``sample.json`` (map, n, seed, allocation).

    Returns
    -------
    dict of str to Path
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"points": write_text(out / "points.csv", points[POINT_COLUMNS].to_csv(index=False), sync=True)}
    if strata.crs is not None:
        schema = {
            "geometry": "Point",
            "properties": {"row": "int", "col": "int", "map_class": "int", "map_name": "str", "reference_class": "int"},
        }
        gpkg = out / "points.gpkg"
        with (
            atomic_path(gpkg) as tmp,
            fiona.open(
                tmp, "w", driver="GPKG", crs=strata.crs.to_wkt(), schema=schema, layer="points", SPATIAL_INDEX="NO"
            ) as dst,
        ):
            for p in points.itertuples():
                dst.write(
                    {
                        "geometry": {"type": "Point", "coordinates": (float(p.x), float(p.y))},
                        "properties": {
                            "row": int(p.row),
                            "col": int(p.col),
                            "map_class": int(p.map_class),
                            "map_name": scheme.name(int(p.map_class)) if scheme else str(p.map_class),
                            "reference_class": int(p.reference_class),
                        },
                    }
                )
        paths["gpkg"] = gpkg
    if meta is not None:
        paths["sample"] = write_json(out / "sample.json", meta)
    return paths


def sample_for(
    map_path: str | Path,
    out_dir: str | Path,
    n: int | None = None,
    min_per_class: int = DEFAULT_MIN_PER_CLASS,
    seed: int = 0,
    scheme: ClassScheme | None = None,
    overwrite: bool = False,
    log: Callable[[str], object] = print,
    strata: MapStrata | None = None,
) -> tuple[pd.DataFrame, dict]:
    """Return the sample in ``out_dir``.

    Reused when it was drawn from this map (same SHA-256) with these settings (its labels kept), else drawn
    and written (:func:`draw_sample`, :func:`write_points`).

    Parameters
    ----------
    map_path : str or Path
    out_dir : str or Path
    n : int, optional
        None reuses whatever sample the folder holds.
    min_per_class, seed : int
    scheme : ClassScheme, optional
    overwrite : bool
        Draw anew over a sample drawn otherwise (else that is an error).
    log : callable
    strata : MapStrata, optional
        The map's, when already counted.

    Returns
    -------
    points : pandas.DataFrame
    files : dict of str to Path
        What was written (empty when reused).
    """
    out = Path(out_dir)
    strata = strata or map_strata(map_path)
    meta: dict[str, Any] = {
        "map": str(Path(map_path).resolve()),
        "map_sha256": file_sha256(map_path),
        "n": n,
        "min_per_class": int(min_per_class),
        "seed": int(seed),
    }
    sample_json = out / "sample.json"
    old = json.loads(sample_json.read_text()) if sample_json.exists() else None
    status, why = recipe_status(None if old is None else {k: old.get(k) for k in meta}, meta)
    if old is not None and (n is None or status == "done"):  # n None: whatever sample the folder holds
        if old.get("map_sha256") != meta["map_sha256"]:
            raise AssessError(
                f"the sample in {out} was drawn from another map ({old.get('map')}): give that map, or "
                "n and overwrite=True (--overwrite) to draw a new sample"
            )
        pts = pd.read_csv(out / "points.csv")
        log(f"reusing the sample in {out} ({len(pts)} points, {int((pts.reference_class > 0).sum())} labelled)")
        return pts, {}
    if status == "other" and not overwrite:
        raise AssessError(
            f"{out} holds a sample drawn with other settings or from another map ({sample_json}: {why}): "
            "give another out folder, or overwrite=True (--overwrite) to draw a new one"
        )
    if n is None:
        raise AssessError(f"no sample in {out}: give n (--n), the number of points to draw")
    pts, _ = draw_sample(map_path, n, min_per_class, seed)
    if old is not None:  # overwrite: nothing of the earlier sample stays beside the new one (its estimates least of all)
        gone = remove_item([{f: out / f for f in ASSESS_FILES}])  # with the styles QGIS wrote beside them
        log(f"overwrite: removed the earlier sample's {', '.join(f.name for f in gone)} in {out}")
    meta["allocation"] = {str(c): int(v) for c, v in pts.map_class.value_counts().sort_index().items()}
    files = write_points(pts, out, strata, scheme, meta)
    log(f"drew {len(pts)} points from {Path(map_path).name}: {meta['allocation']} per class")
    return pts, files
