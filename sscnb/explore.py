"""Widgets to explore and teach the method in JupyterLab (ipywidgets), each with a static figure.

* :class:`MapExplorer`: pick an image (classified on the spot, or read from the results of
  notebook 03 or the maps of notebook 05); layers RGB, validation labels, CNN tile map, final map,
  CNN confidence, errors (final map against the labels); opacity; zoom to a region; the image's
  per-class F1.
* :class:`TileBrowser`: the tiles of a labelled folder per class, with the CNN's predicted class
  and confidence, and a filter for the misclassified ones.
* :class:`Phase2Playground`: one image, the phase-2 settings as controls and a Run button that
  redoes phase 2 in seconds and shows the new map and its F1 beside the previous run's.

Every tool also draws a static matplotlib figure of its current state (:meth:`figure`), which is
what a notebook run by papermill shows (:func:`show_tool`): a widget never waits for input, so
batch runs never hang. The computation is :func:`sscnb.ssc.classify_image`, :mod:`sscnb.metrics`
and :func:`sscnb.modelfiles.predict_codes`; the tools only hold state and draw.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from .classes import ClassScheme
from .ssc import SSCParams, classify_image

__all__ = ["LAYERS", "ImageResult", "compute_image_result", "layer_rgb", "tiles_on_grid", "MapExplorer",
           "TileBrowser", "Phase2Playground", "show_tool", "run_by_papermill"]

LAYERS = ("RGB", "labels", "CNN tiles", "final map", "CNN confidence", "errors")


def tiles_on_grid(values: np.ndarray, tile: float, in_shape, out_shape=None) -> np.ndarray:
    """One value per tile drawn on an image grid (the image itself, or a decimated preview of it).

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

    ``image (H, W, 3)``, ``label (H, W)`` or None, ``cnn_map`` and ``final_map (H, W)``,
    ``confidence_tiles (n_rows, n_cols)`` (the CNN's top-class probability per tile; negative: not
    classified), ``full_shape`` (of the full-resolution image; larger than ``image`` when the arrays
    are a preview), ``phase2_name`` ("MLP" or "RF"), ``result`` (the :class:`sscnb.ssc.SSCResult`
    when classified here, else None), ``note`` (where the arrays came from) and ``bounds`` (left,
    bottom, right, top of the image in the units of its projected CRS, with ``units`` their name;
    None for an image without one: the figure's axes are then pixels). ``confidence`` is the tile
    confidence drawn on the image's grid (:func:`tiles_on_grid`).
    """

    def __init__(self, name, image, label, cnn_map, final_map, confidence_tiles, scheme: ClassScheme, tile: int,
                 phase2_name: str, result=None, note: str = "", full_shape=None, bounds=None, units: str = "m"):
        from . import metrics

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
        self._confidence = None
        codes = list(scheme.labelled_codes)
        names = {c: scheme.name(c) for c in scheme.codes}
        self.reports = {}
        if label is not None:
            self.reports = {"CNN": metrics.class_report(label, cnn_map, codes, names),
                            phase2_name: metrics.class_report(label, final_map, codes, names)}

    @classmethod
    def from_classification(cls, name, image, label, result, scheme: ClassScheme, tile: int) -> "ImageResult":
        """From :func:`sscnb.ssc.classify_image` of the image."""
        return cls(name, image, label, result.cnn_map, result.final_map, result.cnn_proba.max(axis=-1), scheme,
                   tile, result.phase2_name, result=result, note="classified here")

    @property
    def confidence(self) -> np.ndarray:
        """(h, w) float32: the CNN's confidence of the tile under each pixel of ``image`` (NaN where
        no tile reaches, or where it was not classified)."""
        if self._confidence is None:
            self._confidence = tiles_on_grid(self.confidence_tiles, self.tile, self.full_shape, self.image.shape)
        return self._confidence

    def describe(self) -> str:
        """The tile map in numbers: tiles, tiles left unclassified, mean CNN confidence, and with labels
        the final map's errors in the less and the more confident half of the tiles."""
        g = self.confidence_tiles
        if self.full_shape != self.image.shape[:2]:  # a preview: no per-tile counts
            return f"{self.name}: {self.note}"
        g = np.where(np.asarray(g, float) < 0, np.nan, g)  # negative or NaN: the tile touches no data
        no_data = ~np.isfinite(g)
        codes = self.cnn_map[: g.shape[0] * self.tile: self.tile, : g.shape[1] * self.tile: self.tile]
        unclassified = int(((codes == 0) & ~no_data).sum())
        text = (f"{self.name}: {g.size} tiles" + (f" ({int(no_data.sum())} on the no-data border)" if no_data.any()
                                                   else "")
                + f", {unclassified} left unclassified by the CNN, mean CNN confidence "
                + (f"{np.nanmean(g):.3f}" if not no_data.all() else "-"))
        if self.label is not None:
            from .metrics import errors_by_confidence

            cnn = errors_by_confidence(self.label, self.cnn_map, g, self.tile)
            fin = errors_by_confidence(self.label, self.final_map, g, self.tile)
            text += (f"; labelled pixels wrong in the less / the more confident half of the tiles: CNN tile map "
                     f"{100 * cnn['low']:.2f}% / {100 * cnn['high']:.2f}%, final map {100 * fin['low']:.2f}% / "
                     f"{100 * fin['high']:.2f}%")
        return text + f" ({self.note})"

    @property
    def layers(self) -> list:
        """The layers this image can show: "labels" and "errors" only when it has labels."""
        return [lay for lay in LAYERS if self.label is not None or lay not in ("labels", "errors")]

    def f1(self, kind: str) -> float:
        from .metrics import weighted_f1

        return weighted_f1(self.reports[kind]) if kind in self.reports else float("nan")


def compute_image_result(record, loaded, params: SSCParams) -> ImageResult:
    """Read one image (and its label) and run phase 1 and phase 2 on it.

    Parameters
    ----------
    record : sscnb.data.ImageRecord
    loaded : LoadedModel
    params : SSCParams

    Returns
    -------
    ImageResult
    """
    from .data import read_pair

    img, lab = read_pair(record, loaded.scheme, loaded.tile_size)
    return ImageResult.from_classification(record.name, img, lab, classify_image(img, loaded, params),
                                           loaded.scheme, loaded.tile_size)


def _evaluation_result(out_dir, data_dir, name, experiment, loaded, params) -> ImageResult:
    """An image of notebook 03's results: the saved rasters, or classified again when they were not saved."""
    from .evaluation import load_image_results
    from .ssc import phase2_name

    r = load_image_results(out_dir, data_dir, name, experiment, params.phase2, loaded.scheme)
    if r["final_map"] is None or r["cnn_map"] is None:
        res = ImageResult.from_classification(name, r["image"], r["label"], classify_image(r["image"], loaded, params),
                                              loaded.scheme, loaded.tile_size)
        res.note = "classified again (notebook 03 saved no class rasters: save_class_rasters = True keeps them)"
        return res
    return ImageResult(name, r["image"], r["label"], r["cnn_map"], r["final_map"], r["confidence"], loaded.scheme,
                       loaded.tile_size, phase2_name(params.phase2), note=f"read from {out_dir}")


def _map_result(result, scheme: ClassScheme, tile: int, max_px: int) -> ImageResult:
    """A survey mapped by notebook 05, read from the overviews of its rasters (never whole)."""
    import rasterio

    from .geo import read_preview

    image = read_preview(result.input, max_px)
    final = read_preview(result.files["final"], max_px)
    cnn = read_preview(result.files["cnn"], max_px)
    with rasterio.open(result.input) as ds:
        in_shape = (ds.height, ds.width)
        projected = ds.crs is not None and ds.crs.is_projected
        bounds = tuple(ds.bounds) if projected else None
        units = (ds.crs.linear_units or "m") if projected else "px"
    units = {"metre": "m", "meter": "m", "foot": "ft", "US survey foot": "US ft"}.get(units, units)
    with rasterio.open(result.files["confidence"]) as ds:
        conf = ds.read(1, masked=True).filled(np.nan).astype(np.float32)
    name = Path(result.input).stem
    final_name = Path(result.files["final"]).stem.rsplit("_", 1)[-1]
    note = "read from the map's overviews" if image.shape[:2] != in_shape else "read from the map"
    return ImageResult(name, image, None, cnn, final, conf, scheme, tile, final_name, note=note, full_shape=in_shape,
                       bounds=bounds, units=units)


def _display_figure(fig, dpi: int = 100) -> None:
    """Show a figure in the notebook as a PNG, whatever matplotlib's backend (inline, or Agg as
    under some batch runners), and close it."""
    import io

    from IPython.display import Image, display

    from .plots import _plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    _plt().close(fig)
    display(Image(data=buf.getvalue(), format="png"))


def layer_rgb(res: ImageResult, layer: str, opacity: float = 0.6) -> np.ndarray:
    """The picture of one layer over the image.

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


def _check_zoom(zoom):
    if zoom is None:
        return None
    try:
        r0, r1, c0, c1 = (float(v) for v in zoom)
    except (TypeError, ValueError):
        raise ValueError(f"zoom must be (top, bottom, left, right) in percent of the image, got {zoom!r}") from None
    if not (0 <= r0 < r1 <= 100 and 0 <= c0 < c1 <= 100):
        raise ValueError(f"zoom must be (top, bottom, left, right) with 0 <= top < bottom <= 100 and "
                         f"0 <= left < right <= 100 (percent of the image), got {zoom!r}")
    return (r0, r1, c0, c1)


class MapExplorer:
    """Pick an image and look at it layer by layer (ipywidgets).

    Parameters
    ----------
    records : list of ImageRecord
        The images to choose from (e.g. :func:`sscnb.data.find_pairs` of the validation folder),
        classified when first picked (seconds on a laptop) and kept. The results of notebooks 03
        and 05 are opened with :meth:`from_evaluation` and :meth:`from_maps`.
    loaded : LoadedModel
    params : SSCParams
        Phase-2 settings (as in notebook 03).
    layer : str
        The layer shown first.
    opacity : float
    zoom : (top, bottom, left, right), optional
        The region shown, in percent of the image's height and width (None: all of it).
    """

    def __init__(self, records=None, loaded=None, params: SSCParams | None = None, layer: str = "final map",
                 opacity: float = 0.6, zoom=None, *, sources: dict | None = None):
        from functools import partial

        if sources is None:
            if loaded is None:
                raise ValueError("give the CNN (loaded) to classify the images with")
            params = params or SSCParams()
            sources = {r.name: partial(compute_image_result, r, loaded, params) for r in records or []}
        if not sources:
            raise ValueError("no image to explore")
        if layer not in LAYERS:
            raise ValueError(f"layer must be one of {list(LAYERS)}, got {layer!r}")
        self.sources = dict(sources)
        self.cache: dict = {}
        self.name = next(iter(self.sources))
        self.layer = layer
        self.opacity = float(opacity)
        self.zoom = _check_zoom(zoom)
        self.widget = None

    @classmethod
    def from_evaluation(cls, out_dir, data_dir, experiment: str, loaded, params: SSCParams, images=None,
                        **kw) -> "MapExplorer":
        """The images notebook 03 evaluated: its saved class rasters and confidence (classified again
        with the same model and settings when it saved no class rasters).

        Parameters
        ----------
        out_dir : str or Path
            Notebook 03's results folder (``output_dir/ssc``).
        data_dir : str or Path
            The images and labels it evaluated.
        experiment : str
        loaded : LoadedModel
        params : SSCParams
            The settings 03 ran with.
        images : list of str, optional
            Image names (default: every image with a confidence raster in ``out_dir``).
        **kw
            ``layer``, ``opacity``, ``zoom``.

        Returns
        -------
        MapExplorer
        """
        from functools import partial

        from .evaluation import result_files

        if images is None:
            from .data import find_pairs

            images = [r.name for r in find_pairs(data_dir)
                      if result_files(out_dir, r.name, experiment, params.phase2)["confidence"].exists()]
        if not len(images):
            raise ValueError(f"no image of {data_dir} has results of experiment {experiment!r} in {out_dir}: "
                             "run notebook 03 first")
        return cls(sources={n: partial(_evaluation_result, out_dir, data_dir, n, experiment, loaded, params)
                            for n in images}, **kw)

    @classmethod
    def from_maps(cls, results, scheme: ClassScheme, tile: int, max_px: int = 1500, **kw) -> "MapExplorer":
        """The surveys notebook 05 mapped, read from the overviews of their rasters.

        Parameters
        ----------
        results : list of sscnb.mapping.MapResult
        scheme : ClassScheme
        tile : int, px
            The CNN's tile size.
        max_px : int, px
            Longest side read (a large orthomosaic is never loaded whole).
        **kw
            ``layer``, ``opacity``, ``zoom``.

        Returns
        -------
        MapExplorer
        """
        from functools import partial

        if not results:
            raise ValueError("no map to explore: map_inputs returned no result")
        return cls(sources={Path(r.input).stem: partial(_map_result, r, scheme, tile, max_px) for r in results}, **kw)

    @property
    def names(self) -> list:
        return list(self.sources)

    def result(self, name: str | None = None) -> ImageResult:
        name = name or self.name
        if name not in self.sources:
            raise ValueError(f"no image {name!r} here; the images are {self.names}")
        if name not in self.cache:
            self.cache[name] = self.sources[name]()
        return self.cache[name]

    def f1_table(self, name: str | None = None):
        """Per-class F1 of the CNN map and of the final map of an image (a DataFrame)."""
        import pandas as pd

        res = self.result(name)
        if not res.reports:
            return pd.DataFrame({"note": ["no label: nothing to score"]})
        frames = [r.set_index("class")["f1_score"].rename(k) for k, r in res.reports.items()]
        table = pd.concat(frames, axis=1)
        table.loc["ALL (pixel-weighted)"] = [res.f1(k) for k in res.reports]
        return table.round(4)

    def region(self, shape) -> tuple[slice, slice]:
        """The rows and columns of the zoomed region of an image of this shape (all of it without zoom)."""
        if self.zoom is None:
            return slice(0, shape[0]), slice(0, shape[1])
        r0, r1, c0, c1 = self.zoom

        def span(lo, hi, n):
            a = int(np.floor(lo / 100 * n))
            return slice(a, max(a + 1, int(np.ceil(hi / 100 * n))))

        return span(r0, r1, shape[0]), span(c0, c1, shape[1])

    def picture(self) -> np.ndarray:
        """The current layer over the current image, zoomed: what the figure shows."""
        res = self.result()
        rs, cs = self.region(res.image.shape)
        return layer_rgb(res, self.layer, self.opacity)[rs, cs]

    def figure(self):
        """A static picture of the current state: the layer over the image, with the legend."""
        from .plots import _plt

        plt = _plt()
        res = self.result()
        pic = self.picture()
        rs, cs = self.region(res.image.shape)
        fig, ax = plt.subplots(figsize=(8, min(12, 8 * pic.shape[0] / pic.shape[1]) + 0.6), constrained_layout=True)
        h, w = res.image.shape[:2]
        if res.bounds is not None:  # a georeferenced map: its axes in the CRS's units (eastings, northings)
            left, bottom, right, top = res.bounds
            sx, sy = (right - left) / w, (top - bottom) / h
            ax.imshow(pic, extent=(left + cs.start * sx, left + cs.stop * sx, top - rs.stop * sy, top - rs.start * sy))
            ax.set_xlabel(f"easting ({res.units})", fontsize=8)
            ax.set_ylabel(f"northing ({res.units})", fontsize=8)
            ax.ticklabel_format(useOffset=False, style="plain")
        else:
            ax.imshow(pic, extent=(cs.start, cs.stop, rs.stop, rs.start))
            ax.set_xlabel("column (px)", fontsize=8)
            ax.set_ylabel("row (px)", fontsize=8)
        ax.tick_params(labelsize=7)
        final = res.phase2_name
        scores = f"F1 CNN {res.f1('CNN'):.3f}, {final} {res.f1(final):.3f}" if res.reports else "no labels to score"
        where = "" if self.zoom is None else f"; rows {rs.start}-{rs.stop}, columns {cs.start}-{cs.stop}"
        if self.layer not in res.layers:
            raise ValueError(f"{res.name} has no labels, so no {self.layer!r} layer; its layers are {res.layers}")
        ax.set_title(f"{res.name}: {self.layer} (opacity {self.opacity:.2f}{where})\n{scores}", fontsize=9)
        if self.layer in ("labels", "CNN tiles", "final map"):
            ax.legend(handles=res.scheme.legend_handles(include_unlabelled=False), loc="upper left",
                      bbox_to_anchor=(1.01, 1), frameon=False, fontsize=8)
        elif self.layer == "CNN confidence":
            import matplotlib as mpl

            fig.colorbar(mpl.cm.ScalarMappable(mpl.colors.Normalize(0, 1), "magma"), ax=ax, shrink=0.6,
                         label="CNN top-class probability")
        return fig

    def show(self):
        """The widget: image picker, layer buttons, opacity, zoom, the picture and the F1 table."""
        import html

        import ipywidgets as w
        from IPython.display import display

        z = [int(round(v)) for v in (self.zoom or (0, 100, 0, 100))]
        picker = w.Dropdown(options=self.names, value=self.name, description="image")
        if self.layer not in self.result().layers:
            self.layer = "final map"
        layers = w.ToggleButtons(options=self.result().layers, value=self.layer, description="layer")
        opacity = w.FloatSlider(value=self.opacity, min=0, max=1, step=0.05, description="opacity")
        rows = w.IntRangeSlider(value=(z[0], z[1]), min=0, max=100, description="rows %")
        cols = w.IntRangeSlider(value=(z[2], z[3]), min=0, max=100, description="columns %")
        reset = w.Button(description="whole image", tooltip="zoom out to the whole image")
        out = w.Output()
        table = w.Output()
        note = w.HTML()

        busy = []

        def render(_=None):
            if busy or rows.value[0] == rows.value[1] or cols.value[0] == cols.value[1]:
                return  # a layer list being changed, or an empty region: wait for the other end of the slider
            offered = self.result(picker.value).layers  # no "labels" or "errors" for an image without labels
            if list(layers.options) != offered:
                busy.append(1)
                try:
                    layers.options = offered
                    layers.value = layers.value if layers.value in offered else "final map"
                finally:
                    busy.clear()
            self.name, self.layer, self.opacity = picker.value, layers.value, opacity.value
            full = tuple(rows.value) == (0, 100) and tuple(cols.value) == (0, 100)
            self.zoom = None if full else _check_zoom((*rows.value, *cols.value))
            out.clear_output(wait=True)
            table.clear_output(wait=True)
            with out:
                _display_figure(self.figure())
            with table:
                display(self.f1_table())
            note.value = f"<i>{html.escape(self.result().describe())}</i>"

        def whole(_=None):
            rows.value, cols.value = (0, 100), (0, 100)

        for c in (picker, layers, opacity, rows, cols):
            c.observe(render, names="value")
        reset.on_click(whole)
        out.add_class("sscnb-picture")
        table.add_class("sscnb-f1-table")
        # the map first and large (the whole width), the F1 table and the note below it: beside the map
        # they squeezed it to a quarter of the page, where its legend could not be read
        out.layout = w.Layout(width="100%")
        self.widget = w.VBox([w.HBox([picker, opacity]), layers, w.HBox([rows, cols, reset]), out,
                              w.HBox([table, note])])
        self.widget.add_class("sscnb-map-explorer")  # a handle for styles and for the browser test
        self.controls = {"image": picker, "layer": layers, "opacity": opacity, "rows": rows, "columns": cols,
                         "whole image": reset, "note": note}
        render()
        display(self.widget)
        return self.widget


class TileBrowser:
    """The tiles of a labelled folder, class by class, with what the CNN makes of them (ipywidgets).

    Parameters
    ----------
    tiles : sscnb.tilesets.TileSet
        Pure tiles with their label class (e.g. :func:`sscnb.tilesets.collect_tiles` of the training
        folder, the tiles notebook 02 trains on).
    scheme : ClassScheme
    loaded : LoadedModel, optional
        The CNN: each tile gets its predicted class and confidence (top-class probability). Without
        it (notebook 00, before any training) the tiles are shown with their label only.
    per_page : int
        Tiles drawn at a time.

    The selection is a class (or all), optionally only the misclassified tiles, in the order read
    or the least confident first; :meth:`summary` has the counts per class.
    """

    ORDERS = ("as read", "least confident first")

    def __init__(self, tiles, scheme: ClassScheme, loaded=None, per_page: int = 24):
        if len(tiles) == 0:
            raise ValueError("no tile to browse")
        self.tiles = tiles
        self.scheme = scheme
        self.loaded = loaded
        self.per_page = int(per_page)
        self.predicted = self.confidence = None
        if loaded is not None:
            from .modelfiles import predict_codes

            if loaded.tile_size != tiles.tile_size:
                raise ValueError(f"the tiles are {tiles.tile_size} px but the CNN {loaded.path.name} takes "
                                 f"{loaded.tile_size} px tiles: collect them with tile_size={loaded.tile_size}")
            self.predicted, proba, _ = predict_codes(loaded, None, tiles.x)
            self.confidence = proba.max(axis=1)
        present = [c for c in scheme.labelled_codes if (tiles.y == c).any()]
        self.cls = present[0] if present else "all"
        self.only_wrong = False
        self.order = self.ORDERS[0]
        self.page = 0
        self.widget = None

    @classmethod
    def from_folder(cls, data_dir, scheme: ClassScheme, tile_size: int = 50, purity: float = 0.9, loaded=None,
                    **kw) -> "TileBrowser":
        """The pure tiles of a folder of labelled images (as notebook 02 collects them).

        Parameters
        ----------
        data_dir : str or Path
        scheme : ClassScheme
        tile_size : int, px
        purity : float
        loaded : LoadedModel, optional
        **kw
            ``per_page``.

        Returns
        -------
        TileBrowser
        """
        from .data import find_pairs
        from .tilesets import collect_tiles

        return cls(collect_tiles(find_pairs(data_dir), scheme, tile_size, purity, progress=False), scheme, loaded, **kw)

    @property
    def wrong(self) -> np.ndarray:
        """Per tile: the CNN's class differs from the label (all False without a CNN)."""
        if self.predicted is None:
            return np.zeros(len(self.tiles), bool)
        return self.predicted != self.tiles.y

    def hardest_first(self) -> "TileBrowser":
        """Select the tiles of every class the CNN gets wrong, least confident first, or, when it gets
        them all right, every tile, least confident first (what notebooks 03 and 06 show).

        Returns
        -------
        TileBrowser
            Itself.
        """
        self.cls, self.order, self.page = "all", "least confident first", 0
        self.only_wrong = bool(self.wrong.any())
        return self

    def selection(self, only_wrong: bool | None = None) -> np.ndarray:
        """Indices of the tiles selected (class, misclassified filter, order), all pages; ``only_wrong``
        overrides the filter."""
        keep = np.ones(len(self.tiles), bool) if self.cls == "all" else self.tiles.y == self.cls
        if self.only_wrong if only_wrong is None else only_wrong:
            keep &= self.wrong
        idx = np.flatnonzero(keep)
        if self.order == "least confident first" and self.confidence is not None:
            idx = idx[np.argsort(self.confidence[idx], kind="stable")]
        return idx

    @property
    def pages(self) -> int:
        return max(1, -(-len(self.selection()) // self.per_page))

    def summary(self):
        """Per class: tiles, and with a CNN the misclassified tiles, their share and the mean confidence."""
        import pandas as pd

        rows = []
        for c in self.scheme.labelled_codes:
            m = self.tiles.y == c
            row = {"class": self.scheme.name(c), "tiles": int(m.sum())}
            if self.predicted is not None:
                n_wrong = int((self.wrong & m).sum())
                row.update(misclassified=n_wrong, misclassified_share=n_wrong / m.sum() if m.any() else float("nan"),
                           mean_confidence=float(self.confidence[m].mean()) if m.any() else float("nan"))
            rows.append(row)
        return pd.DataFrame(rows).set_index("class")

    def _heading(self, n: int) -> str:
        what = "all classes" if self.cls == "all" else self.scheme.name(self.cls)
        filt = ", misclassified only" if self.only_wrong else ""
        return f"{what}{filt}: {n} tile(s), page {self.page + 1} of {self.pages} ({self.order})"

    def figure(self):
        """The current page of tiles: each titled with its label, and with a CNN its predicted class
        and confidence (misclassified tiles framed red)."""
        from .plots import _plt

        plt = _plt()
        sel = self.selection()
        self.page = min(self.page, self.pages - 1)
        page = sel[self.page * self.per_page:(self.page + 1) * self.per_page]
        ncols = 8
        nrows = max(1, -(-len(page) // ncols))
        fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * 1.35, nrows * 1.6 + 0.5), squeeze=False,
                                 constrained_layout=True)
        for ax in axes.ravel():
            ax.set_axis_off()
        wrong = self.wrong
        for ax, i in zip(axes.ravel(), page):
            ax.imshow(self.tiles.x[i])
            ax.set_axis_on()
            ax.set_xticks([])
            ax.set_yticks([])
            label = self.scheme.name(self.tiles.y[i])
            if self.predicted is None:
                ax.set_title(f"{label}\n{self.tiles.image[i]}", fontsize=6)
                continue
            colour = "red" if wrong[i] else "black"
            ax.set_title(f"{label}\nCNN: {self.scheme.name(self.predicted[i])} {self.confidence[i]:.2f}",
                         fontsize=6, color=colour)
            for side in ax.spines.values():
                side.set_color(colour)
                side.set_linewidth(2.5 if wrong[i] else 0.5)
        if not len(page):
            axes[0, 0].set_title("no tile selected", fontsize=8, loc="left")
            if self.only_wrong and self.predicted is not None:
                n = len(self.selection(only_wrong=False))
                axes[0, 0].set_title(f"none misclassified: the CNN gets all {n} of these tiles right", fontsize=8,
                                     loc="left")
        fig.suptitle(self._heading(len(sel)), fontsize=9)
        return fig

    def show(self):
        """The widget: class, misclassified filter, order, page, and the tiles."""
        import ipywidgets as w

        options = [("all", "all")] + [(self.scheme.name(c), c) for c in self.scheme.labelled_codes
                                      if (self.tiles.y == c).any()]
        cls = w.Dropdown(options=options, value=self.cls, description="class")
        wrong = w.Checkbox(value=self.only_wrong, description="misclassified only", disabled=self.predicted is None)
        order = w.ToggleButtons(options=list(self.ORDERS), value=self.order, description="order",
                                disabled=self.predicted is None)
        page = w.IntSlider(value=self.page + 1, min=1, max=self.pages, description="page")
        out = w.Output()

        def render(change=None):
            self.cls, self.only_wrong, self.order = cls.value, wrong.value, order.value
            if change is not None and change["owner"] is not page:
                self.page = 0  # a new selection starts at its first page
                with page.hold_trait_notifications():
                    page.max = self.pages
                    page.value = 1
            else:
                self.page = page.value - 1
            out.clear_output(wait=True)
            with out:
                _display_figure(self.figure())

        for c in (cls, wrong, order, page):
            c.observe(render, names="value")
        self.controls = {"class": cls, "misclassified only": wrong, "order": order, "page": page}
        out.add_class("sscnb-picture")
        self.widget = w.VBox([w.HBox([cls, wrong]), order, page, out])
        self.widget.add_class("sscnb-tile-browser")
        from IPython.display import display

        render()
        display(self.widget)
        return self.widget


class Phase2Playground:
    """Redo phase 2 of one image with other settings, and compare with the previous run.

    Parameters
    ----------
    record : ImageRecord
        A labelled image.
    loaded : LoadedModel
    params : SSCParams
        The notebook's settings: every run starts from them, changed as asked (so that one control
        changed in the widget is one setting changed from the notebook's, whatever ran before).
    """

    CONTROLS = ("median_radius", "use_entropy", "subsample", "phase2", "recog_thresh", "min_tiles")

    def __init__(self, record, loaded, params: SSCParams | None = None):
        from .data import read_pair

        self.record = record
        self.loaded = loaded
        self.image, self.label = read_pair(record, loaded.scheme, loaded.tile_size)
        self.base = params or SSCParams()
        self.params = self.base  # the settings of the last run
        self.history: list = []  # [(params, ImageResult, seconds)]
        self.widget = None

    def run(self, **changes):
        """Phase 1 and phase 2 with the notebook's settings changed as given; returns the new ImageResult."""
        import time

        p = replace(self.base, **changes)
        t0 = time.perf_counter()
        res = ImageResult.from_classification(self.record.name, self.image, self.label,
                                              classify_image(self.image, self.loaded, p), self.loaded.scheme,
                                              self.loaded.tile_size)
        self.params = p
        self.history.append((p, res, time.perf_counter() - t0))
        return res

    def figure(self):
        """The last two runs side by side: final maps, their settings and F1."""
        from .plots import _plt

        plt = _plt()
        runs = self.history[-2:]
        fig, axes = plt.subplots(1, max(1, len(runs)), figsize=(6 * max(1, len(runs)), 5.2),
                                 constrained_layout=True, squeeze=False)
        for ax, (p, res, secs) in zip(axes.ravel(), runs):
            col = res.scheme.colorize(res.final_map)
            ax.imshow(col)
            changed = ", ".join(f"{k}={getattr(p, k)}" for k in self.CONTROLS)
            final = res.phase2_name
            ax.set_title(f"{final} map: F1 {res.f1(final):.4f} ({secs:.1f} s)\n{changed}", fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
        if not runs:
            axes[0, 0].set_title("not run yet")
        else:
            scheme = runs[-1][1].scheme
            fig.legend(handles=scheme.legend_handles(include_unlabelled=True), loc="outside lower center",
                       ncol=6, frameon=False, fontsize=8)
        return fig

    def show(self):
        """The widget: the settings, a Run button, the last two runs side by side."""
        import ipywidgets as w

        p = self.base  # the controls start at the notebook's settings, as the exercises do
        full = {"style": {"description_width": "initial"}}  # the whole name shown, never "median_r..."
        c = {"median_radius": w.IntSlider(value=p.median_radius, min=0, max=15, description="median_radius", **full),
             "use_entropy": w.Checkbox(value=p.use_entropy, description="use_entropy", **full),
             "subsample": w.FloatLogSlider(value=p.subsample, base=10, min=-3, max=0, description="subsample", **full),
             "phase2": w.ToggleButtons(options=["mlp", "rf"], value=p.phase2, description="phase2", **full),
             "recog_thresh": w.FloatSlider(value=p.recog_thresh, min=0, max=1, step=0.05,
                                           description="recog_thresh", **full),
             "min_tiles": w.IntSlider(value=p.min_tiles, min=0, max=20, description="min_tiles", **full)}
        button = w.Button(description="Run", button_style="primary")
        status = w.HTML()
        out = w.Output()

        def draw():
            out.clear_output(wait=True)
            with out:
                _display_figure(self.figure())
            if self.history:
                p, res, secs = self.history[-1]
                status.value = (f"run {len(self.history)}: {res.phase2_name} F1 {res.f1(res.phase2_name):.4f} "
                                f"in {secs:.1f} s")

        def on_run(_=None):
            button.disabled = True
            status.value = "running phase 1 and phase 2..."
            try:
                self.run(**{k: v.value for k, v in c.items()})
                draw()
            except Exception as exc:  # a bad combination of settings: say so in the widget, keep it usable
                status.value = f"<b>failed:</b> {type(exc).__name__}: {exc}"
                raise
            finally:
                button.disabled = False

        button.on_click(on_run)
        self.controls = {**c, "run": button}
        self.widget = w.VBox([w.HBox([c["median_radius"], c["use_entropy"], c["subsample"]]),
                              w.HBox([c["phase2"], c["recog_thresh"], c["min_tiles"]]), w.HBox([button, status]), out])
        out.add_class("sscnb-picture")
        status.add_class("sscnb-status")
        self.widget.add_class("sscnb-playground")
        from IPython.display import display

        if self.history:
            draw()
        display(self.widget)
        self._on_run = on_run
        return self.widget


def run_by_papermill() -> bool:
    """Whether this kernel runs a notebook for papermill (or ``sscnb run``): papermill's injected
    parameters cell, which starts with ``# Parameters``, is in the kernel's input history.

    Returns
    -------
    bool
    """
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    ip = get_ipython()
    history = ip.user_ns.get("In", []) if ip is not None else []
    return any(isinstance(src, str) and src.lstrip().startswith("# Parameters") for src in history)


def show_tool(tool, widgets: bool, save=None) -> None:
    """Show a tool in a notebook: its widget when ``widgets`` is true, else its static figure.

    Under papermill the static figure is shown even with ``widgets`` true (and a note says so):
    nobody is there to use a widget, and widgets can stall papermill's notebook client
    (jupyter/nbclient#312).

    Parameters
    ----------
    tool : MapExplorer, TileBrowser or Phase2Playground
    widgets : bool
        False in batch runs (papermill): nothing waits for input and the figure is in the notebook.
    save : str or Path, optional
        PNG file for the static figure (written either way).

    Returns
    -------
    None
        Nothing, so that a notebook cell ending with this call does not show it twice; the widget
        is ``tool.widget``.
    """
    from .plots import _plt, save_figure

    plt = _plt()
    if widgets and run_by_papermill():
        print(f"{type(tool).__name__}: a static figure, as this notebook runs under papermill "
              "(widgets need JupyterLab)")
        widgets = False
    if save is not None or not widgets:
        fig = tool.figure()
        if save is not None:
            save_figure(fig, save)
        if not widgets:
            _display_figure(fig)
            return
        plt.close(fig)
    tool.show()
