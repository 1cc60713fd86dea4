"""The phase-2 playground: one image run again with other settings (state and figure), and its widget."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from sscnb.data._pairs import read_pair
from sscnb.explore._display import _display_figure
from sscnb.explore._result import ImageResult
from sscnb.params import PHASE2_CHOICES
from sscnb.plots._figures import _plt
from sscnb.ssc import SSCParams, classify_image

if TYPE_CHECKING:
    from sscnb.cnn._files import LoadedModel


class Phase2Playground:
    """Redo phase 2 of one image with other settings, and compare with the previous run.

    Parameters
    ----------
    record : ImageRecord
        A labelled image.
    cnn : LoadedModel
    params : SSCParams
        The notebook's settings: every run starts from them, changed as asked (so that one control
        changed in the widget is one setting changed from the notebook's, whatever ran before).
    """

    CONTROLS = ("median_radius", "use_entropy", "subsample", "phase2", "recog_thresh", "min_tiles")

    def __init__(self, record, cnn: LoadedModel, params: SSCParams | None = None):
        self.record = record
        self.cnn = cnn
        self.image, self.label = read_pair(record, cnn.scheme, cnn.tile_size)
        self.base = params or SSCParams()
        self.params = self.base  # the settings of the last run
        self.history: list = []  # [(params, ImageResult, seconds)]
        self.widget: Any = None  # the ipywidgets box, once shown
        self.controls: dict = {}
        self._on_run: Any = None  # the Run button's handler (tests press it)

    def run(self, **changes):
        """Phase 1 and phase 2 with the notebook's settings changed as given; returns the new ImageResult."""
        p = replace(self.base, **changes)
        t0 = time.perf_counter()
        res = ImageResult.from_classification(
            self.record.name, self.image, self.label, classify_image(self.image, self.cnn, p), self.cnn.scheme, self.cnn.tile_size
        )
        self.params = p
        self.history.append((p, res, time.perf_counter() - t0))
        return res

    def figure(self):
        """Return the last two runs side by side: final maps, their settings and F1."""
        plt = _plt()
        runs = self.history[-2:]
        fig, axes = plt.subplots(
            1, max(1, len(runs)), figsize=(6 * max(1, len(runs)), 5.2), constrained_layout=True, squeeze=False
        )
        for ax, (p, res, secs) in zip(axes.ravel(), runs, strict=False):  # one empty axes before the first run
            col = res.scheme.colorize(res.final_map)
            ax.imshow(col)
            changed = ", ".join(f"{k}={getattr(p, k)}" for k in self.CONTROLS)
            name = res.phase2_name
            ax.set_title(f"{name} map: F1 {res.f1(name):.4f} ({secs:.1f} s)\n{changed}", fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
        if not runs:
            axes[0, 0].set_title("not run yet")
        else:
            scheme = runs[-1][1].scheme
            fig.legend(
                handles=scheme.legend_handles(include_unlabelled=True),
                loc="outside lower center",
                ncol=6,
                frameon=False,
                fontsize=8,
            )
        return fig

    def show(self):
        """Return the widget: the settings, a Run button, the last two runs side by side."""
        return _playground_widget(self)


def _playground_widget(tool: Phase2Playground):
    """Return the ipywidgets wiring of a :class:`Phase2Playground`: its controls change the tool's state and redraw its figure."""
    import ipywidgets as w

    p = tool.base  # the controls start at the notebook's settings, as the exercises do
    full = {"style": {"description_width": "initial"}}  # the whole name shown, never "median_r..."
    c = {
        "median_radius": w.IntSlider(value=p.median_radius, min=0, max=15, description="median_radius", **full),
        "use_entropy": w.Checkbox(value=p.use_entropy, description="use_entropy", **full),
        "subsample": w.FloatLogSlider(value=p.subsample, base=10, min=-3, max=0, description="subsample", **full),
        "phase2": w.ToggleButtons(options=list(PHASE2_CHOICES), value=p.phase2, description="phase2", **full),
        "recog_thresh": w.FloatSlider(value=p.recog_thresh, min=0, max=1, step=0.05, description="recog_thresh", **full),
        "min_tiles": w.IntSlider(value=p.min_tiles, min=0, max=20, description="min_tiles", **full),
    }
    button = w.Button(description="Run", button_style="primary")
    status = w.HTML()
    out = w.Output()

    def draw():
        out.clear_output(wait=True)
        with out:
            _display_figure(tool.figure())
        if tool.history:
            p, res, secs = tool.history[-1]
            status.value = f"run {len(tool.history)}: {res.phase2_name} F1 {res.f1(res.phase2_name):.4f} in {secs:.1f} s"

    def on_run(_=None):
        button.disabled = True
        status.value = "running phase 1 and phase 2..."
        try:
            tool.run(**{k: v.value for k, v in c.items()})
            draw()
        except Exception as exc:  # a bad combination of settings: say so in the widget, keep it usable
            status.value = f"<b>failed:</b> {type(exc).__name__}: {exc}"
            raise
        finally:
            button.disabled = False

    button.on_click(on_run)
    tool.controls = {**c, "run": button}
    tool.widget = w.VBox(
        [
            w.HBox([c["median_radius"], c["use_entropy"], c["subsample"]]),
            w.HBox([c["phase2"], c["recog_thresh"], c["min_tiles"]]),
            w.HBox([button, status]),
            out,
        ]
    )
    out.add_class("sscnb-picture")
    status.add_class("sscnb-status")
    tool.widget.add_class("sscnb-playground")
    from IPython.display import display

    if tool.history:
        draw()
    display(tool.widget)
    tool._on_run = on_run
    return tool.widget
