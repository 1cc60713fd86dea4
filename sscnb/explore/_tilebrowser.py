"""The tile browser: a labelled folder's tiles with the CNN's class (state and figure), and its widget."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from sscnb.cnn._files import predict_codes
from sscnb.cnn._tilesets import collect_tiles
from sscnb.data._classes import ClassScheme
from sscnb.data._pairs import find_pairs
from sscnb.explore._display import _display_figure
from sscnb.plots._figures import _plt

if TYPE_CHECKING:
    from sscnb.cnn._files import LoadedModel


class TileBrowser:
    """The tiles of a labelled folder, class by class, with what the CNN makes of them (ipywidgets).

    Parameters
    ----------
    tiles : sscnb.cnn.TileSet
        Pure tiles with their label class (e.g. :func:`sscnb.cnn.collect_tiles` of the training
        folder, the tiles notebook 02 trains on).
    scheme : ClassScheme
    cnn : LoadedModel, optional
        The CNN: each tile gets its predicted class and confidence (top-class probability). Without
        it (notebook 00, before any training) the tiles are shown with their label only.
    per_page : int
        Tiles drawn at a time.

    The selection is a class (or all), optionally only the misclassified tiles, in the order read
    or the least confident first; :meth:`summary` has the counts per class.
    """

    ORDERS = ("as read", "least confident first")

    def __init__(self, tiles, scheme: ClassScheme, cnn: LoadedModel | None = None, per_page: int = 24):
        if len(tiles) == 0:
            raise ValueError("no tile to browse")
        self.tiles = tiles
        self.scheme = scheme
        self.cnn = cnn
        self.per_page = int(per_page)
        self.predicted: np.ndarray | Any = None
        self.confidence: np.ndarray | Any = None
        self.cls: int | str = "all"
        if cnn is not None:
            if cnn.tile_size != tiles.tile_size:
                raise ValueError(
                    f"the tiles are {tiles.tile_size} px but the CNN {cnn.path.name} takes "
                    f"{cnn.tile_size} px tiles: collect them with tile_size={cnn.tile_size}"
                )
            self.predicted, proba, _ = predict_codes(cnn, None, tiles.x)
            self.confidence = proba.max(axis=1)
        present = [c for c in scheme.labelled_codes if (tiles.y == c).any()]
        self.cls = present[0] if present else "all"
        self.only_wrong = False
        self.order = self.ORDERS[0]
        self.page = 0
        self.widget: Any = None  # the ipywidgets box, once shown
        self.controls: dict = {}

    @classmethod
    def from_folder(
        cls, data_dir, scheme: ClassScheme, tile_size: int = 50, purity: float = 0.9, cnn: LoadedModel | None = None, **kw
    ) -> TileBrowser:
        """Return the pure tiles of a folder of labelled images (as notebook 02 collects them).

        Parameters
        ----------
        data_dir : str or Path
        scheme : ClassScheme
        tile_size : int, px
        purity : float
        cnn : LoadedModel, optional
        **kw
            ``per_page``.

        Returns
        -------
        TileBrowser
        """
        return cls(collect_tiles(find_pairs(data_dir), scheme, tile_size, purity, progress=False), scheme, cnn, **kw)

    @property
    def wrong(self) -> np.ndarray:
        """Per tile: the CNN's class differs from the label (all False without a CNN)."""
        if self.predicted is None:
            return np.zeros(len(self.tiles), bool)
        return self.predicted != self.tiles.y

    def hardest_first(self) -> TileBrowser:
        """Select the tiles of every class the CNN gets wrong, least confident first.

        When it gets them all right, every tile, least confident first (what notebooks 03 and 06 show).

        Returns
        -------
        TileBrowser
            Itself.
        """
        self.cls, self.order, self.page = "all", "least confident first", 0
        self.only_wrong = bool(self.wrong.any())
        return self

    def selection(self, only_wrong: bool | None = None) -> np.ndarray:
        """Return the indices of the tiles selected (class, misclassified filter, order), all pages.

        ``only_wrong`` overrides the filter.
        """
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
        rows = []
        for c in self.scheme.labelled_codes:
            m = self.tiles.y == c
            row = {"class": self.scheme.name(c), "tiles": int(m.sum())}
            if self.predicted is not None:
                n_wrong = int((self.wrong & m).sum())
                row.update(
                    misclassified=n_wrong,
                    misclassified_share=n_wrong / m.sum() if m.any() else float("nan"),
                    mean_confidence=float(self.confidence[m].mean()) if m.any() else float("nan"),
                )
            rows.append(row)
        return pd.DataFrame(rows).set_index("class")

    def _heading(self, n: int) -> str:
        what = "all classes" if self.cls == "all" else self.scheme.name(int(self.cls))
        filt = ", misclassified only" if self.only_wrong else ""
        return f"{what}{filt}: {n} tile(s), page {self.page + 1} of {self.pages} ({self.order})"

    def figure(self):
        """Return the current page of tiles.

        Each titled with its label, and with a CNN its predicted class and confidence (misclassified tiles
        framed red).
        """
        plt = _plt()
        sel = self.selection()
        self.page = min(self.page, self.pages - 1)
        page = sel[self.page * self.per_page : (self.page + 1) * self.per_page]
        ncols = 8
        nrows = max(1, -(-len(page) // ncols))
        fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * 1.35, nrows * 1.6 + 0.5), squeeze=False, constrained_layout=True)
        for ax in axes.ravel():
            ax.set_axis_off()
        wrong = self.wrong
        for ax, i in zip(axes.ravel(), page, strict=False):  # the last page may fill only part of the grid
            ax.imshow(self.tiles.x[i])
            ax.set_axis_on()
            ax.set_xticks([])
            ax.set_yticks([])
            label = self.scheme.name(self.tiles.y[i])
            if self.predicted is None:
                ax.set_title(f"{label}\n{self.tiles.image[i]}", fontsize=6)
                continue
            colour = "red" if wrong[i] else "black"
            ax.set_title(
                f"{label}\nCNN: {self.scheme.name(self.predicted[i])} {self.confidence[i]:.2f}", fontsize=6, color=colour
            )
            for side in ax.spines.values():
                side.set_color(colour)
                side.set_linewidth(2.5 if wrong[i] else 0.5)
        if not len(page):
            axes[0, 0].set_title("no tile selected", fontsize=8, loc="left")
            if self.only_wrong and self.predicted is not None:
                n = len(self.selection(only_wrong=False))
                axes[0, 0].set_title(f"none misclassified: the CNN gets all {n} of these tiles right", fontsize=8, loc="left")
        fig.suptitle(self._heading(len(sel)), fontsize=9)
        return fig

    def show(self):
        """Return the widget: class, misclassified filter, order, page, and the tiles."""
        return _browser_widget(self)


def _browser_widget(tool: TileBrowser):
    """Return the ipywidgets wiring of a :class:`TileBrowser`: its controls change the tool's state and redraw its figure."""
    import ipywidgets as w

    options = [("all", "all")] + [(tool.scheme.name(c), c) for c in tool.scheme.labelled_codes if (tool.tiles.y == c).any()]
    cls = w.Dropdown(options=options, value=tool.cls, description="class")
    wrong = w.Checkbox(value=tool.only_wrong, description="misclassified only", disabled=tool.predicted is None)
    order = w.ToggleButtons(options=list(tool.ORDERS), value=tool.order, description="order", disabled=tool.predicted is None)
    page = w.IntSlider(value=tool.page + 1, min=1, max=tool.pages, description="page")
    out = w.Output()

    def render(change=None):
        tool.cls, tool.only_wrong, tool.order = cls.value, wrong.value, order.value
        if change is not None and change["owner"] is not page:
            tool.page = 0  # a new selection starts at its first page
            with page.hold_trait_notifications():
                page.max = tool.pages
                page.value = 1
        else:
            tool.page = page.value - 1
        out.clear_output(wait=True)
        with out:
            _display_figure(tool.figure())

    for c in (cls, wrong, order, page):
        c.observe(render, names="value")
    tool.controls = {"class": cls, "misclassified only": wrong, "order": order, "page": page}
    out.add_class("sscnb-picture")
    tool.widget = w.VBox([w.HBox([cls, wrong]), order, page, out])
    tool.widget.add_class("sscnb-tile-browser")
    from IPython.display import display

    render()
    display(tool.widget)
    return tool.widget
