"""Class maps as GeoTIFF-friendly rasters: single-band uint8 with the scheme's colour table,
keeping the georeferencing of the input image (GeoTIFF tags, or a world file beside it)."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from .classes import ClassScheme

__all__ = ["GEOTIFF_TAGS", "read_georeferencing", "save_class_raster", "WORLD_FILE_SUFFIXES"]

# ModelPixelScale, ModelTiepoint, ModelTransformation, GeoKeyDirectory, GeoDoubleParams, GeoAsciiParams
GEOTIFF_TAGS = (33550, 33922, 34264, 34735, 34736, 34737)
WORLD_FILE_SUFFIXES = {".jpg": (".jgw", ".jpgw"), ".jpeg": (".jgw", ".jpegw"), ".png": (".pgw", ".pngw"),
                       ".tif": (".tfw", ".tifw"), ".tiff": (".tfw", ".tiffw")}


def read_georeferencing(image_path) -> dict:
    """``{"tags": [extratags...], "world_file": Path or None, "prj": Path or None}`` of an image."""
    image_path = Path(image_path)
    geo = {"tags": [], "world_file": None, "prj": None}
    if image_path.suffix.lower() in (".tif", ".tiff"):
        import tifffile

        with tifffile.TiffFile(image_path) as tf:
            tags = tf.pages[0].tags
            for code in GEOTIFF_TAGS:
                t = tags.get(code)
                if t is not None:
                    value = t.value
                    if isinstance(value, (tuple, list, np.ndarray)):
                        count = len(value)
                    elif isinstance(value, (str, bytes)):
                        count = len(value) + 1 if isinstance(value, str) else len(value)
                    else:
                        count = 1
                    geo["tags"].append((code, int(t.dtype), count, value, True))
    for suf in WORLD_FILE_SUFFIXES.get(image_path.suffix.lower(), ()) + (".wld",):
        for cand in (image_path.with_suffix(suf), image_path.with_suffix(suf.upper())):
            if cand.exists():
                geo["world_file"] = cand
                break
        if geo["world_file"]:
            break
    prj = image_path.with_suffix(".prj")
    if prj.exists():
        geo["prj"] = prj
    return geo


def save_class_raster(path, class_map: np.ndarray, scheme: ClassScheme, georef_from=None) -> Path:
    """Write ``(H, W)`` codes as a single-band uint8 TIFF with the scheme's colour table.

    ``georef_from``: the input image's path; its GeoTIFF tags are copied, and a world file
    (``.jgw``, ``.tfw``, ...) or ``.prj`` beside it is copied as ``<path>.tfw`` / ``.prj``
    (the class map has the image's pixel grid, so the same transform applies).
    """
    import tifffile

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    cmap = np.zeros((3, 256), np.uint16)
    cmap[:] = (scheme.lut().T.astype(np.uint16) * 257)
    geo = read_georeferencing(georef_from) if georef_from else {"tags": [], "world_file": None, "prj": None}
    tmp = path.with_name(".tmp_" + path.name)
    tifffile.imwrite(tmp, np.ascontiguousarray(class_map, np.uint8), photometric="palette", colormap=cmap,
                     compression="zlib", extratags=geo["tags"])
    tmp.replace(path)
    if geo["world_file"]:
        shutil.copyfile(geo["world_file"], path.with_suffix(".tfw"))
    if geo["prj"]:
        shutil.copyfile(geo["prj"], path.with_suffix(".prj"))
    return path
