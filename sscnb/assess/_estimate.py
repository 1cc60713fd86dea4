"""Area and accuracy with confidence intervals, the good-practice way (Olofsson et al. 2014).

The areas that a map's pixel counts give are biased by the map's errors. A stratified random
sample of points, each given its true ("reference") class by a person or a label raster, gives
unbiased estimates of each class's area, with confidence intervals, and of the map's overall,
user's and producer's accuracy:

1. :func:`draw_sample` draws the sample from a final map. The strata are the map classes, with
   Olofsson's allocation (:func:`allocate`): a minimum per class, the rest in proportion to
   area. It is seeded, never falls on no-data (0), reads the map in strips (bounded memory) and
   writes ``points.csv`` (``x,y,row,col,map_class,reference_class``) and, for a georeferenced
   map, ``points.gpkg`` to label in QGIS.
2. Reference classes come from a label raster (:func:`reference_from_raster`), from points
   labelled in QGIS (:func:`read_points`, a GeoPackage or CSV in any CRS, reprojected), or from
   the point labeller of notebook 08 (:class:`sscnb.labels.PointSession`).
3. :func:`estimate` computes, from the sample and the mapped pixels of each class, the error
   matrix in estimated area proportions, the accuracies with standard errors and 95% confidence
   intervals, and each class's estimated area with its 95% interval (equations 1-11 of Olofsson
   et al. 2014, "Good practices for estimating area and assessing accuracy of land change",
   Remote Sensing of Environment 148, 42-57). Tested on the paper's worked example (its section
   5 and table 8) and on small cases computed by hand.

Sample points are pixel centres; ``x, y`` are in the map's CRS (pixel coordinates, ``x = col +
0.5, y = row + 0.5``, for a map that is not georeferenced).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import fiona
import numpy as np
import pandas as pd
from rasterio.crs import CRS
from rasterio.transform import array_bounds, rowcol
from rasterio.warp import transform as warp
from rasterio.warp import transform_bounds
from rasterio.windows import Window

from sscnb.assess._sampling import (  # the sample: drawn there; its names are assess's too
    DEFAULT_MIN_PER_CLASS,
    POINT_COLUMNS,
    AssessError,
    MapStrata,
    _centres,
    _open,
    _strips,
    allocate,
    draw_sample,
    map_strata,
    sample_for,
    write_points,
)
from sscnb.data._classes import ClassScheme
from sscnb.layout import check_output
from sscnb.provenance import write_text

if TYPE_CHECKING:
    from collections.abc import Callable


__all__ = [
    "AssessError",
    "Z95",
    "POINT_COLUMNS",
    "ESTIMATE_COLUMNS",
    "MapStrata",
    "map_strata",
    "allocate",
    "draw_sample",
    "write_points",
    "sample_for",
    "read_points",
    "reference_from_raster",
    "estimate",
    "estimate_lines",
    "NO_SAMPLE_ERROR",
    "assess_map",
]

#: the normal quantile of a two-sided 95% interval
Z95 = 1.96
#: what a +- 0 interval means: the sample held no error there, which does not make the figure certain
NO_SAMPLE_ERROR = "no error in the sample: the interval cannot be estimated from it"
ESTIMATE_COLUMNS = [
    "class_code",
    "class_name",
    "mapped_px",
    "mapped_area",
    "estimated_area",
    "area_ci95",
    "users_accuracy",
    "users_ci95",
    "producers_accuracy",
    "producers_ci95",
]


def reference_from_raster(points: pd.DataFrame, label_path: str | Path, strata: MapStrata) -> tuple[pd.DataFrame, int]:
    """Give the sample points the classes of a label raster on the map's grid.

    Parameters
    ----------
    points : pandas.DataFrame
        The sample.
    label_path : str or Path
        A class raster of the same size as the map (e.g. an ``SCLS_`` label); 0 = unlabelled.
    strata : MapStrata

    Returns
    -------
    points : pandas.DataFrame
        The points on labelled pixels, with ``reference_class`` filled.
    dropped : int
        Points on unlabelled pixels (dropped).

    Raises
    ------
    AssessError
        The label raster is missing or of another size than the map.
    """
    out = _reference_classes(points, label_path, strata)
    keep = out.reference_class.to_numpy() > 0
    return out[keep].reset_index(drop=True), int((~keep).sum())


def _reference_classes(points: pd.DataFrame, label_path: str | Path, strata: MapStrata) -> pd.DataFrame:
    """Return every point with ``reference_class`` read from a label raster (0 where unlabelled or outside it).

    Two georeferenced rasters are matched by place, not by size: each point's centre is taken into the
    reference's CRS (exact for a point: nothing is resampled) and read from the pixel it falls in. A
    reference that no point falls in is refused with both extents. Rasters without georeferencing are
    matched pixel for pixel, so their sizes must agree.
    """
    label_path = Path(label_path)
    if not label_path.is_file():
        raise AssessError(f"the reference {label_path} does not exist: give the label raster of the mapped area (--reference)")
    with _open(label_path) as ds:
        r, c = _reference_pixels(points, ds, strata, label_path)
        inside = (r >= 0) & (r < ds.height) & (c >= 0) & (c < ds.width)
        ref = np.zeros(len(points), np.int64)
        for y0, y1 in _strips(ds.height, ds.width):
            sel = inside & (r >= y0) & (r < y1)
            if sel.any():
                block = ds.read(1, window=Window(0, y0, ds.width, y1 - y0))
                ref[sel] = block[r[sel] - y0, c[sel]]
    out = points.copy()
    out["reference_class"] = ref
    return out


def _reference_pixels(points: pd.DataFrame, ds, strata: MapStrata, label_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Return the reference raster's row and column of each point (outside it where it does not cover the point)."""
    r, c = points["row"].to_numpy(), points["col"].to_numpy()
    if ds.crs is None or strata.crs is None:
        if (ds.height, ds.width) != tuple(strata.shape):
            raise AssessError(
                f"the reference {label_path} is {ds.width} x {ds.height} px but the map {strata.path.name} "
                f"is {strata.shape[1]} x {strata.shape[0]}: give the label raster of the mapped image"
            )
        return r, c
    if ds.crs == strata.crs and ds.transform == strata.transform:
        return r, c  # the same grid: pixel for pixel

    xs, ys = _centres(strata.transform, r, c)
    if ds.crs != strata.crs:  # taken to the reference's CRS, point by point
        xs, ys = (np.asarray(v) for v in warp(strata.crs, ds.crs, xs, ys))
    rr, cc = (np.asarray(v, np.int64) for v in rowcol(ds.transform, xs, ys))
    if not ((rr >= 0) & (rr < ds.height) & (cc >= 0) & (cc < ds.width)).any():
        mb = transform_bounds(strata.crs, ds.crs, *array_bounds(*strata.shape, strata.transform))
        raise AssessError(
            f"the reference {label_path.name} does not overlap the map {strata.path.name}: in {ds.crs} the map "
            f"covers x {mb[0]:.1f}-{mb[2]:.1f}, y {mb[1]:.1f}-{mb[3]:.1f} and the reference x {ds.bounds.left:.1f}-"
            f"{ds.bounds.right:.1f}, y {ds.bounds.bottom:.1f}-{ds.bounds.top:.1f}: give the label raster of the mapped area"
        )
    return rr, cc


def read_points(
    path: str | Path, strata: MapStrata, class_field: str = "reference_class", crs: str | None = None
) -> tuple[pd.DataFrame, int]:
    """Read labelled sample points and take their map class from the map.

    A GeoPackage or shapefile from QGIS, or a CSV: the points are reprojected to the map's CRS and placed on
    its grid.

    Parameters
    ----------
    path : str or Path
    strata : MapStrata
    class_field : str
        The field with the reference class codes. Points where it is empty or below 1 are not labelled
        yet (counted, not used).
    crs : str, optional
        The CRS of a CSV's ``x, y`` (default: the map's).

    Returns
    -------
    points : pandas.DataFrame
        :data:`POINT_COLUMNS`, ``map_class`` read from the map.
    unlabelled : int

    Raises
    ------
    AssessError
        No such field, points outside the map or on its no-data, or points in a CRS given for a map
        without one.
    """
    path = Path(path)
    if not path.exists():
        raise AssessError(f"the points file {path} does not exist")
    xs, ys, ref, src_crs = _read_point_file(path, class_field, crs)
    if src_crs and strata.crs is None:
        raise AssessError(
            f"the points of {path} are in a CRS but the map {strata.path.name} has none: give points in "
            "the map's pixel coordinates (its points.csv), or map a georeferenced image"
        )
    if src_crs and strata.crs is not None and CRS.from_user_input(src_crs) != strata.crs:
        xs, ys = (np.asarray(v) for v in warp(CRS.from_user_input(src_crs), strata.crs, xs, ys))
    labelled = ref > 0
    r, c = rowcol(strata.transform, xs[labelled], ys[labelled])
    r, c = np.asarray(r, np.int64), np.asarray(c, np.int64)
    H, W = strata.shape
    out = (r < 0) | (r >= H) | (c < 0) | (c >= W)
    if out.any():
        raise AssessError(
            f"{int(out.sum())} labelled point(s) of {path} fall outside the map {strata.path.name}: "
            "are they in another CRS (give crs for a CSV), or from another map?"
        )
    _check_duplicate_points(path, np.flatnonzero(labelled), r, c, ref[labelled])
    mc = _map_class_at(strata, r, c)
    if (mc == 0).any():
        raise AssessError(
            f"{int((mc == 0).sum())} labelled point(s) of {path} lie on the map's no-data: the sample "
            "must be drawn from the map's classes (sscnb assess draws one)"
        )
    xs2, ys2 = _centres(strata.transform, r, c)
    pts = pd.DataFrame({"x": xs2, "y": ys2, "row": r, "col": c, "map_class": mc, "reference_class": ref[labelled]})
    return pts, int((~labelled).sum())


def _check_duplicate_points(path: Path, index: np.ndarray, r: np.ndarray, c: np.ndarray, ref: np.ndarray) -> None:
    """Refuse two labelled points on one map pixel: with two classes they conflict, with one they count twice.

    ``index``: each point's position in the file (a CSV's line is ``index + 2``, after its header; a GIS file's
    feature number is ``index + 1``).
    """
    if len(r) < 2:
        return
    _, inverse, counts = np.unique(np.stack([r, c], 1), axis=0, return_inverse=True, return_counts=True)
    dup = counts[inverse.ravel()] > 1
    if not dup.any():
        return
    first = int(np.flatnonzero(dup)[0])
    same = np.flatnonzero(inverse.ravel() == inverse.ravel()[first])
    csv = path.suffix.lower() == ".csv"
    where = ", ".join(f"{'line' if csv else 'feature'} {int(index[i]) + (2 if csv else 1)} says {int(ref[i])}" for i in same)
    conflict = len(set(ref[same].tolist())) > 1
    raise AssessError(
        f"{path.name}: {len(same)} labelled points fall on one map pixel (row {int(r[first])}, column {int(c[first])}; "
        f"{where}){'; their classes conflict' if conflict else '; it would count twice'}: keep one point per "
        "place, with its right reference class, and delete the other(s)"
    )


def _read_point_file(path: Path, class_field: str, crs):
    """Return the points of a CSV or a GIS file: ``x``, ``y``, the reference codes (-1: none) and their CRS."""
    if path.suffix.lower() == ".csv":
        df = pd.read_csv(path)
        missing = [k for k in ("x", "y", class_field) if k not in df.columns]
        if missing:
            raise AssessError(
                f"{path} has no column(s) {missing}: it needs x, y and {class_field} (the points.csv "
                "that sscnb assess wrote, with reference_class filled)"
            )
        xs, ys, ref = df["x"].to_numpy(float), df["y"].to_numpy(float), pd.to_numeric(df[class_field], errors="coerce")
        src_crs = crs
    else:
        with fiona.open(path) as src:
            if class_field not in src.schema["properties"]:
                raise AssessError(
                    f"{path} has no field {class_field!r} (fields: {list(src.schema['properties'])}): "
                    "give the field holding the reference class codes (class_field)"
                )
            src_crs = src.crs_wkt or None
            feats = list(src)
        xs = np.array([f["geometry"]["coordinates"][0] for f in feats], float)
        ys = np.array([f["geometry"]["coordinates"][1] for f in feats], float)
        ref = pd.to_numeric(pd.Series([f["properties"][class_field] for f in feats]), errors="coerce")
    return xs, ys, ref.fillna(-1).astype(np.int64).to_numpy(), src_crs


def _map_class_at(strata: MapStrata, r: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Return the map's class at pixels (r, c), read strip by strip."""
    H, W = strata.shape
    mc = np.zeros(len(r), np.int64)
    with _open(strata.path) as ds:
        for y0, y1 in _strips(H, W):
            sel = (r >= y0) & (r < y1)
            if sel.any():
                mc[sel] = ds.read(1, window=Window(0, y0, W, y1 - y0))[r[sel] - y0, c[sel]]
    return mc


def estimate(
    map_class: np.ndarray,
    reference_class: np.ndarray,
    mapped_px: dict,
    strata: MapStrata | None = None,
    scheme: ClassScheme | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Olofsson et al. (2014) estimators for a stratified random sample whose strata are the map classes.

    With ``W_i`` the share of the map in class ``i``, ``n_ij`` the points mapped ``i`` and
    referenced ``j`` and ``n_i`` those mapped ``i``: the error matrix in area proportions is
    ``p_ij = W_i n_ij / n_i``; overall accuracy ``sum p_ii``; user's accuracy ``n_ii / n_i``;
    producer's accuracy ``p_jj / p_.j``; the area of ``j`` is ``p_.j`` times the mapped total.
    Standard errors are those of the paper's equations 5, 7 and 10 (eq. 10 of Olofsson et al. 2013
    for the producer's accuracy); intervals are +-1.96 SE.

    Parameters
    ----------
    map_class, reference_class : array_like of int
        Of each sample point.
    mapped_px : dict of int to int
        Pixels of each map class (the strata's sizes).
    strata : MapStrata, optional
        For areas in m2 (projected maps); pixels otherwise.
    scheme : ClassScheme, optional
        Class names.

    Returns
    -------
    estimates : pandas.DataFrame
        :data:`ESTIMATE_COLUMNS`, one row per class (of the map or of the reference), then a row
        ``overall`` with the overall accuracy in ``users_accuracy`` and its interval in ``users_ci95``.
        Areas are in ``m2`` for a projected map (``estimated_area_ha`` and ``area_ci95_ha`` too),
        else in pixels.
    matrix : pandas.DataFrame
        The error matrix in estimated area proportions (rows: map, columns: reference), with totals.

    Raises
    ------
    AssessError
        A map class in the sample without pixels in ``mapped_px``, or a class with fewer than 2 points.
    """
    classes, n, Ni = _sample_counts(map_class, reference_class, mapped_px)
    return _estimate_tables(classes, _olofsson(n, Ni), Ni, strata, scheme)


def _sample_counts(map_class, reference_class, mapped_px: dict):
    """Return the classes, the sample's counts ``n_ij`` and the strata's sizes ``N_i``, checked.

    The classes are those of the map or the reference; the counts' rows are map classes and their columns
    reference classes. Checked: every sampled map class has pixels, and every stratum at least 2 points (a
    variance needs them).
    """
    m = np.asarray(map_class, np.int64)
    r = np.asarray(reference_class, np.int64)
    if len(m) != len(r) or len(m) == 0:
        raise AssessError("the sample is empty (or its map and reference classes differ in length): label some points")
    unknown = sorted(set(m.tolist()) - {c for c, v in mapped_px.items() if v > 0})
    if unknown:
        raise AssessError(
            f"sample points mapped as class(es) {unknown}, which the map does not hold: was the sample drawn from another map?"
        )
    strata_cls = sorted(c for c, v in mapped_px.items() if v > 0)
    classes = sorted(set(strata_cls) | set(r.tolist()))
    k = len(classes)
    idx = {c: i for i, c in enumerate(classes)}
    n = np.zeros((k, k))
    np.add.at(n, ([idx[c] for c in m], [idx[c] for c in r]), 1)
    Ni = np.array([mapped_px.get(c, 0) for c in classes], float)  # stratum sizes (0 for reference-only classes)
    ni = n.sum(axis=1)
    thin = [classes[i] for i in range(k) if Ni[i] > 0 and ni[i] < 2]
    if thin:
        raise AssessError(
            f"map class(es) {thin} have fewer than 2 labelled points: no variance can be estimated; "
            "label more of their points (or draw a sample with a higher min_per_class)"
        )
    return classes, n, Ni


def _olofsson(n: np.ndarray, Ni: np.ndarray) -> dict:
    """Equations 3-10 of Olofsson et al. (2014) from the counts ``n_ij`` and the strata's sizes.

    The error matrix in area proportions ``p``, the accuracies and the area proportions ``pj``, each with its
    variance.
    """
    k = len(Ni)
    ni = n.sum(axis=1)
    W = Ni / Ni.sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(ni[:, None] > 0, n / ni[:, None], 0.0)  # n_ij / n_i.
        p = W[:, None] * frac  # eq. 4
        dof = np.where(ni > 1, ni - 1, np.nan)
        oa = np.trace(p)
        ua = np.where(ni > 0, np.diag(frac), np.nan)
        var_oa = np.nansum(W**2 * ua * (1 - ua) / dof)  # eq. 5
        var_ua = ua * (1 - ua) / dof  # eq. 6
        pj = p.sum(axis=0)  # eq. 9: area proportions
        pa = np.where(pj > 0, np.diag(p) / pj, np.nan)  # eq. 3
        var_area = np.nansum((W**2)[:, None] * frac * (1 - frac) / dof[:, None], axis=0)  # eq. 10
        Nj = (Ni[:, None] * frac).sum(axis=0)  # estimated pixels of reference class j
        var_pa = np.full(k, np.nan)
        for j in range(k):
            if Nj[j] <= 0:
                continue
            own = Ni[j] ** 2 * (1 - pa[j]) ** 2 * ua[j] * (1 - ua[j]) / dof[j] if Ni[j] > 0 else 0.0
            others = sum(Ni[i] ** 2 * frac[i, j] * (1 - frac[i, j]) / dof[i] for i in range(k) if i != j and Ni[i] > 0)
            var_pa[j] = (own + pa[j] ** 2 * others) / Nj[j] ** 2  # eq. 7
    return {
        "p": p,
        "oa": oa,
        "ua": ua,
        "var_oa": var_oa,
        "var_ua": var_ua,
        "pj": pj,
        "pa": pa,
        "var_area": var_area,
        "var_pa": var_pa,
    }


def _estimate_tables(classes: list, e: dict, Ni: np.ndarray, strata, scheme):
    """:func:`estimate`'s two tables from the estimators ``e`` of :func:`_olofsson`."""
    total = Ni.sum()
    area = (lambda px: px) if strata is None else strata.area
    name = (lambda c: scheme.name(c)) if scheme is not None else str
    rows = []
    for i, c in enumerate(classes):
        rows.append(
            {
                "class_code": c,
                "class_name": name(c),
                "mapped_px": int(Ni[i]),
                "mapped_area": area(Ni[i]),
                "estimated_area": area(e["pj"][i] * total),
                "area_ci95": area(Z95 * np.sqrt(e["var_area"][i]) * total),
                "users_accuracy": e["ua"][i],
                "users_ci95": Z95 * np.sqrt(e["var_ua"][i]),
                "producers_accuracy": e["pa"][i],
                "producers_ci95": Z95 * np.sqrt(e["var_pa"][i]),
            }
        )
    rows.append(
        {
            "class_code": "overall",
            "class_name": "overall accuracy",
            "mapped_px": int(total),
            "mapped_area": area(total),
            "estimated_area": area(total),
            "area_ci95": np.nan,
            "users_accuracy": e["oa"],
            "users_ci95": Z95 * np.sqrt(e["var_oa"]),
            "producers_accuracy": np.nan,
            "producers_ci95": np.nan,
        }
    )
    est = pd.DataFrame(rows, columns=ESTIMATE_COLUMNS)
    if strata is not None and strata.pixel_area_m2 is not None:
        est["estimated_area_ha"] = est["estimated_area"] / 1e4
        est["area_ci95_ha"] = est["area_ci95"] / 1e4
    # a +- 0 interval comes from a sample without error there (every point of a class right), not from certainty
    which = {"area_ci95": "area", "users_ci95": "user's accuracy", "producers_ci95": "producer's accuracy"}
    est["note"] = [
        f"{NO_SAMPLE_ERROR} ({', '.join(w for k, w in which.items() if row[k] == 0)})" if (row[list(which)] == 0).any() else ""
        for _, row in est.iterrows()
    ]
    labels = [name(c) for c in classes]
    matrix = pd.DataFrame(e["p"], index=pd.Index(labels, name="map \\ reference"), columns=labels)
    matrix["total (map)"] = matrix.sum(axis=1)
    matrix.loc["total (reference)"] = matrix.sum(axis=0)
    return est, matrix


def estimate_lines(est: pd.DataFrame) -> list[str]:
    """Return the estimates in words, one line per class and one for the overall accuracy, as notebook 08 prints them.

    Each class: its mapped and estimated area with the 95% interval (in ha on a projected map, else px),
    flagged where the mapped area lies outside the interval. An interval of 0 is said for what it is
    (:data:`NO_SAMPLE_ERROR`), not printed as a certain figure.

    Parameters
    ----------
    est : pandas.DataFrame
        From :func:`estimate`.

    Returns
    -------
    list of str
    """
    unit = "ha" if "estimated_area_ha" in est else "px"
    f = 1e-4 if unit == "ha" else 1.0
    lines = []
    for r in est.itertuples():
        if r.class_code == "overall":
            ci = f"({NO_SAMPLE_ERROR})" if r.users_ci95 == 0 else f"+- {r.users_ci95:.3f}"
            lines.append(f"overall accuracy {r.users_accuracy:.3f} {ci}")
            continue
        head = f"{r.class_name:>22}: mapped {r.mapped_area * f:.4g} {unit}, estimated {r.estimated_area * f:.4g}"
        if r.area_ci95 == 0:
            lines.append(f"{head} {unit} ({NO_SAMPLE_ERROR})")
            continue
        outside = abs(r.mapped_area - r.estimated_area) > r.area_ci95
        flag = "  <- the map's area lies outside the interval" if outside else ""
        lines.append(f"{head} +- {r.area_ci95 * f:.2g} {unit}{flag}")
    return lines


def assess_map(
    map_path: str | Path,
    out_dir: str | Path,
    n: int | None = None,
    reference: str | Path | None = None,
    points: str | Path | None = None,
    *,
    min_per_class: int = DEFAULT_MIN_PER_CLASS,
    seed: int = 0,
    scheme: ClassScheme | None = None,
    class_field: str = "reference_class",
    points_crs: str | None = None,
    overwrite: bool = False,
    log: Callable[[str], object] = print,
    out_setting: str = "out_dir",
) -> dict:
    """Run the command ``sscnb assess``: draw (or reuse) the sample, take reference classes, estimate.

    Parameters
    ----------
    map_path : str or Path
        The final map.
    out_dir : str or Path
        Gets ``points.csv`` (+ ``points.gpkg``, ``sample.json``), then ``estimates.csv`` and
        ``error_matrix.csv``.
    n : int, optional
        Points to draw. An existing sample in ``out_dir`` drawn from this map with these settings is
        reused (labels kept); one drawn otherwise is an error unless ``overwrite``, which removes it and its
        estimates first.
    reference : str or Path, optional
        A label raster of the mapped area: on the map's grid, or georeferenced anywhere over it (matched by
        place, in any CRS). The classes read are written into the sample's ``points.csv`` and ``points.gpkg``.
    points : str or Path, optional
        Labelled points (GeoPackage or CSV, any CRS).
    min_per_class, seed : int
    scheme : ClassScheme, optional
    class_field : str
        The reference class field of ``points``.
    points_crs : str, optional
        The CRS of a CSV's coordinates (default: the map's).
    overwrite : bool
    log : callable
    out_setting : str
        How the caller named ``out_dir`` (``--out``), for the message when it cannot be written.

    Returns
    -------
    dict
        ``points`` (DataFrame), ``estimates`` and ``matrix`` (None, with a message, while some map
        class has fewer than 2 points with a reference class), ``files``, ``dropped`` (points
        without a reference class).
    """
    scheme = scheme or ClassScheme.default()
    if reference is not None and points is not None:
        raise AssessError("give either reference (a label raster) or points (labelled points), not both")
    check_output(out_dir, out_setting)  # before the map is read: a folder that cannot be written is refused
    out = Path(out_dir)
    strata = map_strata(map_path)
    files: dict = {}
    dropped = 0
    if points is not None:
        pts, dropped = read_points(points, strata, class_field, points_crs)
        log(f"{len(pts)} labelled points read from {points} ({dropped} not labelled yet)")
    else:
        pts, files = sample_for(map_path, out, n, min_per_class, seed, scheme, overwrite, log, strata)
        if reference is not None:
            every = _reference_classes(pts, reference, strata)
            # the sample's files hold the class each estimate used (0: none in the reference), to audit or recompute
            files.update(write_points(every, out, strata, scheme, json.loads((out / "sample.json").read_text())))
            pts, dropped = every[every.reference_class > 0].reset_index(drop=True), int((every.reference_class <= 0).sum())
            log(f"reference classes from {reference}: {len(pts)} points, {dropped} on unlabelled pixels (or outside it) dropped")
        else:
            labelled = pts.reference_class > 0
            dropped = int((~labelled).sum())
            pts = pts[labelled].reset_index(drop=True)
    per_class = pts.map_class.value_counts()
    thin = [c for c in sorted(strata.counts) if per_class.get(c, 0) < 2]
    if thin:  # labelling still under way: nothing to estimate yet (an estimate needs 2 points per stratum)
        log(
            f"{len(pts)} points have a reference class, but map class(es) {thin} have fewer than 2: label more of "
            "their points (notebook 08's point labeller, or points.gpkg in QGIS), then estimate again"
        )
        return {"points": pts, "estimates": None, "matrix": None, "files": files, "dropped": dropped}
    est, matrix = estimate(pts.map_class, pts.reference_class, strata.counts, strata, scheme)
    out.mkdir(parents=True, exist_ok=True)
    files["estimates"] = write_text(out / "estimates.csv", est.to_csv(index=False))
    files["matrix"] = write_text(out / "error_matrix.csv", matrix.to_csv())
    return {"points": pts, "estimates": est, "matrix": matrix, "files": files, "dropped": dropped}
