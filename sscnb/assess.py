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
   the point labeller of notebook 08 (:class:`sscnb.labeller.PointSession`).
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
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .classes import ClassScheme
from .errors import SscnbError
from .geo import SurveyRaster, open_raster, pixel_area_m2
from .provenance import atomic_path, file_sha256, write_json, write_text

__all__ = ["AssessError", "Z95", "DEFAULT_MIN_PER_CLASS", "POINT_COLUMNS", "ESTIMATE_COLUMNS", "MapStrata",
           "map_strata", "allocate", "draw_sample", "write_points", "sample_for", "read_points", "reference_from_raster",
           "estimate", "assess_map"]

#: the normal quantile of a two-sided 95% interval
Z95 = 1.96
#: Olofsson et al. suggest 50-100 points for each class, whatever its area
DEFAULT_MIN_PER_CLASS = 50
POINT_COLUMNS = ["x", "y", "row", "col", "map_class", "reference_class"]
ESTIMATE_COLUMNS = ["class_code", "class_name", "mapped_px", "mapped_area", "estimated_area", "area_ci95",
                    "users_accuracy", "users_ci95", "producers_accuracy", "producers_ci95"]


class AssessError(SscnbError, ValueError):
    """A sample, a map or a reference that cannot be assessed; the message names the file and the fix."""


@dataclass
class MapStrata:
    """What the assessment needs of a map: its classes' pixel counts, grid and georeferencing."""

    path: Path
    counts: dict          # {class code: pixels}, no-data (0) left out
    shape: tuple          # (rows, cols)
    transform: object     # rasterio.Affine
    crs: object           # rasterio CRS or None
    pixel_area_m2: float | None

    @property
    def unit(self) -> str:
        return "px" if self.pixel_area_m2 is None else "m2"

    def area(self, pixels):
        """Pixels as area in :attr:`unit` (m2 for a projected map, else pixels)."""
        return pixels * (1.0 if self.pixel_area_m2 is None else self.pixel_area_m2)


def _strips(height: int, width: int, max_px: int = 8_000_000):
    rows = max(1, max_px // max(width, 1))
    for y0 in range(0, height, rows):
        yield y0, min(height, y0 + rows)


def _open(path):

    import rasterio

    path = Path(path)
    if not path.exists():
        raise AssessError(f"the map {path} does not exist: give the final map that sscnb map or notebook 03 wrote "
                          "(<image>_<experiment>_MLP.tif)")
    try:
        return open_raster(path)
    except rasterio.errors.RasterioIOError as exc:
        raise AssessError(f"{path} cannot be read as a raster ({exc}): give a class map (GeoTIFF)") from None


def _centres(transform, rows, cols):
    from rasterio.transform import xy

    if len(rows) == 0:
        return np.zeros(0), np.zeros(0)
    xs, ys = xy(transform, rows, cols, offset="center")
    return np.asarray(xs, float), np.asarray(ys, float)


def map_strata(path) -> MapStrata:
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
    from rasterio.windows import Window

    path = Path(path)
    with _open(path) as ds:
        if ds.count != 1:
            raise AssessError(f"{path} has {ds.count} bands: give the single-band class map (the final map), not "
                              "the image")
        counts = np.zeros(256, np.int64)
        for y0, y1 in _strips(ds.height, ds.width):
            counts += np.bincount(ds.read(1, window=Window(0, y0, ds.width, y1 - y0)).ravel().astype(np.uint8),
                                  minlength=256)
        georef = ds.crs is not None or not ds.transform.is_identity
        info = SurveyRaster(path, ds.width, ds.height, 1, ds.crs, ds.transform, georef, None, ds.driver)
    strata = {int(c): int(counts[c]) for c in np.flatnonzero(counts) if c != 0}
    if not strata:
        raise AssessError(f"{path} holds no classified pixel (all 0): nothing to assess")
    return MapStrata(path, strata, (info.height, info.width), info.transform, info.crs, pixel_area_m2(info))


def allocate(counts: dict, n: int, min_per_class: int = DEFAULT_MIN_PER_CLASS) -> dict:
    """Olofsson's allocation of a stratified sample: ``min_per_class`` points per class, the rest in
    proportion to the classes' areas (largest remainders, so the counts add up to ``n``). A class
    with fewer pixels than its share gets all its pixels, and the points it cannot take go to the
    others.

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
        raise AssessError(f"n = {n} points cannot give each of the map's {k} classes its minimum of {min_per_class}: "
                          f"ask for at least {k * min_per_class} points, or lower min_per_class")
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
        for i in np.argsort(-(share - add), kind="stable")[: left - add.sum()]:   # largest remainders
            add[i] += 1
        for c, a in zip(open_, add):
            alloc[c] = min(counts[c], alloc[c] + int(a))
    return alloc


def draw_sample(map_path, n: int, min_per_class: int = DEFAULT_MIN_PER_CLASS, seed: int = 0):
    """A stratified random sample of pixel centres of a class map (strata: its classes).

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
    import pandas as pd
    from rasterio.windows import Window

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
    rows, cols, cls = np.concatenate(rows), np.concatenate(cols), np.concatenate(cls)
    order = np.lexsort((cols, rows))
    rows, cols, cls = rows[order], cols[order], cls[order]
    xs, ys = _centres(strata.transform, rows, cols)
    pts = pd.DataFrame({"x": xs, "y": ys, "row": rows.astype(np.int64), "col": cols.astype(np.int64),
                        "map_class": cls.astype(np.int64), "reference_class": -1})
    return pts, strata


def write_points(points, out_dir, strata: MapStrata, scheme=None, meta: dict | None = None) -> dict:
    """Write the sample: ``points.csv`` always, ``points.gpkg`` for a georeferenced map (to label in
    QGIS: fill ``reference_class``), ``sample.json`` with how it was drawn. Each atomically.

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
        import fiona

        schema = {"geometry": "Point", "properties": {"row": "int", "col": "int", "map_class": "int",
                                                     "map_name": "str", "reference_class": "int"}}
        gpkg = out / "points.gpkg"
        with atomic_path(gpkg) as tmp, fiona.open(tmp, "w", driver="GPKG", crs=strata.crs.to_wkt(), schema=schema,
                                                  layer="points", SPATIAL_INDEX="NO") as dst:
            for p in points.itertuples():
                dst.write({"geometry": {"type": "Point", "coordinates": (float(p.x), float(p.y))},
                           "properties": {"row": int(p.row), "col": int(p.col), "map_class": int(p.map_class),
                                          "map_name": scheme.name(int(p.map_class)) if scheme else str(p.map_class),
                                          "reference_class": int(p.reference_class)}})
        paths["gpkg"] = gpkg
    if meta is not None:
        paths["sample"] = write_json(out / "sample.json", meta)
    return paths


def reference_from_raster(points, label_path, strata: MapStrata):
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
    label_path = Path(label_path)
    with _open(label_path) as ds:
        if (ds.height, ds.width) != tuple(strata.shape):
            raise AssessError(f"the reference {label_path} is {ds.width} x {ds.height} px but the map {strata.path.name} "
                              f"is {strata.shape[1]} x {strata.shape[0]}: give the label raster of the mapped image")
        ref = np.zeros(len(points), np.int64)
        r = points["row"].to_numpy()
        c = points["col"].to_numpy()
        from rasterio.windows import Window

        for y0, y1 in _strips(ds.height, ds.width):
            sel = (r >= y0) & (r < y1)
            if sel.any():
                block = ds.read(1, window=Window(0, y0, ds.width, y1 - y0))
                ref[sel] = block[r[sel] - y0, c[sel]]
    out = points.copy()
    out["reference_class"] = ref
    keep = ref > 0
    return out[keep].reset_index(drop=True), int((~keep).sum())


def read_points(path, strata: MapStrata, class_field: str = "reference_class", crs=None):
    """Read labelled sample points (a GeoPackage or shapefile from QGIS, or a CSV), reproject them to
    the map's CRS, place them on its grid and take their map class from the map.

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
    import pandas as pd
    from rasterio.transform import rowcol
    from rasterio.windows import Window

    path = Path(path)
    if not path.exists():
        raise AssessError(f"the points file {path} does not exist")
    if path.suffix.lower() == ".csv":
        df = pd.read_csv(path)
        missing = [k for k in ("x", "y", class_field) if k not in df.columns]
        if missing:
            raise AssessError(f"{path} has no column(s) {missing}: it needs x, y and {class_field} (the points.csv "
                              "that sscnb assess wrote, with reference_class filled)")
        xs, ys, ref = df["x"].to_numpy(float), df["y"].to_numpy(float), pd.to_numeric(df[class_field], errors="coerce")
        src_crs = crs
    else:
        import fiona

        with fiona.open(path) as src:
            if class_field not in src.schema["properties"]:
                raise AssessError(f"{path} has no field {class_field!r} (fields: {list(src.schema['properties'])}): "
                                  "give the field holding the reference class codes (class_field)")
            src_crs = src.crs_wkt or None
            feats = list(src)
        xs = np.array([f["geometry"]["coordinates"][0] for f in feats], float)
        ys = np.array([f["geometry"]["coordinates"][1] for f in feats], float)
        ref = pd.to_numeric(pd.Series([f["properties"][class_field] for f in feats]), errors="coerce")
    if src_crs and strata.crs is None:
        raise AssessError(f"the points of {path} are in a CRS but the map {strata.path.name} has none: give points in "
                          "the map's pixel coordinates (its points.csv), or map a georeferenced image")
    if src_crs and strata.crs is not None:
        from rasterio.crs import CRS
        from rasterio.warp import transform as warp

        if CRS.from_user_input(src_crs) != strata.crs:
            xs, ys = (np.asarray(v) for v in warp(CRS.from_user_input(src_crs), strata.crs, xs, ys))
    ref = ref.fillna(-1).astype(np.int64).to_numpy()
    labelled = ref > 0
    r, c = rowcol(strata.transform, xs[labelled], ys[labelled])
    r, c = np.asarray(r, np.int64), np.asarray(c, np.int64)
    H, W = strata.shape
    out = (r < 0) | (r >= H) | (c < 0) | (c >= W)
    if out.any():
        raise AssessError(f"{int(out.sum())} labelled point(s) of {path} fall outside the map {strata.path.name}: "
                          "are they in another CRS (give crs for a CSV), or from another map?")
    mc = np.zeros(len(r), np.int64)
    with _open(strata.path) as ds:
        for y0, y1 in _strips(H, W):
            sel = (r >= y0) & (r < y1)
            if sel.any():
                mc[sel] = ds.read(1, window=Window(0, y0, W, y1 - y0))[r[sel] - y0, c[sel]]
    if (mc == 0).any():
        raise AssessError(f"{int((mc == 0).sum())} labelled point(s) of {path} lie on the map's no-data: the sample "
                          "must be drawn from the map's classes (sscnb assess draws one)")
    xs2, ys2 = _centres(strata.transform, r, c)
    pts = pd.DataFrame({"x": xs2, "y": ys2, "row": r, "col": c, "map_class": mc, "reference_class": ref[labelled]})
    return pts, int((~labelled).sum())


def estimate(map_class, reference_class, mapped_px: dict, strata: MapStrata | None = None, scheme=None):
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
    import pandas as pd

    m = np.asarray(map_class, np.int64)
    r = np.asarray(reference_class, np.int64)
    if len(m) != len(r) or len(m) == 0:
        raise AssessError("the sample is empty (or its map and reference classes differ in length): label some points")
    unknown = sorted(set(m.tolist()) - {c for c, v in mapped_px.items() if v > 0})
    if unknown:
        raise AssessError(f"sample points mapped as class(es) {unknown}, which the map does not hold: was the sample "
                          "drawn from another map?")
    strata_cls = sorted(c for c, v in mapped_px.items() if v > 0)
    classes = sorted(set(strata_cls) | set(r.tolist()))
    k = len(classes)
    idx = {c: i for i, c in enumerate(classes)}
    n = np.zeros((k, k))
    np.add.at(n, ([idx[c] for c in m], [idx[c] for c in r]), 1)
    Ni = np.array([mapped_px.get(c, 0) for c in classes], float)   # stratum sizes (0 for reference-only classes)
    ni = n.sum(axis=1)
    thin = [classes[i] for i in range(k) if Ni[i] > 0 and ni[i] < 2]
    if thin:
        raise AssessError(f"map class(es) {thin} have fewer than 2 labelled points: no variance can be estimated; "
                          "label more of their points (or draw a sample with a higher min_per_class)")
    W = Ni / Ni.sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(ni[:, None] > 0, n / ni[:, None], 0.0)          # n_ij / n_i.
        p = W[:, None] * frac                                           # eq. 4
        dof = np.where(ni > 1, ni - 1, np.nan)
        oa = np.trace(p)
        ua = np.where(ni > 0, np.diag(frac), np.nan)
        var_oa = np.nansum(W ** 2 * ua * (1 - ua) / dof)                 # eq. 5
        var_ua = ua * (1 - ua) / dof                                     # eq. 6
        pj = p.sum(axis=0)                                               # eq. 9: area proportions
        pa = np.where(pj > 0, np.diag(p) / pj, np.nan)                  # eq. 3
        var_area = np.nansum((W ** 2)[:, None] * frac * (1 - frac) / dof[:, None], axis=0)   # eq. 10
        Nj = (Ni[:, None] * frac).sum(axis=0)                           # estimated pixels of reference class j
        var_pa = np.full(k, np.nan)
        for j in range(k):
            if Nj[j] <= 0:
                continue
            own = Ni[j] ** 2 * (1 - pa[j]) ** 2 * ua[j] * (1 - ua[j]) / dof[j] if Ni[j] > 0 else 0.0
            others = sum(Ni[i] ** 2 * frac[i, j] * (1 - frac[i, j]) / dof[i] for i in range(k) if i != j and Ni[i] > 0)
            var_pa[j] = (own + pa[j] ** 2 * others) / Nj[j] ** 2         # eq. 7
    total = Ni.sum()
    area = (lambda px: px) if strata is None else strata.area
    name = (lambda c: scheme.name(c)) if scheme is not None else str
    rows = []
    for i, c in enumerate(classes):
        rows.append({"class_code": c, "class_name": name(c), "mapped_px": int(Ni[i]),
                     "mapped_area": area(Ni[i]), "estimated_area": area(pj[i] * total),
                     "area_ci95": area(Z95 * np.sqrt(var_area[i]) * total),
                     "users_accuracy": ua[i], "users_ci95": Z95 * np.sqrt(var_ua[i]),
                     "producers_accuracy": pa[i], "producers_ci95": Z95 * np.sqrt(var_pa[i])})
    rows.append({"class_code": "overall", "class_name": "overall accuracy", "mapped_px": int(total),
                 "mapped_area": area(total), "estimated_area": area(total), "area_ci95": np.nan,
                 "users_accuracy": oa, "users_ci95": Z95 * np.sqrt(var_oa),
                 "producers_accuracy": np.nan, "producers_ci95": np.nan})
    est = pd.DataFrame(rows, columns=ESTIMATE_COLUMNS)
    if strata is not None and strata.pixel_area_m2 is not None:
        est["estimated_area_ha"] = est["estimated_area"] / 1e4
        est["area_ci95_ha"] = est["area_ci95"] / 1e4
    labels = [name(c) for c in classes]
    matrix = pd.DataFrame(p, index=pd.Index(labels, name="map \\ reference"), columns=labels)
    matrix["total (map)"] = matrix.sum(axis=1)
    matrix.loc["total (reference)"] = matrix.sum(axis=0)
    return est, matrix


def sample_for(map_path, out_dir, n: int | None = None, min_per_class: int = DEFAULT_MIN_PER_CLASS, seed: int = 0,
               scheme=None, overwrite: bool = False, log=print, strata: MapStrata | None = None):
    """The sample in ``out_dir``: reused when it was drawn from this map (same SHA-256) with these
    settings (its labels kept), else drawn and written (:func:`draw_sample`, :func:`write_points`).

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
    import pandas as pd

    out = Path(out_dir)
    strata = strata or map_strata(map_path)
    meta = {"map": str(Path(map_path).resolve()), "map_sha256": file_sha256(map_path), "n": n,
            "min_per_class": int(min_per_class), "seed": int(seed)}
    sample_json = out / "sample.json"
    old = json.loads(sample_json.read_text()) if sample_json.exists() else None
    if old is not None and (n is None or {k: old.get(k) for k in meta} == meta):
        if old.get("map_sha256") != meta["map_sha256"]:
            raise AssessError(f"the sample in {out} was drawn from another map ({old.get('map')}): give that map, or "
                              "n and overwrite=True (--overwrite) to draw a new sample")
        pts = pd.read_csv(out / "points.csv")
        log(f"reusing the sample in {out} ({len(pts)} points, {int((pts.reference_class > 0).sum())} labelled)")
        return pts, {}
    if old is not None and not overwrite:
        raise AssessError(f"{out} holds a sample drawn with other settings or from another map ({sample_json}): "
                          "give another out folder, or overwrite=True (--overwrite) to draw a new one")
    if n is None:
        raise AssessError(f"no sample in {out}: give n (--n), the number of points to draw")
    pts, _ = draw_sample(map_path, n, min_per_class, seed)
    meta["allocation"] = {str(c): int(v) for c, v in pts.map_class.value_counts().sort_index().items()}
    files = write_points(pts, out, strata, scheme, meta)
    log(f"drew {len(pts)} points from {Path(map_path).name}: {meta['allocation']} per class")
    return pts, files


def assess_map(map_path, out_dir, n: int | None = None, reference=None, points=None, *,
               min_per_class: int = DEFAULT_MIN_PER_CLASS, seed: int = 0, scheme=None, class_field: str = "reference_class",
               points_crs=None, overwrite: bool = False, log=print) -> dict:
    """The command ``sscnb assess``: draw (or reuse) the sample, take reference classes, estimate.

    Parameters
    ----------
    map_path : str or Path
        The final map.
    out_dir : str or Path
        Gets ``points.csv`` (+ ``points.gpkg``, ``sample.json``), then ``estimates.csv`` and
        ``error_matrix.csv``.
    n : int, optional
        Points to draw. An existing sample in ``out_dir`` drawn from this map with these settings is
        reused (labels kept); one drawn otherwise is an error unless ``overwrite``.
    reference : str or Path, optional
        A label raster on the map's grid.
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
    out = Path(out_dir)
    strata = map_strata(map_path)
    files = {}
    dropped = 0
    if points is not None:
        pts, dropped = read_points(points, strata, class_field, points_crs)
        log(f"{len(pts)} labelled points read from {points} ({dropped} not labelled yet)")
    else:
        pts, files = sample_for(map_path, out, n, min_per_class, seed, scheme, overwrite, log, strata)
        if reference is not None:
            pts, dropped = reference_from_raster(pts, reference, strata)
            log(f"reference classes from {reference}: {len(pts)} points, {dropped} on unlabelled pixels dropped")
        else:
            labelled = pts.reference_class > 0
            dropped = int((~labelled).sum())
            pts = pts[labelled].reset_index(drop=True)
    per_class = pts.map_class.value_counts()
    thin = [c for c in sorted(strata.counts) if per_class.get(c, 0) < 2]
    if thin:   # labelling still under way: nothing to estimate yet (an estimate needs 2 points per stratum)
        log(f"{len(pts)} points have a reference class, but map class(es) {thin} have fewer than 2: label more of "
            "their points (notebook 08's point labeller, or points.gpkg in QGIS), then estimate again")
        return {"points": pts, "estimates": None, "matrix": None, "files": files, "dropped": dropped}
    est, matrix = estimate(pts.map_class, pts.reference_class, strata.counts, strata, scheme)
    out.mkdir(parents=True, exist_ok=True)
    files["estimates"] = write_text(out / "estimates.csv", est.to_csv(index=False))
    files["matrix"] = write_text(out / "error_matrix.csv", matrix.to_csv())
    return {"points": pts, "estimates": est, "matrix": matrix, "files": files, "dropped": dropped}
