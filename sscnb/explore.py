"""Widgets to explore and teach the method in JupyterLab (ipywidgets), each with a static figure.

* :class:`MapExplorer`: pick an image; layers RGB, validation labels, CNN tile map, final map,
  CNN confidence, errors (final map against the labels); opacity; the image's per-class F1.
* :class:`Phase2Playground`: one image, the phase-2 settings as controls and a Run button that
  redoes phase 2 in seconds and shows the new map and its F1 beside the previous run's.

Every widget also draws a static matplotlib figure of its current state (:meth:`figure`), which is
what a notebook run by papermill shows: a widget never waits for input, so batch runs never hang.
The computation is :func:`sscnb.ssc.classify_image` and :mod:`sscnb.metrics`; the widgets only
hold state and draw.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from .classes import ClassScheme
from .ssc import SSCParams, classify_image

__all__ = ["LAYERS", "ImageResult", "compute_image_result", "layer_rgb", "MapExplorer", "Phase2Playground"]

LAYERS = ("RGB", "labels", "CNN tiles", "final map", "CNN confidence", "errors")


class ImageResult:
    """One image classified: the arrays every layer is drawn from, and its per-class F1 tables."""

    def __init__(self, name, image, label, result, scheme: ClassScheme, tile: int):
        from . import metrics

        self.name = name
        self.image = image
        self.label = label
        self.result = result
        self.scheme = scheme
        self.tile = tile
        codes = list(scheme.labelled_codes)
        names = {c: scheme.name(c) for c in scheme.codes}
        self.reports = {}
        if label is not None:
            self.reports = {"CNN": metrics.class_report(label, result.cnn_map, codes, names),
                            result.phase2_name: metrics.class_report(label, result.final_map, codes, names)}

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
    return ImageResult(record.name, img, lab, classify_image(img, loaded, params), loaded.scheme, loaded.tile_size)


def layer_rgb(res: ImageResult, layer: str, opacity: float = 0.6) -> np.ndarray:
    """The picture of one layer over the image.

    Parameters
    ----------
    res : ImageResult
    layer : str
        One of :data:`LAYERS`.
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
        col, mask = res.scheme.colorize(res.result.cnn_map).astype(np.float32), res.result.cnn_map > 0
    elif layer == "final map":
        col, mask = res.scheme.colorize(res.result.final_map).astype(np.float32), res.result.final_map > 0
    elif layer == "CNN confidence":
        from matplotlib import colormaps

        from .tiles import tiles_to_raster

        conf = res.result.cnn_proba.max(axis=-1)
        grid = conf.shape
        c = tiles_to_raster(conf.ravel(), grid, res.tile, out_shape=res.image.shape[:2], fill=np.nan)
        col = (colormaps["magma"](np.nan_to_num(c, nan=0.0))[..., :3] * 255).astype(np.float32)
        mask = np.isfinite(c)
    elif layer == "errors":
        if res.label is None:
            return res.image
        wrong = (res.label > 0) & (res.result.final_map != res.label)
        col = np.zeros(img.shape, np.float32)
        col[..., 0] = 255
        mask = wrong
    else:
        raise ValueError(f"layer must be one of {list(LAYERS)}, got {layer!r}")
    a = np.where(mask[..., None], float(opacity), 0.0)
    return np.clip(img * (1 - a) + col * a, 0, 255).astype(np.uint8)


class MapExplorer:
    """Pick an image of a folder and look at it layer by layer (ipywidgets).

    Parameters
    ----------
    records : list of ImageRecord
        The images to choose from (e.g. :func:`sscnb.data.find_pairs` of the validation folder).
    loaded : LoadedModel
    params : SSCParams
        Phase-2 settings (as in notebook 03).
    layer : str
        The layer shown first.
    opacity : float

    Each image is classified when first picked (seconds on a laptop) and kept.
    """

    def __init__(self, records, loaded, params: SSCParams | None = None, layer: str = "final map",
                 opacity: float = 0.6):
        if not records:
            raise ValueError("no image to explore")
        self.records = {r.name: r for r in records}
        self.loaded = loaded
        self.params = params or SSCParams()
        self.cache: dict = {}
        self.name = next(iter(self.records))
        self.layer = layer
        self.opacity = float(opacity)
        self.widget = None
        self.renders = 0

    def result(self, name: str | None = None) -> ImageResult:
        name = name or self.name
        if name not in self.cache:
            self.cache[name] = compute_image_result(self.records[name], self.loaded, self.params)
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

    def figure(self):
        """A static picture of the current state: the layer over the image, with the legend."""
        from .plots import _plt

        plt = _plt()
        res = self.result()
        fig, ax = plt.subplots(figsize=(8, 8 * res.image.shape[0] / res.image.shape[1] + 0.6),
                               constrained_layout=True)
        ax.imshow(layer_rgb(res, self.layer, self.opacity))
        ax.set_xticks([])
        ax.set_yticks([])
        final = res.result.phase2_name
        ax.set_title(f"{res.name}: {self.layer} (opacity {self.opacity:.2f}); F1 CNN {res.f1('CNN'):.3f}, "
                     f"{final} {res.f1(final):.3f}", fontsize=10)
        if self.layer in ("labels", "CNN tiles", "final map"):
            ax.legend(handles=res.scheme.legend_handles(include_unlabelled=False), loc="upper left",
                      bbox_to_anchor=(1.01, 1), frameon=False, fontsize=8)
        return fig

    def show(self):
        """The widget: image picker, layer buttons, opacity slider, the picture and the F1 table."""
        import ipywidgets as w
        from IPython.display import display

        picker = w.Dropdown(options=list(self.records), value=self.name, description="image")
        layers = w.ToggleButtons(options=list(LAYERS), value=self.layer, description="layer")
        opacity = w.FloatSlider(value=self.opacity, min=0, max=1, step=0.05, description="opacity")
        out = w.Output()
        table = w.Output()

        def render(_=None):
            import matplotlib.pyplot as plt

            self.name, self.layer, self.opacity = picker.value, layers.value, opacity.value
            out.clear_output(wait=True)
            table.clear_output(wait=True)
            with out:
                fig = self.figure()
                plt.show()
                plt.close(fig)
            with table:
                display(self.f1_table())
            self.renders += 1

        for c in (picker, layers, opacity):
            c.observe(render, names="value")
        self.widget = w.VBox([w.HBox([picker, opacity]), layers, w.HBox([out, table])])
        self.controls = {"image": picker, "layer": layers, "opacity": opacity}
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
        The settings of the first run.
    """

    CONTROLS = ("median_radius", "use_entropy", "subsample", "phase2", "recog_thresh", "min_tiles")

    def __init__(self, record, loaded, params: SSCParams | None = None):
        from .data import read_pair

        self.record = record
        self.loaded = loaded
        self.image, self.label = read_pair(record, loaded.scheme, loaded.tile_size)
        self.params = params or SSCParams()
        self.history: list = []  # [(params, ImageResult, seconds)]
        self.widget = None

    def run(self, **changes):
        """Phase 1 and phase 2 with the settings changed as given; returns the new ImageResult."""
        import time

        p = replace(self.params, **changes)
        t0 = time.perf_counter()
        res = ImageResult(self.record.name, self.image, self.label, classify_image(self.image, self.loaded, p),
                          self.loaded.scheme, self.loaded.tile_size)
        self.params = p
        self.history.append((p, res, time.perf_counter() - t0))
        return res

    def figure(self):
        """The last two runs side by side: final maps, their settings and F1."""
        from .plots import _plt

        plt = _plt()
        runs = self.history[-2:]
        fig, axes = plt.subplots(1, max(1, len(runs)), figsize=(6 * max(1, len(runs)), 4.6),
                                 constrained_layout=True, squeeze=False)
        for ax, (p, res, secs) in zip(axes.ravel(), runs):
            col = res.scheme.colorize(res.result.final_map)
            ax.imshow(col)
            changed = ", ".join(f"{k}={getattr(p, k)}" for k in self.CONTROLS)
            final = res.result.phase2_name
            ax.set_title(f"{final} map: F1 {res.f1(final):.4f} ({secs:.1f} s)\n{changed}", fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
        if not runs:
            axes[0, 0].set_title("not run yet")
        return fig

    def show(self):
        """The widget: the settings, a Run button, the last two runs side by side."""
        import ipywidgets as w

        p = self.params
        c = {"median_radius": w.IntSlider(value=p.median_radius, min=0, max=15, description="median_radius"),
             "use_entropy": w.Checkbox(value=p.use_entropy, description="use_entropy"),
             "subsample": w.FloatLogSlider(value=p.subsample, base=10, min=-3, max=0, description="subsample"),
             "phase2": w.ToggleButtons(options=["mlp", "rf"], value=p.phase2, description="phase2"),
             "recog_thresh": w.FloatSlider(value=p.recog_thresh, min=0, max=1, step=0.05,
                                           description="recog_thresh"),
             "min_tiles": w.IntSlider(value=p.min_tiles, min=0, max=20, description="min_tiles")}
        button = w.Button(description="Run", button_style="primary")
        out = w.Output()

        def on_run(_=None):
            import matplotlib.pyplot as plt

            button.disabled = True
            try:
                self.run(**{k: v.value for k, v in c.items()})
                out.clear_output(wait=True)
                with out:
                    fig = self.figure()
                    plt.show()
                    plt.close(fig)
            finally:
                button.disabled = False

        button.on_click(on_run)
        self.controls = {**c, "run": button}
        self.widget = w.VBox([w.HBox([c["median_radius"], c["use_entropy"], c["subsample"]]),
                              w.HBox([c["phase2"], c["recog_thresh"], c["min_tiles"]]), button, out])
        from IPython.display import display

        display(self.widget)
        self._on_run = on_run
        return self.widget
