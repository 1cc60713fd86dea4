"""GIS-ready class maps: what sscnb writes from an image or a survey.

One band of uint8 class codes as a Cloud-Optimized GeoTIFF (:class:`ClassMapWriter`: 512 px tiles,
DEFLATE, internal overviews resampled by mode), with the input's CRS and transform unchanged,
nodata 0, the scheme's colour table, the class names as GDAL category names (in the ``.aux.xml``
beside it, which GDAL and QGIS read) and a QGIS style (``.qml``); and the CNN's confidence per
tile as a float COG. Everything is written under a temporary name and renamed when complete.
"""

from __future__ import annotations

import warnings
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import numpy as np
import rasterio.shutil
from rasterio.errors import NotGeoreferencedWarning
from rasterio.transform import Affine
from rasterio.windows import Window

from sscnb.data._classes import ClassScheme
from sscnb.data._geo import SurveyError, SurveyRaster, georeferencing_of, open_raster
from sscnb.provenance import atomic_path, tmp_name, write_text

__all__ = [
    "ClassMapWriter",
    "write_class_map",
    "write_tile_confidence",
    "write_qml",
    "write_category_names",
    "read_category_names",
    "COG_BLOCK",
    "COG_THREADS",
]

COG_BLOCK = 512
#: at most this many threads make a COG's overviews and compress it. GDAL's overviews take memory
#: per thread: finishing the 12 000 x 12 000 px mosaic's class map took 126-129 MiB above the
#: process's own with 1, 2 or 4 threads, 174-180 with 8 and 255-283 with 16
#: (``benchmarks/cog_benchmark.py``; 2.77, 1.70-1.78 and 1.81-1.85 s with 1, 2 and 4 threads on 2
#: cores), and a 16-core machine's peak came from its COG. Capped, memory does not grow with the
#: core count.
COG_THREADS = 4


def write_class_map(
    path: str | Path, class_map: np.ndarray, scheme: ClassScheme, georef_from: str | Path | SurveyRaster | None = None
) -> Path:
    """Write a class map held in memory as a COG (see :class:`ClassMapWriter`).

    Parameters
    ----------
    path : str or Path
        The ``.tif`` to write (``.aux.xml`` and ``.qml`` go beside it).
    class_map : (H, W) ndarray of uint8
        Class codes, 0 = unclassified / no data.
    scheme : ClassScheme
        Names and colours.
    georef_from : str, Path or SurveyRaster, optional
        The image the map was made from (or its header, already read): its CRS and transform are
        copied (GeoTIFF, or world file and ``.prj``). None writes pixel coordinates.

    Returns
    -------
    Path

    Raises
    ------
    SurveyError
        When the map and the image differ in size.
    """
    class_map = np.asarray(class_map, np.uint8)
    H, W = class_map.shape
    if georef_from is not None:
        raster = georef_from if isinstance(georef_from, SurveyRaster) else georeferencing_of(georef_from)
        if raster.shape != (H, W):
            raise SurveyError(
                f"the class map is {W} x {H} px but {raster.path.name} is "
                f"{raster.width} x {raster.height} px: a map must have its image's size"
            )
    else:
        raster = SurveyRaster(Path(path), W, H, 1, None, Affine.identity(), False, None, "none")
    with ClassMapWriter(path, raster, scheme) as w:
        w.write(Window(0, 0, W, H), class_map)
    return Path(path)


def write_tile_confidence(path: str | Path, raster: SurveyRaster, confidence: np.ndarray, tile: int) -> Path:
    """Write the CNN's top-class probability per tile as a georeferenced raster, one pixel per tile.

    Parameters
    ----------
    path : str or Path
    info : SurveyRaster
        The image the tiles were cut from (its CRS; its transform scaled by ``tile``).
    confidence : (n_rows, n_cols) ndarray of float
        -1 for tiles that were not classified (they touch no data).
    tile : int, px

    Returns
    -------
    Path
        A COG of float32, nodata -1, overviews averaged.
    """
    conf = np.asarray(confidence, np.float32)
    with ClassMapWriter(
        path, raster, None, transform=raster.transform @ Affine.scale(tile), shape=conf.shape, dtype="float32", categorical=False
    ) as w:
        w.write(Window(0, 0, conf.shape[1], conf.shape[0]), conf)
    return Path(path)


def write_qml(path: str | Path, scheme: ClassScheme) -> Path:
    """Write a QGIS style (paletted renderer) with the scheme's names and colours.

    Parameters
    ----------
    path : str or Path
        The ``.qml`` file; QGIS applies ``<map>.qml`` to ``<map>.tif`` by itself.
    scheme : ClassScheme

    Returns
    -------
    Path
    """
    entries = "\n".join(
        f'        <paletteEntry value="{c}" label="{escape(scheme.name(c))}" color="{scheme.colour(c)}" alpha="255"/>'
        for c in scheme.labelled_codes
    )
    text = f"""<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>
<qgis version="3.28.0" styleCategories="AllStyleCategories">
  <pipe>
    <rasterrenderer type="paletted" band="1" opacity="1" alphaBand="-1" nodataColor="">
      <rasterTransparency/>
      <colorPalette>
{entries}
      </colorPalette>
      <colorramp type="randomcolors" name="[source]"/>
    </rasterrenderer>
    <brightnesscontrast brightness="0" contrast="0" gamma="1"/>
    <huesaturation saturation="0" colorizeOn="0" grayscaleMode="0"/>
    <rasterresampler maxOversampling="2"/>
  </pipe>
  <blendMode>0</blendMode>
</qgis>
"""
    return write_text(path, text)


def write_category_names(raster_path: str | Path, scheme: ClassScheme) -> Path:
    """Write GDAL category names for band 1 of a raster.

    Parameters
    ----------
    raster_path : str or Path
    scheme : ClassScheme

    Returns
    -------
    Path
        ``<raster>.aux.xml`` (GDAL's PAM file), one name per code 0..max code.
    """
    codes = scheme.codes
    names = [scheme.name(c) if c in codes else "" for c in range(max(codes) + 1)]
    cats = "\n".join(f"      <Category>{escape(n)}</Category>" for n in names)
    text = f"""<PAMDataset>
  <PAMRasterBand band="1">
    <CategoryNames>
{cats}
    </CategoryNames>
  </PAMRasterBand>
</PAMDataset>
"""
    return write_text(Path(str(raster_path) + ".aux.xml"), text)


def read_category_names(raster_path: str | Path) -> list[str]:
    """Read the category names GDAL stores for band 1 in ``<raster>.aux.xml``.

    Parameters
    ----------
    raster_path : str or Path

    Returns
    -------
    list of str
        Empty when there are none.
    """
    aux = Path(str(raster_path) + ".aux.xml")
    if not aux.exists():
        return []
    root = ET.parse(aux).getroot()
    return [c.text or "" for c in root.iter("Category")]


def _colormap(scheme: ClassScheme) -> dict:
    lut = scheme.lut()
    cmap: dict[int, tuple[int, ...]] = {i: (0, 0, 0, 0) for i in range(256)}
    for c in scheme.labelled_codes:
        cmap[int(c)] = tuple(int(v) for v in lut[c][:3]) + (255,)
    return cmap


class ClassMapWriter:
    """Write a class map window by window, then finish it as a COG.

    ::

        with ClassMapWriter(path, info, scheme) as w:
            w.write(window, block)          # (h, w) uint8 codes
        # on success: path (COG), path.aux.xml (category names), path.with_suffix(".qml")

    ``transform`` / ``shape`` default to the input's; a coarser grid (e.g. one pixel per CNN
    tile) passes its own. ``dtype`` float32 with ``categorical=False`` writes a continuous
    raster (e.g. CNN confidence) with nodata -1, averaged overviews and no colour table. On an
    exception nothing remains under the final names.
    """

    def __init__(
        self,
        path,
        raster: SurveyRaster,
        scheme: ClassScheme | None,
        *,
        transform=None,
        shape=None,
        dtype: str = "uint8",
        categorical: bool = True,
    ):
        self.path = Path(path)
        self.raster = raster
        self.scheme = scheme
        self.transform = transform if transform is not None else raster.transform
        self.shape = shape or raster.shape
        self.dtype = dtype
        self.categorical = categorical
        self._tmp = tmp_name(self.path.with_name(f"build_{self.path.name}"))
        self._ds: Any = None  # the open dataset between __enter__ and __exit__

    def __enter__(self):
        h, w = self.shape
        profile = dict(
            driver="GTiff",
            width=w,
            height=h,
            count=1,
            dtype=self.dtype,
            nodata=0 if self.categorical else -1.0,
            compress="deflate",
            tiled=True,
            blockxsize=COG_BLOCK,
            blockysize=COG_BLOCK,
            BIGTIFF="IF_SAFER",
        )
        if self.raster.georeferenced:
            profile.update(crs=self.raster.crs, transform=self.transform)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._ds = open_raster(self._tmp, "w", **profile)  # a plain image's map has no georeferencing
        if self.categorical and self.scheme is not None:
            self._ds.write_colormap(1, _colormap(self.scheme))
        return self

    def write(self, window, block: np.ndarray):
        """Write one block of the band at ``window``."""
        self._ds.write(np.asarray(block, self.dtype), 1, window=window)

    def __exit__(self, exc_type, exc, tb):
        ds, self._ds = self._ds, None
        ds.close()
        try:
            if exc_type is None:
                self._finish()
        finally:
            self._tmp.unlink(missing_ok=True)
            Path(str(self._tmp) + ".aux.xml").unlink(missing_ok=True)
        return False

    def _finish(self):
        from sscnb.phase2._features import feature_threads

        with atomic_path(self.path) as tmp_cog:
            with warnings.catch_warnings():  # a plain image's map has no georeferencing, on purpose
                warnings.simplefilter("ignore", NotGeoreferencedWarning)
                rasterio.shutil.copy(
                    self._tmp,
                    tmp_cog,
                    driver="COG",
                    COMPRESS="DEFLATE",
                    BLOCKSIZE=COG_BLOCK,
                    OVERVIEWS="AUTO",
                    OVERVIEW_RESAMPLING="MODE" if self.categorical else "AVERAGE",
                    BIGTIFF="IF_SAFER",
                    # the cores sscnb is given (--threads, a Dask worker's share), up to COG_THREADS
                    NUM_THREADS=str(min(feature_threads(), COG_THREADS)),
                )
            Path(str(tmp_cog) + ".aux.xml").unlink(missing_ok=True)
        if self.categorical and self.scheme is not None:
            write_category_names(self.path, self.scheme)
            write_qml(self.path.with_suffix(".qml"), self.scheme)
