"""Class maps to polygons: a GeoPackage with class code, name and area, in the map's CRS.

Patches smaller than ``min_area`` (m2 when the CRS is projected, otherwise px) are first merged
into their largest neighbour with GDAL's sieve (``rasterio.features.sieve``), then each connected
patch of one class becomes a polygon (``rasterio.features.shapes``, 4-connected). The map is read
whole (one byte per pixel), so polygons are limited to maps of up to :data:`MAX_VECTOR_MPX`
megapixels; larger surveys get a clear error (use QGIS's polygonize on the COG, which streams).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import fiona
import numpy as np
from rasterio.features import shapes, sieve

from sscnb.data._classes import ClassScheme
from sscnb.data._geo import SurveyError, SurveyRaster, open_raster, pixel_area_m2
from sscnb.provenance import atomic_path

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["polygonize_map", "sieve_size_px", "polygon_area", "ring_area", "MAX_VECTOR_MPX"]

MAX_VECTOR_MPX = 400


def sieve_size_px(min_area: float, raster: SurveyRaster) -> int:
    """Return the smallest patch kept by the sieve.

    Parameters
    ----------
    min_area : float
        m2 when the CRS is projected, px otherwise.
    info : SurveyRaster

    Returns
    -------
    int, px
        ``ceil(min_area / pixel area)``; 0 when ``min_area <= 0``.
    """
    px_area = pixel_area_m2(raster)
    if min_area <= 0:
        return 0
    return int(math.ceil(min_area / px_area)) if px_area else int(math.ceil(min_area))


def ring_area(coords: Sequence) -> float:
    """Area enclosed by a closed ring (shoelace formula).

    Parameters
    ----------
    coords : (n, 2) array_like of float
        ``(x, y)`` points, the last equal to the first.

    Returns
    -------
    float
        In coordinate units squared, >= 0.

    Examples
    --------
    >>> ring_area([(0, 0), (4, 0), (4, 3), (0, 3), (0, 0)])
    12.0
    """
    xy = np.asarray(coords, float)
    xy = xy - xy[0]  # map coordinates are ~1e6 m: centre them, or the products lose the decimals
    x, y = xy[:, 0], xy[:, 1]
    return abs(float(np.dot(x[:-1], y[1:]) - np.dot(x[1:], y[:-1]))) / 2


def polygon_area(geom: dict) -> float:
    """Area of a polygon with holes.

    Parameters
    ----------
    geom : dict
        GeoJSON-like ``{"type": "Polygon", "coordinates": [exterior, hole, ...]}``.

    Returns
    -------
    float
        In coordinate units squared, holes subtracted.

    Examples
    --------
    >>> square = [(0, 0), (10, 0), (10, 10), (0, 10), (0, 0)]
    >>> hole = [(2, 2), (4, 2), (4, 4), (2, 4), (2, 2)]
    >>> polygon_area({"type": "Polygon", "coordinates": [square, hole]})
    96.0
    """
    rings = geom["coordinates"]
    return ring_area(rings[0]) - sum(ring_area(r) for r in rings[1:])


def polygonize_map(map_path: str | Path, out_path: str | Path, scheme: ClassScheme, raster: SurveyRaster, min_area: float) -> int:
    """Write the polygons of a class map to a GeoPackage.

    Parameters
    ----------
    map_path : str or Path
        A one-band class map (see :class:`sscnb.maps.ClassMapWriter`).
    out_path : str or Path
        The ``.gpkg`` to write (layer ``classes``), under a temporary name first.
    scheme : ClassScheme
    info : SurveyRaster
        The input the map was made from (CRS, pixel area).
    min_area : float
        Patches smaller than this (m2 when projected, px otherwise) are merged into their
        largest neighbour first (GDAL's sieve, 4-connected); 0 keeps every patch.

    Returns
    -------
    int
        The number of polygons. Fields: ``code`` (int), ``class`` (name), ``area_m2`` (projected
        CRS) or ``area_px``. No data (code 0) gets no polygon.

    Raises
    ------
    SurveyError
        For maps over :data:`MAX_VECTOR_MPX` megapixels (the map is read whole).
    """
    map_path, out_path = Path(map_path), Path(out_path)
    if raster.pixels > MAX_VECTOR_MPX * 1e6:
        raise SurveyError(
            f"{raster.path.name} is {raster.pixels / 1e6:.0f} Mpx: polygons are made for maps up to "
            f"{MAX_VECTOR_MPX} Mpx. Set vectors=False and polygonize {map_path.name} in QGIS "
            "(Raster > Conversion > Polygonize), which streams the COG"
        )
    with open_raster(map_path) as ds:
        band = ds.read(1)
        transform = ds.transform
    size = sieve_size_px(min_area, raster)
    valid = band > 0
    if size > 1:
        band = sieve(band, size=size, mask=valid, connectivity=4)
        band[~valid] = 0
    px_area = pixel_area_m2(raster)
    area_field = "area_m2" if px_area else "area_px"
    schema = {"geometry": "Polygon", "properties": {"code": "int", "class": "str", area_field: "float"}}
    crs = raster.crs.to_wkt() if raster.crs else None
    n = 0
    # SPATIAL_INDEX=NO: the SQLite inside fiona's wheels lacks the R*Tree module GDAL builds the index
    # with; QGIS builds one on first use when it is missing.
    with (
        atomic_path(out_path) as tmp,
        fiona.open(tmp, "w", driver="GPKG", layer="classes", schema=schema, crs_wkt=crs, SPATIAL_INDEX="NO") as dst,
    ):
        batch = []
        det = abs(transform.a * transform.e - transform.b * transform.d)
        to_area = (px_area / det) if px_area else (1.0 / det)  # map units2 -> m2, or -> px
        for geom, value in shapes(band, mask=band > 0, connectivity=4, transform=transform):
            code = int(value)
            area = polygon_area(geom) * to_area
            batch.append({"geometry": geom, "properties": {"code": code, "class": scheme.name(code), area_field: float(area)}})
            if len(batch) >= 10_000:
                dst.writerecords(batch)
                n += len(batch)
                batch = []
        dst.writerecords(batch)
        n += len(batch)
    return n
