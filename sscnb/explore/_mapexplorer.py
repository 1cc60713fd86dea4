"""The map explorer: an image layer by layer (its state and figure), and its widget."""

from __future__ import annotations

import html
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from sscnb.data._classes import ClassScheme
from sscnb.data._pairs import find_pairs
from sscnb.explore._display import _display_figure
from sscnb.explore._result import _evaluation_result, _map_result, compute_image_result, layer_rgb
from sscnb.imageresult import LAYERS, ImageResult
from sscnb.plots._figures import _plt
from sscnb.results import result_files
from sscnb.ssc import SSCParams

if TYPE_CHECKING:
    from sscnb.cnn._files import LoadedModel


def _check_zoom(zoom):
    if zoom is None:
        return None
    try:
        r0, r1, c0, c1 = (float(v) for v in zoom)
    except (TypeError, ValueError):
        raise ValueError(f"zoom must be (top, bottom, left, right) in percent of the image, got {zoom!r}") from None
    if not (0 <= r0 < r1 <= 100 and 0 <= c0 < c1 <= 100):
        raise ValueError(
            f"zoom must be (top, bottom, left, right) with 0 <= top < bottom <= 100 and "
            f"0 <= left < right <= 100 (percent of the image), got {zoom!r}"
        )
    return (r0, r1, c0, c1)


class MapExplorer:
    """Pick an image and look at it layer by layer (ipywidgets).

    Parameters
    ----------
    records : list of ImageRecord
        The images to choose from (e.g. :func:`sscnb.data.find_pairs` of the validation folder),
        classified when first picked (seconds on a laptop) and kept. The results of notebooks 03
        and 05 are opened with :meth:`from_evaluation` and :meth:`from_maps`.
    cnn : LoadedModel
    params : SSCParams
        Phase-2 settings (as in notebook 03).
    layer : str
        The layer shown first.
    opacity : float
    zoom : (top, bottom, left, right), optional
        The region shown, in percent of the image's height and width (None: all of it).
    """

    def __init__(
        self,
        records=None,
        cnn: LoadedModel | None = None,
        params: SSCParams | None = None,
        layer: str = "final map",
        opacity: float = 0.6,
        zoom=None,
        *,
        sources: dict | None = None,
    ):
        if sources is None:
            if cnn is None:
                raise ValueError("give the CNN (cnn) to classify the images with")
            params = params or SSCParams()
            sources = {r.name: partial(compute_image_result, r, cnn, params) for r in records or []}
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
        self.widget: Any = None  # the ipywidgets box, once shown
        self.controls: dict = {}

    @classmethod
    def from_evaluation(
        cls, out_dir, data_dir, experiment: str, cnn: LoadedModel, params: SSCParams, images=None, **kw
    ) -> MapExplorer:
        """Return the images notebook 03 evaluated.

        Its saved class rasters and confidence (classified again with the same model and settings when it
        saved no class rasters).

        Parameters
        ----------
        out_dir : str or Path
            Notebook 03's results folder (``output_dir/ssc``).
        data_dir : str or Path
            The images and labels it evaluated.
        experiment : str
        cnn : LoadedModel
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
        if images is None:
            images = [
                r.name
                for r in find_pairs(data_dir)
                if result_files(out_dir, r.name, experiment, params.phase2)["confidence"].exists()
            ]
        if not len(images):
            raise ValueError(
                f"no image of {data_dir} has results of experiment {experiment!r} in {out_dir}: run notebook 03 first"
            )
        return cls(sources={n: partial(_evaluation_result, out_dir, data_dir, n, experiment, cnn, params) for n in images}, **kw)

    @classmethod
    def from_maps(cls, results, scheme: ClassScheme, tile: int, max_px: int = 1500, **kw) -> MapExplorer:
        """Return the surveys notebook 05 mapped, read from the overviews of their rasters.

        Parameters
        ----------
        results : list of sscnb.maps.MapResult
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
        res = self.result(name)
        if not res.reports:
            return pd.DataFrame({"note": ["no label: nothing to score"]})
        frames = [r.set_index("class")["f1_score"].rename(k) for k, r in res.reports.items()]
        table = pd.concat(frames, axis=1)
        table.loc["ALL (pixel-weighted)"] = [res.f1(k) for k in res.reports]
        return table.round(4)

    def region(self, shape) -> tuple[slice, slice]:
        """Return the rows and columns of the zoomed region of an image of this shape (all of it without zoom)."""
        if self.zoom is None:
            return slice(0, shape[0]), slice(0, shape[1])
        r0, r1, c0, c1 = self.zoom

        def span(lo, hi, n):
            a = int(np.floor(lo / 100 * n))
            return slice(a, max(a + 1, int(np.ceil(hi / 100 * n))))

        return span(r0, r1, shape[0]), span(c0, c1, shape[1])

    def picture(self) -> np.ndarray:
        """Return the current layer over the current image, zoomed: what the figure shows."""
        res = self.result()
        rs, cs = self.region(res.image.shape)
        return layer_rgb(res, self.layer, self.opacity)[rs, cs]

    def figure(self):
        """Return a static picture of the current state: the layer over the image, with the legend."""
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
        name = res.phase2_name
        scores = f"F1 CNN {res.f1('CNN'):.3f}, {name} {res.f1(name):.3f}" if res.reports else "no labels to score"
        where = "" if self.zoom is None else f"; rows {rs.start}-{rs.stop}, columns {cs.start}-{cs.stop}"
        if self.layer not in res.layers:
            raise ValueError(f"{res.name} has no labels, so no {self.layer!r} layer; its layers are {res.layers}")
        ax.set_title(f"{res.name}: {self.layer} (opacity {self.opacity:.2f}{where})\n{scores}", fontsize=9)
        if self.layer in ("labels", "CNN tiles", "final map"):
            ax.legend(
                handles=res.scheme.legend_handles(include_unlabelled=False),
                loc="upper left",
                bbox_to_anchor=(1.01, 1),
                frameon=False,
                fontsize=8,
            )
        elif self.layer == "CNN confidence":
            import matplotlib as mpl

            fig.colorbar(
                mpl.cm.ScalarMappable(mpl.colors.Normalize(0, 1), "magma"), ax=ax, shrink=0.6, label="CNN top-class probability"
            )
        return fig

    def show(self):
        """Return the widget: image picker, layer buttons, opacity, zoom, the picture and the F1 table."""
        return _explorer_widget(self)


def _explorer_widget(tool: MapExplorer):
    """Return the ipywidgets wiring of a :class:`MapExplorer`: its controls change the tool's state and redraw its figure."""
    import ipywidgets as w
    from IPython.display import display

    z = [int(round(v)) for v in (tool.zoom or (0, 100, 0, 100))]
    picker = w.Dropdown(options=tool.names, value=tool.name, description="image")
    if tool.layer not in tool.result().layers:
        tool.layer = "final map"
    layers = w.ToggleButtons(options=tool.result().layers, value=tool.layer, description="layer")
    opacity = w.FloatSlider(value=tool.opacity, min=0, max=1, step=0.05, description="opacity")
    rows = w.IntRangeSlider(value=(z[0], z[1]), min=0, max=100, description="rows %")
    cols = w.IntRangeSlider(value=(z[2], z[3]), min=0, max=100, description="columns %")
    reset = w.Button(description="whole image", tooltip="zoom out to the whole image")
    out = w.Output()
    table = w.Output()
    note = w.HTML()

    busy: list = []

    def render(_=None):
        if busy or rows.value[0] == rows.value[1] or cols.value[0] == cols.value[1]:
            return  # a layer list being changed, or an empty region: wait for the other end of the slider
        offered = tool.result(picker.value).layers  # no "labels" or "errors" for an image without labels
        if list(layers.options) != offered:
            busy.append(1)
            try:
                layers.options = offered
                layers.value = layers.value if layers.value in offered else "final map"
            finally:
                busy.clear()
        tool.name, tool.layer, tool.opacity = picker.value, layers.value, opacity.value
        full = tuple(rows.value) == (0, 100) and tuple(cols.value) == (0, 100)
        tool.zoom = None if full else _check_zoom((*rows.value, *cols.value))
        out.clear_output(wait=True)
        table.clear_output(wait=True)
        with out:
            _display_figure(tool.figure())
        with table:
            display(tool.f1_table())
        note.value = f"<i>{html.escape(tool.result().describe())}</i>"

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
    tool.widget = w.VBox([w.HBox([picker, opacity]), layers, w.HBox([rows, cols, reset]), out, w.HBox([table, note])])
    tool.widget.add_class("sscnb-map-explorer")  # a handle for styles and for the browser test
    tool.controls = {
        "image": picker,
        "layer": layers,
        "opacity": opacity,
        "rows": rows,
        "columns": cols,
        "whole image": reset,
        "note": note,
    }
    render()
    display(tool.widget)
    return tool.widget
