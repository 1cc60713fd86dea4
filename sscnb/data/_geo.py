"""Georeferenced rasters with rasterio (GDAL): survey inputs in, their areas out.

Inputs (:func:`open_survey`): GeoTIFF orthomosaics (RGB or RGBA; no data from the alpha band,
the mask or the nodata value), JPEG/PNG/TIFF frames with a world file (``.jgw``, ``.pgw``,
``.tfw``, ``.wld``) and their CRS in a ``.prj`` or ``.aux.xml``, and plain images without
georeferencing (then everything is in pixel coordinates). Only 8-bit RGB(A) is accepted; every
other input is refused with a message that names the file and the fix.

Every raster is opened through :func:`open_raster`. The class maps written from them (COGs, their
category names and QGIS style) are :mod:`sscnb.maps`.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import rasterio
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.errors import NotGeoreferencedWarning, RasterioIOError
from rasterio.windows import Window

from sscnb.data._classes import ClassScheme
from sscnb.errors import SurveyError

if TYPE_CHECKING:
    from affine import Affine
    from rasterio.io import DatasetReader

__all__ = [
    "SurveyError",
    "SurveyRaster",
    "open_raster",
    "open_survey",
    "read_block",
    "read_preview",
    "georeferencing_of",
    "survey_table",
    "pixel_area_m2",
    "area_table",
    "RASTER_SUFFIXES",
]

logger = logging.getLogger(__name__)

RASTER_SUFFIXES = (".tif", ".tiff", ".jpg", ".jpeg", ".png")
WORLD_FILE_SUFFIXES = {
    ".jpg": (".jgw", ".jpgw"),
    ".jpeg": (".jgw", ".jpegw"),
    ".png": (".pgw", ".pngw"),
    ".tif": (".tfw", ".tifw"),
    ".tiff": (".tfw", ".tiffw"),
}


def _world_file(path: Path) -> Path | None:
    for suf in WORLD_FILE_SUFFIXES.get(path.suffix.lower(), ()) + (".wld",):
        for cand in (path.with_suffix(suf), path.with_suffix(suf.upper())):
            if cand.exists():
                return cand
    return None


@dataclass
class SurveyRaster:
    """What sscnb needs to know about one input raster (read from its header only).

    ``transform``: affine pixel -> map coordinates (``rasterio.Affine``); ``crs``: a
    ``rasterio.crs.CRS`` or None; ``georeferenced``: False for plain images (pixel coordinates);
    ``alpha``: 1-based band index of the alpha band, or None.
    """

    path: Path
    width: int
    height: int
    count: int
    crs: CRS | None
    transform: Affine
    georeferenced: bool
    alpha: int | None
    georef_source: str

    @property
    def shape(self) -> tuple[int, int]:
        """Return ``(height, width)`` in pixels."""
        return self.height, self.width

    @property
    def pixels(self) -> int:
        """Return the number of pixels."""
        return self.width * self.height

    def describe(self) -> str:
        """Return the raster in one line: its name, size, bands, CRS and resolution."""
        size = f"{self.width} x {self.height} px, {self.count} bands"
        if not self.georeferenced:
            return f"{self.path.name}: {size}, not georeferenced (maps are in pixel coordinates)"
        crs = self.crs.to_string() if self.crs else "no CRS"
        res = abs(self.transform.a)
        return f"{self.path.name}: {size}, {crs}, {res:g} units/px (georeferencing from {self.georef_source})"


def open_raster(path: str | Path, mode: str = "r", **kwargs: object) -> DatasetReader:
    """Open a raster with rasterio, quietly when it has no georeferencing.

    A plain JPEG or PNG frame, and the maps sscnb makes of one, are in pixel coordinates on purpose. Only
    rasterio's ``NotGeoreferencedWarning`` is silenced; any other warning is shown.

    Parameters
    ----------
    path : str or Path
    mode : {"r", "w", "r+"}
    **kwargs
        Passed to :func:`rasterio.open` (the profile of a raster to write).

    Returns
    -------
    rasterio.io.DatasetReader or DatasetWriter
        Use it in a ``with`` block.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        return rasterio.open(path, mode, **kwargs)


def open_survey(path: str | Path) -> SurveyRaster:
    """Read and check the header of one survey input (and its last pixel, to catch a file cut short).

    Parameters
    ----------
    path : str or Path
        A GeoTIFF, or a JPEG/PNG/TIFF with or without a world file.

    Returns
    -------
    SurveyRaster

    Raises
    ------
    SurveyError
        Naming the file and the fix, when: it does not open; it has not 3 (RGB) or 4 (RGBA) bands;
        it is not 8-bit; it has a transform (e.g. a world file) but no CRS (from the GeoTIFF, the
        ``.aux.xml`` or a ``.prj`` beside it); its last pixel cannot be read (a file cut short),
        with GDAL's reason.
    """
    path = Path(path)
    if not path.exists():
        raise SurveyError(f"{path} does not exist")
    try:
        ds = open_raster(path)
    except RasterioIOError as exc:
        raise SurveyError(f"{path} cannot be read as a raster ({exc}): give a GeoTIFF, JPEG or PNG") from None
    with ds:
        count, dtypes = ds.count, ds.dtypes
        if count in (1, 2):
            raise SurveyError(
                f"{path.name} has {count} band{'s' if count > 1 else ''}: sscnb maps RGB imagery (3 bands, or 4 with "
                "alpha). A single-band raster is often a DEM or a label map; for a greyscale image, "
                "export RGB from your photogrammetry software"
            )
        if count > 4:
            raise SurveyError(
                f"{path.name} has {count} bands: sscnb maps RGB or RGBA; write the red, green and "
                "blue bands (and alpha) to a new file, e.g. gdal_translate -b 1 -b 2 -b 3 ..."
            )
        if any(d != "uint8" for d in dtypes):
            raise SurveyError(
                f"{path.name} is {dtypes[0]} ({np.dtype(dtypes[0]).itemsize * 8}-bit): the CNN and the phase-2 "
                "features expect 8-bit RGB. Export an 8-bit orthomosaic, or rescale it, e.g. "
                f"gdal_translate -ot Byte -scale {path.name} {path.stem}_8bit.tif"
            )
        alpha = 4 if count == 4 else None
        crs, transform = ds.crs, ds.transform
        identity = transform.is_identity
        world = _world_file(path)
        source = "GeoTIFF" if ds.driver == "GTiff" else ds.driver
        if world is not None and (ds.driver != "GTiff" or crs is None):
            source = world.name
        if crs is None and not identity:
            prj = path.with_suffix(".prj")
            if prj.exists():
                try:
                    crs = CRS.from_wkt(prj.read_text())
                except Exception as exc:  # rasterio raises CRSError with GDAL's reason
                    raise SurveyError(
                        f"{prj} does not hold a CRS GDAL can read ({exc}): write the CRS as WKT, e.g. from epsg.io"
                    ) from None
                source += f" + {prj.name}"
            else:
                what = world.name if world else "its georeferencing"
                raise SurveyError(
                    f"{path.name} has a transform ({what}) but no CRS, so its map could not be placed in a GIS: "
                    f"put the CRS beside it as {prj.name} (the WKT of e.g. EPSG:32618, from epsg.io or your "
                    "photogrammetry software), or use a GeoTIFF that carries it"
                )
        elif crs is not None and world is None and ds.driver != "GTiff":
            source = f"{path.name}.aux.xml"

        try:  # its last pixel: a file cut short (the commonest damage) fails here, before any computing
            ds.read(window=Window(ds.width - 1, ds.height - 1, 1, 1))
        except RasterioIOError as exc:
            raise SurveyError(_damaged(path, exc, "its last pixel")) from None
        return SurveyRaster(path, ds.width, ds.height, count, crs, transform, not identity or crs is not None, alpha, source)


def read_block(ds: DatasetReader, raster: SurveyRaster, window: Window) -> tuple[np.ndarray, np.ndarray]:
    """Read one window of an open dataset.

    Parameters
    ----------
    ds : rasterio.DatasetReader
        The input, open.
    info : SurveyRaster
        Its header, from :func:`open_survey`.
    window : rasterio.windows.Window

    Returns
    -------
    rgb : (h, w, 3) ndarray of uint8
    valid : (h, w) ndarray of bool
        False where the input has no data: alpha 0 (RGBA), or GDAL's mask (nodata value, internal
        or external mask).
    """
    try:
        rgb = np.moveaxis(ds.read((1, 2, 3), window=window), 0, -1)
        valid = ds.read(raster.alpha, window=window) > 0 if raster.alpha else ds.dataset_mask(window=window) > 0
    except RasterioIOError as exc:
        raise SurveyError(
            _damaged(raster.path, exc, f"rows {int(window.row_off)}-{int(window.row_off + window.height)}")
        ) from None
    return np.ascontiguousarray(rgb), valid


def _damaged(path, exc, where: str) -> str:
    """Return the message for a raster whose pixels cannot be read: GDAL's own reason, and the fix."""
    reason = str(exc.__cause__ or exc.__context__ or exc).rstrip(".")
    return (
        f"{Path(path).name} cannot be read at {where}: {reason}. The file is cut short or damaged (an "
        "interrupted copy or export?): copy or export it again (gdalinfo -checksum finds damaged blocks)"
    )


def georeferencing_of(path: str | Path) -> SurveyRaster:
    """Return the georeferencing of an image, leniently (for class maps of images evaluated by notebook 03).

    Like :func:`open_survey`, but a transform without a CRS is kept (with a warning) instead of
    refused, and any band count or type is accepted.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    SurveyRaster
    """
    try:
        return open_survey(path)
    except SurveyError as exc:
        with open_raster(path) as ds:
            georef = not ds.transform.is_identity or ds.crs is not None
            raster = SurveyRaster(Path(path), ds.width, ds.height, ds.count, ds.crs, ds.transform, georef, None, ds.driver)
        if georef and raster.crs is None:
            logger.warning("%s", exc)
        return raster


def read_preview(path: str | Path, max_px: int = 1200) -> np.ndarray:
    """Return a decimated picture of a raster, read from its overviews when it has them (the full raster is never held in memory).

    Parameters
    ----------
    path : str or Path
    max_px : int, px
        Longest side of the picture.

    Returns
    -------
    (h, w, 3) ndarray of uint8, or (h, w) ndarray
        RGB for RGB(A) inputs (no data shown white); the codes of a one-band class map (nearest
        neighbour, so codes stay codes).
    """
    with open_raster(path) as ds:
        f = max(1.0, max(ds.width, ds.height) / max_px)
        shape = (max(1, round(ds.height / f)), max(1, round(ds.width / f)))
        if ds.count == 1:
            return ds.read(1, out_shape=shape, resampling=Resampling.nearest)
        rgb = np.moveaxis(ds.read((1, 2, 3), out_shape=(3,) + shape, resampling=Resampling.nearest), 0, -1)
        if ds.count == 4:
            valid = ds.read(4, out_shape=shape, resampling=Resampling.nearest) > 0
        else:
            valid = ds.dataset_mask(out_shape=shape, resampling=Resampling.nearest) > 0
        return np.where(valid[..., None], rgb, 255).astype(np.uint8)


def survey_table(surveys: list[SurveyRaster]) -> pd.DataFrame:
    """One row per input: size, bands, CRS, pixel size and where the georeferencing came from.

    Parameters
    ----------
    surveys : list of SurveyRaster

    Returns
    -------
    pandas.DataFrame
    """
    return pd.DataFrame(
        [
            {
                "input": s.path.name,
                "width": s.width,
                "height": s.height,
                "bands": s.count,
                "CRS": s.crs.to_string() if s.crs else "none (pixel coordinates)",
                "pixel size": abs(s.transform.a) if s.georeferenced else None,
                "georeferencing": s.georef_source if s.georeferenced else "none",
            }
            for s in surveys
        ]
    )


def pixel_area_m2(raster: SurveyRaster) -> float | None:
    """Ground area of one pixel.

    Parameters
    ----------
    info : SurveyRaster

    Returns
    -------
    float or None
        m2 (the CRS's linear unit converted to metres; rotation terms included), or None when
        the CRS is not projected or there is none.
    """
    if raster.crs is None or not raster.crs.is_projected:
        return None
    t = raster.transform
    try:
        _, to_metre = raster.crs.linear_units_factor
    except Exception:  # unknown units
        return None
    return abs(t.a * t.e - t.b * t.d) * float(to_metre) ** 2


def area_table(counts: dict, scheme: ClassScheme, raster: SurveyRaster) -> pd.DataFrame:
    """Area per class of a map.

    Parameters
    ----------
    counts : dict of int to int
        ``{code: pixels}`` over the map; code 0 (no data / unclassified) is left out.
    scheme : ClassScheme
    info : SurveyRaster
        The input, for the pixel area.

    Returns
    -------
    pandas.DataFrame
        One row per class of the scheme: ``code, class, pixels, percent`` (of the classified
        pixels) and, when the CRS is projected, ``area_m2, area_ha``.
    """
    px_area = pixel_area_m2(raster)
    total = sum(v for c, v in counts.items() if c != 0)
    rows = []
    for c in scheme.labelled_codes:
        n = int(counts.get(c, 0))
        row = {"code": int(c), "class": scheme.name(c), "pixels": n, "percent": 100.0 * n / total if total else float("nan")}
        if px_area is not None:
            row["area_m2"] = n * px_area
            row["area_ha"] = n * px_area / 1e4
        rows.append(row)
    return pd.DataFrame(rows)
