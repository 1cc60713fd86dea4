"""One classified image: the arrays every layer is drawn from, and its per-class F1 tables.

Made by :func:`sscnb.ssc.classify_image` (:meth:`ImageResult.from_classification`), read back from notebook
03's results (:func:`sscnb.evaluation.load_image_results`), or from notebook 05's maps; the explorer's layers
(:mod:`sscnb.explore`) are drawn from it.
"""

from __future__ import annotations

import numpy as np

from sscnb.assess import _metrics as metrics
from sscnb.assess._metrics import errors_by_confidence, weighted_f1
from sscnb.data._classes import ClassScheme

__all__ = ["LAYERS", "ImageResult", "tiles_on_grid"]

LAYERS = ("RGB", "labels", "CNN tiles", "final map", "CNN confidence", "errors")


def tiles_on_grid(
    values: np.ndarray, tile: float, in_shape: tuple[int, ...], out_shape: tuple[int, ...] | None = None
) -> np.ndarray:
    """Return one value per tile drawn on an image grid (the image itself, or a decimated preview of it).

    Parameters
    ----------
    values : (n_rows, n_cols) ndarray
        Per tile, row-major from the image's top-left corner (e.g. the CNN's confidence).
    tile : float, px
        Tile side in pixels of the full-resolution image.
    in_shape : (H, W)
        The full-resolution image's shape.
    out_shape : (h, w), optional
        The grid drawn on (default ``in_shape``): each of its pixels takes the tile under its centre.

    Returns
    -------
    (h, w) ndarray of float32
        NaN where no tile reaches (the margin beyond the last whole tile), and where a value is
        negative (not classified).
    """
    v = np.where(np.asarray(values, np.float32) < 0, np.nan, np.asarray(values, np.float32))
    H, W = in_shape[:2]
    h, w = (out_shape or in_shape)[:2]
    rows = np.floor((np.arange(h) + 0.5) * (H / h) / tile).astype(np.int64)
    cols = np.floor((np.arange(w) + 0.5) * (W / w) / tile).astype(np.int64)
    out = np.full((h, w), np.nan, np.float32)
    r_ok, c_ok = rows < v.shape[0], cols < v.shape[1]
    out[np.ix_(r_ok, c_ok)] = v[np.ix_(rows[r_ok], cols[c_ok])]
    return out


class ImageResult:
    """One image classified: the arrays every layer is drawn from, and its per-class F1 tables.

    ``image (H, W, 3)``, ``label (H, W)`` or None, ``cnn_map`` and ``final_map (H, W)`` (None when read
    back from results that saved no class rasters: then there are no F1 tables and no map layers),
    ``confidence_tiles (n_rows, n_cols)`` (the CNN's top-class probability per tile; negative: not
    classified), ``full_shape`` (of the full-resolution image; larger than ``image`` when the arrays
    are a preview), ``phase2_name`` ("MLP", "RF" or "MLPRF"), ``result`` (the :class:`sscnb.ssc.SSCResult`
    when classified here, else None), ``note`` (where the arrays came from) and ``bounds`` (left,
    bottom, right, top of the image in the units of its projected CRS, with ``units`` their name;
    None for an image without one: the figure's axes are then pixels). ``confidence`` is the tile
    confidence drawn on the image's grid (:func:`tiles_on_grid`).
    """

    def __init__(
        self,
        name,
        image,
        label,
        cnn_map,
        final_map,
        confidence_tiles,
        scheme: ClassScheme,
        tile: int,
        phase2_name: str,
        result=None,
        note: str = "",
        full_shape=None,
        bounds=None,
        units: str = "m",
    ):
        self.name = name
        self.image = image
        self.label = label
        self.cnn_map = cnn_map
        self.final_map = final_map
        self.confidence_tiles = confidence_tiles
        self.full_shape = tuple(full_shape or image.shape[:2])
        self.scheme = scheme
        self.tile = tile
        self.phase2_name = phase2_name
        self.result = result
        self.note = note
        self.bounds = None if bounds is None else tuple(float(v) for v in bounds)
        self.units = units
        self._confidence: np.ndarray | None = None
        codes = list(scheme.labelled_codes)
        names = {c: scheme.name(c) for c in scheme.codes}
        self.reports = {}
        if label is not None and cnn_map is not None and final_map is not None:
            self.reports = {
                "CNN": metrics.class_report(label, cnn_map, codes, names),
                phase2_name: metrics.class_report(label, final_map, codes, names),
            }

    @classmethod
    def from_classification(cls, name, image, label, result, scheme: ClassScheme, tile: int) -> ImageResult:
        """From :func:`sscnb.ssc.classify_image` of the image."""
        return cls(
            name,
            image,
            label,
            result.cnn_map,
            result.final_map,
            result.cnn_proba.max(axis=-1),
            scheme,
            tile,
            result.phase2_name,
            result=result,
            note="classified here",
        )

    @property
    def confidence(self) -> np.ndarray:
        """Return the CNN's confidence of the tile under each pixel of ``image``, (h, w) float32.

        NaN where no tile reaches, or where it was not classified.
        """
        if self._confidence is None:
            self._confidence = tiles_on_grid(self.confidence_tiles, self.tile, self.full_shape, self.image.shape)
        return self._confidence

    def describe(self) -> str:
        """Return the tile map in numbers.

        Tiles, tiles left unclassified, mean CNN confidence, and with labels the final map's errors in the
        less and the more confident half of the tiles.
        """
        g = self.confidence_tiles
        if self.full_shape != self.image.shape[:2] or self.cnn_map is None:  # a preview, or no saved maps
            return f"{self.name}: {self.note}"
        g = np.where(np.asarray(g, float) < 0, np.nan, g)  # negative or NaN: the tile touches no data
        no_data = ~np.isfinite(g)
        codes = self.cnn_map[: g.shape[0] * self.tile : self.tile, : g.shape[1] * self.tile : self.tile]
        unclassified = int(((codes == 0) & ~no_data).sum())
        text = (
            f"{self.name}: {g.size} tiles"
            + (f" ({int(no_data.sum())} on the no-data border)" if no_data.any() else "")
            + f", {unclassified} left unclassified by the CNN, mean CNN confidence "
            + (f"{np.nanmean(g):.3f}" if not no_data.all() else "-")
        )
        if self.label is not None:
            cnn_errors = errors_by_confidence(self.label, self.cnn_map, g, self.tile)
            fin = errors_by_confidence(self.label, self.final_map, g, self.tile)
            text += (
                f"; labelled pixels wrong in the less / the more confident half of the tiles: CNN tile map "
                f"{100 * cnn_errors['low']:.2f}% / {100 * cnn_errors['high']:.2f}%, final map {100 * fin['low']:.2f}% / "
                f"{100 * fin['high']:.2f}%"
            )
        return text + f" ({self.note})"

    @property
    def layers(self) -> list:
        """The layers this image can show: "labels" only with labels, the maps only when it has them."""
        maps = self.cnn_map is not None and self.final_map is not None
        return [
            lay
            for lay in LAYERS
            if (self.label is not None or lay not in ("labels", "errors"))
            and (maps or lay not in ("CNN tiles", "final map", "errors"))
        ]

    def f1(self, kind: str) -> float:
        """Return the pixel-weighted F1 of ``"CNN"`` or of the phase-2 map (NaN without labels)."""
        return weighted_f1(self.reports[kind]) if kind in self.reports else float("nan")
