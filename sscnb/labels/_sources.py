"""Tile labels from the other sources of :mod:`sscnb.labels`.

Label rasters and polygons drawn in QGIS (by the purity rule of the training tiles), any of the three read by
:func:`load_labels`, the labelled tiles cut out for fine-tuning (:func:`tile_set`) and the labelled tiles as
squares for QGIS.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import fiona
import numpy as np
import pandas as pd
from rasterio.crs import CRS
from rasterio.features import rasterize
from rasterio.transform import Affine
from tqdm.auto import tqdm

from sscnb.cnn._tilesets import TileSet
from sscnb.data import _tiles as _tiles
from sscnb.data._classes import ClassScheme
from sscnb.data._geo import georeferencing_of
from sscnb.data._pairs import _label_keys, parse_image_name, read_image, read_label
from sscnb.labels._csv import MIXED, SKIP, LabelError, read_tile_labels
from sscnb.phase2._choose import PixelLabels
from sscnb.provenance import atomic_path

if TYPE_CHECKING:
    from typing import Any

    from sscnb.cnn._files import LoadedModel

__all__ = [
    "POLYGON_EXTENSIONS",
    "labels_from_raster",
    "rasterize_polygons",
    "load_labels",
    "pixel_labels",
    "labels_for_images",
    "tile_set",
    "write_tile_squares",
]

POLYGON_EXTENSIONS = (".gpkg", ".shp", ".geojson", ".json")


def labels_from_raster(
    label: np.ndarray, image: str, tile_size: int, scheme: ClassScheme, purity: float = 0.9, mixed: bool = False
) -> pd.DataFrame:
    """Tile labels from a class raster by the purity rule of the training tiles.

    Parameters
    ----------
    label : (H, W) ndarray of int
    image : str
        The image name written in the table.
    tile_size : int, px
    scheme : ClassScheme
    purity : float
    mixed : bool
        Also list the tiles that are not pure, as :data:`MIXED`, when they hold labelled pixels.

    Returns
    -------
    pandas.DataFrame
        :data:`COLUMNS`, row-major.
    """
    grid = _tiles.grid_shape(label.shape, tile_size)
    codes = _tiles.purity_labels(label, tile_size, scheme.labelled_codes, purity)
    keep = codes > 0
    if mixed:
        any_lab = _tiles.to_tiles(np.asarray(label) > 0, tile_size).reshape(len(codes), -1).any(axis=1)
        keep = keep | any_lab
    idx = np.flatnonzero(keep)
    return pd.DataFrame(
        {"image": image, "tile_row": idx // grid[1], "tile_col": idx % grid[1], "class_code": codes[idx].astype(np.int64)}
    )


def _read_polygons(path: Path, image_path: Path, class_field: str):
    """Return a polygon file's CRS and its ``(geometry, class value)`` pairs; refuse an empty or unreadable file."""
    try:
        with fiona.open(path) as src:
            crs = src.crs
            props = src.schema.get("properties", {})
            if class_field not in props:
                raise LabelError(
                    f"{path.name} has no field {class_field!r} (its fields: {sorted(props)}): give the "
                    "field that holds the class codes (class_field), or add one in QGIS"
                )
            feats = [(f["geometry"], f["properties"][class_field]) for f in src if f["geometry"] is not None]
    except LabelError:
        raise
    except Exception as exc:  # noqa: BLE001 - fiona/GDAL raise several types for an unreadable file
        raise LabelError(
            f"cannot read polygons from {path} ({type(exc).__name__}: {exc}): give a GeoPackage, shapefile or GeoJSON"
        ) from None
    if not feats:
        raise LabelError(f"{path.name} holds no polygon: draw training areas over {image_path.name} first")
    return crs, feats


def _polygon_transform(path: Path, image_path: Path, raster, crs, bounds: np.ndarray):
    """Return the transform from the polygons' coordinates to the image's pixels (its CRS checked)."""
    if raster.georeferenced and raster.crs is not None:
        if not crs:
            raise LabelError(
                f"{path.name} has no CRS but {image_path.name} is in {raster.crs.to_string()}: set the "
                "layer's CRS in QGIS (Layer > Set CRS) to the image's, and save it again"
            )
        if CRS.from_user_input(crs) != raster.crs:
            raise LabelError(
                f"{path.name} is in {CRS.from_user_input(crs).to_string()} but {image_path.name} is in "
                f"{raster.crs.to_string()}: reproject the polygons to the image's CRS (QGIS: Export > Save Features "
                "As, with the image's CRS) and try again"
            )
        return raster.transform
    if crs:
        warnings.warn(
            f"{image_path.name} is not georeferenced, so the CRS of {path.name} is not used: its "
            "coordinates are read as pixel units",
            UserWarning,
            stacklevel=3,
        )
    # QGIS shows a plain image with y = -row; a polygon file made in pixel rows has y >= 0
    return Affine(1, 0, 0, 0, -1, 0) if bounds[:, 3].max() <= 0 else Affine.identity()


def rasterize_polygons(
    path: str | Path, image_path: str | Path, scheme: ClassScheme, class_field: str = "class_code"
) -> np.ndarray:
    """Burn polygons drawn over an image into a class raster of that image's grid.

    Parameters
    ----------
    path : str or Path
        GeoPackage, shapefile or GeoJSON of polygons with an integer class field.
    image_path : str or Path
        The image they were drawn over. A georeferenced image: the polygons must be in its CRS. A
        plain image: the polygons are in pixel units, either as QGIS shows a plain image (x = column,
        y = -row, the image below the x axis) or with y = row (image above it); which one is read from
        where the polygons lie.
    scheme : ClassScheme
    class_field : str
        The attribute holding the class code.

    Returns
    -------
    (H, W) ndarray of uint8
        Class codes, 0 where no polygon lies. Where polygons overlap, the later one wins.

    Raises
    ------
    LabelError
        No such field, a class not in the scheme, a CRS unlike the image's, polygons outside the
        image: naming the file and the fix.
    """
    path = Path(path)
    image_path = Path(image_path)
    raster = georeferencing_of(image_path)
    H, W = raster.height, raster.width
    crs, feats = _read_polygons(path, image_path, class_field)
    allowed = set(scheme.labelled_codes)
    for i, (_, code) in enumerate(feats):
        if code is None or int(code) != code or int(code) not in allowed:
            raise LabelError(
                f"{path.name}: polygon {i + 1} has {class_field} = {code!r}, not a class of the scheme "
                f"{sorted(allowed)}: fix its attribute in QGIS"
            )
    shapes = [(g if isinstance(g, dict) else g.__geo_interface__, int(c)) for g, c in feats]
    bounds = np.array([_geom_bounds(g) for g, _ in shapes])
    transform = _polygon_transform(path, image_path, raster, crs, bounds)
    inv = ~transform
    cols_rows = []
    for x0, y0, x1, y1 in bounds:
        cs, rs = zip(*[inv @ (x, y) for x, y in ((x0, y0), (x1, y1), (x0, y1), (x1, y0))], strict=True)
        cols_rows.append((min(cs), min(rs), max(cs), max(rs)))
    cr = np.array(cols_rows)
    outside = (cr[:, 2] <= 0) | (cr[:, 0] >= W) | (cr[:, 3] <= 0) | (cr[:, 1] >= H)
    if outside.any():
        where = ", ".join(str(i + 1) for i in np.flatnonzero(outside)[:5])
        raise LabelError(
            f"{path.name}: {int(outside.sum())} of {len(shapes)} polygons lie outside {image_path.name} "
            f"({W} x {H} px; polygons {where}{' ...' if outside.sum() > 5 else ''}): they were drawn over another "
            "image or in another CRS. Draw them over this image, or give the image they belong to"
        )
    return rasterize(shapes, out_shape=(H, W), transform=transform, fill=0, dtype="uint8")


def _geom_bounds(geom: dict):
    pts = np.array(list(_coords(geom["coordinates"])), float)
    return pts[:, 0].min(), pts[:, 1].min(), pts[:, 0].max(), pts[:, 1].max()


def _coords(c):
    if len(c) and isinstance(c[0], (int, float)):
        yield c[:2]
    else:
        for item in c:
            yield from _coords(item)


def _burnt_polygons(source: Path, images: dict, scheme: ClassScheme, class_field: str) -> tuple[dict, list]:
    """Return the polygons burnt onto each image they overlap, ``{name: raster}``, and the messages of those they miss."""
    if not source.exists():
        raise LabelError(f"polygon file {source} does not exist")
    burnt, errors = {}, []
    for name, p in images.items():
        try:
            burnt[name] = rasterize_polygons(source, p, scheme, class_field)
        except LabelError as exc:
            if "lie outside" not in str(exc):
                raise
            errors.append(str(exc))
    return burnt, errors


def _label_rasters(source: Path, images: dict, scheme: ClassScheme) -> dict:
    """Return the ``SCLS_`` label raster of each given image found in folder ``source``, checked against its image's size."""
    by_key = {p.stem.lower(): p for p in source.iterdir() if p.name.upper().startswith("SCLS_")}
    found = {}
    for name, p in images.items():
        parsed = parse_image_name(p)
        keys = _label_keys(*parsed) if parsed else (f"scls_{name.lower()}",)
        lp = next((by_key[k] for k in keys if k in by_key), None)
        if lp is None:
            continue
        lab = read_label(lp, scheme)
        raster = georeferencing_of(p)
        if lab.shape != (raster.height, raster.width):
            raise LabelError(
                f"{lp.name} is {lab.shape[1]} x {lab.shape[0]} px but {p.name} is {raster.width} x "
                f"{raster.height} px: labels must match their image"
            )
        found[name] = lab
    if not found:
        raise LabelError(
            f"{source} holds no SCLS_ label raster of the given images ({sorted(images)[:5]}): name them SCLS_<image>.tif"
        )
    return found


def load_labels(
    source: Any, images: Any, scheme: ClassScheme, tile_size: int, purity: float = 0.9, class_field: str = "class_code"
) -> pd.DataFrame:
    """Tile labels from a labels CSV, a polygon file, or a folder of ``SCLS_`` rasters.

    Parameters
    ----------
    source : str or Path
        ``.csv`` (the labeller's file); ``.gpkg``/``.shp``/``.geojson`` (polygons; they are burnt onto
        every given image they overlap, and must overlap one); or a folder holding label rasters
        ``SCLS_<image>.tif`` of the given images.
    images : dict of str to Path
        :func:`image_index` of the images of the new river.
    scheme : ClassScheme
    tile_size : int, px
    purity : float
        Of the tiles made from polygons and rasters.
    class_field : str
        Of polygons.

    Returns
    -------
    pandas.DataFrame
        :data:`COLUMNS`.

    Raises
    ------
    LabelError
    """
    source = Path(source)
    if not images:
        raise LabelError("no image of the new river was given: give the images the labels belong to")
    if source.suffix.lower() == ".csv":
        return read_tile_labels(source, scheme, tile_size, images)
    if source.suffix.lower() in POLYGON_EXTENSIONS:
        burnt, errors = _burnt_polygons(source, images, scheme, class_field)
        parts = [labels_from_raster(lab, name, tile_size, scheme, purity) for name, lab in burnt.items()]
        if not parts:
            raise LabelError(
                errors[0]
                if len(errors) == 1
                else f"the polygons of {source.name} lie outside every given image: " + "; ".join(errors)
            )
        return pd.concat(parts, ignore_index=True)
    if source.is_dir():
        rasters = _label_rasters(source, images, scheme)
        return pd.concat(
            [labels_from_raster(lab, name, tile_size, scheme, purity) for name, lab in rasters.items()], ignore_index=True
        )
    raise LabelError(
        f"{source} is not a labels CSV (.csv), a polygon file ({', '.join(POLYGON_EXTENSIONS)}) or a folder of SCLS_ rasters"
    )


def pixel_labels(
    source: Any,
    images: Any,
    scheme: ClassScheme,
    tile_size: int,
    class_field: str = "class_code",
    learnt_images: Any = (),
) -> dict[str, PixelLabels]:
    """Return the user's labelled pixels of each image, for phase 2 to learn from (:func:`sscnb.phase2.choose_phase2`).

    Unlike :func:`load_labels` (tiles for fine-tuning, by the purity rule), every labelled pixel
    counts: each pixel of a labelled tile (the labeller's CSV), each pixel inside a polygon, each
    labelled pixel of an ``SCLS_`` raster.

    Parameters
    ----------
    source : str or Path
        As :func:`load_labels`.
    images : dict of str to Path
        :func:`image_index` of the images being mapped.
    scheme : ClassScheme
    tile_size : int, px
        The model's (a CSV's tiles are at that size).
    class_field : str
        Of polygons.
    learnt_images : collection of str
        Images whose labels the CNN was fine-tuned on (a model card's ``lineage.images_added``): their
        labels are marked ``learnt``.

    Returns
    -------
    dict of str to PixelLabels
        Only the images that hold labels.

    Raises
    ------
    LabelError
        As :func:`load_labels`; also when no given image holds a label.
    """
    source = Path(source)
    learnt = set(map(str, learnt_images))
    out: dict[str, PixelLabels] = {}
    if source.suffix.lower() == ".csv":
        table = load_labels(source, images, scheme, tile_size)
        t = table[table.class_code > 0]
        for name, rows in t.groupby("image", sort=True):
            raster = georeferencing_of(images[name])
            grid = np.zeros(_tiles.grid_shape((raster.height, raster.width), tile_size), np.int64)
            grid[rows.tile_row.to_numpy(), rows.tile_col.to_numpy()] = rows.class_code.to_numpy()
            out[str(name)] = PixelLabels.from_tile_grid(grid, tile_size, learnt=str(name) in learnt)
    elif source.suffix.lower() in POLYGON_EXTENSIONS:
        burnt, errors = _burnt_polygons(source, images, scheme, class_field)
        out = {name: PixelLabels.from_raster(lab, learnt=name in learnt) for name, lab in burnt.items() if (lab > 0).any()}
        if not out and errors:
            raise LabelError(errors[0] if len(errors) == 1 else f"the polygons of {source.name} lie outside every given image")
    elif source.is_dir():
        out = {
            name: PixelLabels.from_raster(lab, learnt=name in learnt)
            for name, lab in _label_rasters(source, images, scheme).items()
        }
    else:
        load_labels(source, images, scheme, tile_size)  # raises the message for a source of no known kind
    if not out:
        raise LabelError(
            f"{source.name} labels no pixel of the given images ({sorted(images)[:5]}): nothing for phase 2 to learn"
        )
    return out


def labels_for_images(labels: Any, images: dict, cnn: LoadedModel, class_field: str = "class_code", log: Any = print) -> dict:
    """Return the user's labelled pixels by image name, from a labels source or a dict, and say which images have them.

    Parameters
    ----------
    labels : None, str, Path or dict
        A source of :func:`pixel_labels`, or ``{image name: PixelLabels}``; None gives ``{}``.
    images : dict of str to Path
        The images being mapped, by name.
    cnn : sscnb.cnn.LoadedModel
        Its tile size reads a labels CSV; its card's lineage says which images' labels it learnt.
    class_field : str
        Of polygons.
    log : callable
        Gets one line per labelled image.

    Returns
    -------
    dict of str to PixelLabels
    """
    if labels is None:
        return {}
    if isinstance(labels, dict):
        unknown = sorted(set(labels) - set(images))
        if unknown:
            raise LabelError(f"labels given for {unknown[:5]}, which are not among the images: name them by the image's name")
        by_image = dict(labels)
    else:
        learnt = cnn.card.get("lineage", {}).get("images_added", [])
        by_image = pixel_labels(labels, images, cnn.scheme, cnn.tile_size, class_field, learnt)
    for name, lab in sorted(by_image.items()):
        log(f"{name}: {len(lab):,} labelled px: phase 2 learns from them" + (" (the CNN learnt them too)" if lab.learnt else ""))
    return by_image


def tile_set(table: pd.DataFrame, images: dict, tile_size: int, progress: bool = False) -> TileSet:
    """Cut the labelled tiles (not mixed, not skipped) out of their images.

    Parameters
    ----------
    table : pandas.DataFrame
        :data:`COLUMNS`.
    images : dict of str to Path
    tile_size : int, px
    progress : bool

    Returns
    -------
    sscnb.cnn.TileSet
        River names from the image names (``Wildcat_0003`` -> ``Wildcat``); purity 1.0 (a person
        said so).
    """
    t = table[table.class_code > 0]
    xs, ys, rivers, names = [], [], [], []
    T = int(tile_size)
    for name, rows in tqdm(t.groupby("image", sort=True), desc="labelled tiles", disable=not progress):
        img = read_image(images[name])
        parsed = parse_image_name(images[name])
        river = parsed[0] if parsed else name
        for r, c, code in zip(rows.tile_row, rows.tile_col, rows.class_code, strict=True):
            xs.append(img[r * T : (r + 1) * T, c * T : (c + 1) * T])
            ys.append(int(code))
            rivers.append(river)
            names.append(name)
    if not ys:
        return TileSet(np.zeros((0, T, T, 3), np.uint8), np.zeros(0, np.int64), np.zeros(0, object), np.zeros(0, object), T, 1.0)
    return TileSet(np.stack(xs), np.array(ys, np.int64), np.array(rivers, object), np.array(names, object), T, 1.0)


def write_tile_squares(
    path: str | Path, table: pd.DataFrame, image_path: str | Path, tile_size: int, scheme: ClassScheme
) -> Path | None:
    """Return a GeoPackage of the labelled tiles' squares (class code and name) for a georeferenced image.

    Parameters
    ----------
    path : str or Path
        The ``.gpkg`` to write (atomically).
    table : pandas.DataFrame
        Tile labels of this image.
    image_path : str or Path
    tile_size : int, px
    scheme : ClassScheme

    Returns
    -------
    Path or None
        None for a plain image (nothing to place in a GIS).
    """
    raster = georeferencing_of(image_path)
    if not (raster.georeferenced and raster.crs is not None):
        return None
    path = Path(path)
    T = int(tile_size)
    tr = raster.transform
    schema = {
        "geometry": "Polygon",
        "properties": {"image": "str", "tile_row": "int", "tile_col": "int", "class_code": "int", "class_name": "str"},
    }
    names = {int(c): scheme.name(int(c)) for c in scheme.labelled_codes}
    names.update({MIXED: "mixed", SKIP: "skipped"})
    # SPATIAL_INDEX=NO: the SQLite inside fiona's wheels may lack the R*Tree module (as in sscnb.maps)
    with (
        atomic_path(path) as tmp,
        fiona.open(
            tmp, "w", driver="GPKG", crs=raster.crs.to_wkt(), schema=schema, layer="tile_labels", SPATIAL_INDEX="NO"
        ) as dst,
    ):
        for r, c, code in zip(table.tile_row, table.tile_col, table.class_code, strict=True):
            corners = [tr @ (c * T, r * T), tr @ ((c + 1) * T, r * T), tr @ ((c + 1) * T, (r + 1) * T), tr @ (c * T, (r + 1) * T)]
            dst.write(
                {
                    "geometry": {"type": "Polygon", "coordinates": [corners + [corners[0]]]},
                    "properties": {
                        "image": Path(image_path).stem,
                        "tile_row": int(r),
                        "tile_col": int(c),
                        "class_code": int(code),
                        "class_name": names.get(int(code), str(code)),
                    },
                }
            )
    return path
