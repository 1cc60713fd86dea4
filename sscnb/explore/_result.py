"""The arrays of one classified image, the layers drawn from them, and where they come from.

Classified here, read from notebook 03's results, or from notebook 05's maps.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from sscnb.data._classes import ClassScheme
from sscnb.data._geo import open_raster, read_preview
from sscnb.data._pairs import read_pair
from sscnb.evaluation import load_image_results
from sscnb.imageresult import LAYERS, ImageResult
from sscnb.ssc import SSCParams, classify_image

if TYPE_CHECKING:
    from sscnb.cnn._files import LoadedModel
    from sscnb.data._pairs import ImageRecord


def compute_image_result(record: ImageRecord, cnn: LoadedModel, params: SSCParams) -> ImageResult:
    """Read one image (and its label) and run phase 1 and phase 2 on it.

    Parameters
    ----------
    record : sscnb.data.ImageRecord
    cnn : LoadedModel
    params : SSCParams

    Returns
    -------
    ImageResult
    """
    img, lab = read_pair(record, cnn.scheme, cnn.tile_size)
    return ImageResult.from_classification(record.name, img, lab, classify_image(img, cnn, params), cnn.scheme, cnn.tile_size)


def _evaluation_result(out_dir, data_dir, name, experiment, cnn: LoadedModel, params) -> ImageResult:
    """Return an image of notebook 03's results: the saved rasters, or classified again when they were not saved."""
    r = load_image_results(out_dir, data_dir, name, experiment, params.phase2, cnn.scheme, cnn.tile_size)
    if r.final_map is None or r.cnn_map is None:
        res = ImageResult.from_classification(
            name, r.image, r.label, classify_image(r.image, cnn, params), cnn.scheme, cnn.tile_size
        )
        res.note = "classified again (notebook 03 saved no class rasters: save_class_rasters = True keeps them)"
        return res
    return r


def _map_result(result, scheme: ClassScheme, tile: int, max_px: int) -> ImageResult:
    """Return a survey mapped by notebook 05, read from the overviews of its rasters (never whole)."""
    image = read_preview(result.input, max_px)
    final = read_preview(result.files["final"], max_px)
    cnn_map = read_preview(result.files["cnn"], max_px)
    with open_raster(result.input) as ds:
        in_shape = (ds.height, ds.width)
        projected = ds.crs is not None and ds.crs.is_projected
        bounds = tuple(ds.bounds) if projected else None
        units = (ds.crs.linear_units or "m") if projected else "px"
    units = {"metre": "m", "meter": "m", "foot": "ft", "US survey foot": "US ft"}.get(units, units)
    with open_raster(result.files["confidence"]) as ds:
        conf = ds.read(1, masked=True).filled(np.nan).astype(np.float32)
    name = Path(result.input).stem
    note = "read from the map's overviews" if image.shape[:2] != in_shape else "read from the map"
    return ImageResult(
        name,
        image,
        None,
        cnn_map,
        final,
        conf,
        scheme,
        tile,
        result.phase2_name,
        note=note,
        full_shape=in_shape,
        bounds=bounds,
        units=units,
    )


def layer_rgb(res: ImageResult, layer: str, opacity: float = 0.6) -> np.ndarray:
    """Return the picture of one layer over the image.

    Parameters
    ----------
    res : ImageResult
    layer : str
        One of :data:`LAYERS`. "labels" and "errors" show the image alone when it has no labels.
    opacity : float
        Of the layer over the image (0: the image only, 1: the layer only).

    Returns
    -------
    (H, W, 3) ndarray of uint8
    """
    img = res.image.astype(np.float32)
    if layer == "RGB":
        return res.image
    if layer == "labels":
        if res.label is None:
            return res.image
        col, mask = res.scheme.colorize(res.label).astype(np.float32), res.label > 0
    elif layer == "CNN tiles":
        col, mask = res.scheme.colorize(res.cnn_map).astype(np.float32), res.cnn_map > 0
    elif layer == "final map":
        col, mask = res.scheme.colorize(res.final_map).astype(np.float32), res.final_map > 0
    elif layer == "CNN confidence":
        from matplotlib import colormaps

        c = res.confidence
        col = (colormaps["magma"](np.nan_to_num(c, nan=0.0))[..., :3] * 255).astype(np.float32)
        mask = np.isfinite(c)
    elif layer == "errors":
        if res.label is None:
            return res.image
        wrong = (res.label > 0) & (res.final_map != res.label)
        col = np.zeros(img.shape, np.float32)
        col[..., 0] = 255
        mask = wrong
    else:
        raise ValueError(f"layer must be one of {list(LAYERS)}, got {layer!r}")
    a = np.where(mask[..., None], float(opacity), 0.0)
    return np.clip(img * (1 - a) + col * a, 0, 255).astype(np.uint8)
