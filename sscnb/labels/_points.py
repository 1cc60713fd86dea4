"""Label the points of an accuracy sample (notebook 08).

Each point in its context on the image, one click per class, saved at once.

:class:`PointSession` is the labeller without a screen: the ``points.csv`` that
:func:`sscnb.assess.draw_sample` wrote, the image the map was made from, and the point to label
now. Every click rewrites ``points.csv`` atomically (flushed to disk) before the next point shows,
so nothing is lost when the kernel dies, and a new session on the same file resumes. In the
file, ``reference_class`` is -1 for a point not labelled yet and 0 for one the person could not
tell (it is left out of the estimates, and counted). :class:`PointLabeller` puts ipywidgets around
it. The points are shown in a shuffled order (seeded), and the map's class is not shown: a person
who sees it tends to agree with it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from rasterio.windows import Window

from sscnb.assess._estimate import POINT_COLUMNS, AssessError
from sscnb.data._classes import ClassScheme
from sscnb.data._geo import open_raster, read_preview
from sscnb.labels._labeller import _ClickLabeller
from sscnb.plots._figures import _plt
from sscnb.provenance import write_text

if TYPE_CHECKING:
    from collections.abc import Callable

    from matplotlib.figure import Figure

__all__ = ["NOT_LABELLED", "CANNOT_TELL", "PointSession", "PointLabeller", "point_picture", "points_figure"]

NOT_LABELLED = -1
CANNOT_TELL = 0


def point_picture(image_reader: Callable, row: int, col: int, margin: int = 40) -> np.ndarray:
    """Return the pixels around a point, with a cross-hair that leaves the point's pixel visible.

    Parameters
    ----------
    image_reader : callable
        ``image_reader(r0, r1, c0, c1)`` returns those rows and columns as ``(h, w, 3) uint8``,
        cut at the image's edges.
    row, col : int
    margin : int, px

    Returns
    -------
    (h, w, 3) ndarray of uint8
    """
    r0, c0 = row - margin, col - margin
    pic, (rr0, cc0) = image_reader(r0, row + margin + 1, c0, col + margin + 1)
    pic = pic.copy()
    y, x = row - rr0, col - cc0
    yellow = np.array([255, 220, 0], np.uint8)
    gap = 2
    for d in range(gap + 1, min(margin, gap + 12)):
        for yy, xx in ((y - d, x), (y + d, x), (y, x - d), (y, x + d)):
            if 0 <= yy < pic.shape[0] and 0 <= xx < pic.shape[1]:
                pic[yy, xx] = yellow
    return pic


class PointSession:
    """The point labeller's state.

    Parameters
    ----------
    points_path : str or Path
        The sample's ``points.csv`` (:data:`sscnb.assess.POINT_COLUMNS`).
    image_path : str or Path
        The image the map was made from (same grid).
    scheme : ClassScheme, optional
    seed : int
        The order in which the points are shown.
    margin : int, px
        Context shown on each side of a point.
    """

    def __init__(self, points_path, image_path, scheme=None, seed: int = 0, margin: int = 40):
        self.path = Path(points_path)
        if not self.path.exists():
            raise AssessError(f"{self.path} does not exist: draw the sample first (sscnb assess --n N, or notebook 08)")
        self.table = pd.read_csv(self.path)
        missing = [c for c in POINT_COLUMNS if c not in self.table.columns]
        if missing:
            raise AssessError(f"{self.path} lacks the column(s) {missing}: it is not a points.csv of sscnb assess")
        self.image_path = Path(image_path)
        self.scheme = scheme or ClassScheme.default()
        self.margin = int(margin)

        with open_raster(self.image_path) as ds:
            self.shape = (ds.height, ds.width)
        if (self.table.row >= self.shape[0]).any() or (self.table.col >= self.shape[1]).any():
            raise AssessError(
                f"points of {self.path} fall outside {self.image_path.name} "
                f"({self.shape[1]} x {self.shape[0]} px): give the image the map was made from"
            )
        self.order = np.random.default_rng(seed).permutation(len(self.table))

    def _read(self, r0, r1, c0, c1):
        H, W = self.shape
        r0, c0 = max(0, r0), max(0, c0)
        r1, c1 = min(H, r1), min(W, c1)
        with open_raster(self.image_path) as ds:
            a = ds.read(indexes=[1, 2, 3], window=Window(c0, r0, c1 - c0, r1 - r0))
        return np.moveaxis(a, 0, -1).astype(np.uint8, copy=False), (r0, c0)

    def current(self):
        """Return the index (in ``points.csv``) of the point to label now, or None when all are labelled."""
        todo = self.table.reference_class.to_numpy()[self.order] == NOT_LABELLED
        return int(self.order[np.argmax(todo)]) if todo.any() else None

    def label(self, code: int):
        """Give the current point a class (or :data:`CANNOT_TELL`), save, and move on.

        Parameters
        ----------
        code : int

        Returns
        -------
        int or None
            The next point.
        """
        i = self.current()
        if i is None:
            raise AssessError("every point is labelled already")
        allowed = set(self.scheme.labelled_codes) | {CANNOT_TELL}
        if int(code) not in allowed:
            raise AssessError(f"class code {code} is not in the class scheme {sorted(allowed)}")
        self.table.loc[i, "reference_class"] = int(code)
        write_text(self.path, self.table[POINT_COLUMNS].to_csv(index=False), sync=True)
        return self.current()

    def counts(self) -> dict:
        """Points labelled so far per class name, ``cannot tell`` and ``to do``."""
        vc = self.table.reference_class.value_counts()
        out = {self.scheme.name(int(c)): int(vc.get(c, 0)) for c in self.scheme.labelled_codes}
        out["cannot tell"] = int(vc.get(CANNOT_TELL, 0))
        out["to do"] = int(vc.get(NOT_LABELLED, 0))
        return out

    def picture(self):
        """Return the current point in its context (:func:`point_picture`), or None."""
        i = self.current()
        if i is None:
            return None
        return point_picture(self._read, int(self.table.row[i]), int(self.table.col[i]), self.margin)

    def describe(self) -> str:
        """Return the caption: which point of how many, and where it is."""
        i = self.current()
        done = int((self.table.reference_class != NOT_LABELLED).sum())
        if i is None:
            return f"all {len(self.table)} points are labelled"
        return (
            f"point {done + 1} of {len(self.table)}: row {int(self.table.row[i])}, column "
            f"{int(self.table.col[i])} - what is under the centre of the cross?"
        )


class PointLabeller(_ClickLabeller):
    """The point labeller as ipywidgets: the point in its context, one button per class and "cannot tell", counts.

    Every click is saved at once (see :class:`PointSession`).

    Parameters
    ----------
    session : PointSession
    scale : int
        The picture is shown this many times larger than the image's pixels.
    """

    def __init__(self, session: PointSession, scale: int = 4):
        super().__init__(
            session, scale, (2 * session.margin + 1) * int(scale), (("cannot tell", CANNOT_TELL),), "sscnb-point-labeller"
        )

    def figure(self):
        """Return the static view (:func:`points_figure`)."""
        return points_figure(self.session)


def points_figure(session: PointSession, max_px: int = 900) -> Figure:
    """Return the sample as a figure.

    The point to label next, and the image with every point, coloured by its reference class (white: not
    labelled yet; black: cannot tell).

    Parameters
    ----------
    session : PointSession
    max_px : int, px
        The image is drawn subsampled to at most this on its long side.

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(11, 5), gridspec_kw={"width_ratios": [0.7, 1.6]})
    pic = session.picture()
    if pic is not None:
        axes[0].imshow(pic)
        axes[0].set_title("next point (centre of the cross)", fontsize=9)
    else:
        axes[0].text(0.5, 0.5, "every point is labelled", ha="center", va="center")
    axes[0].set_axis_off()
    prev = read_preview(session.image_path, max_px)
    H, W = session.shape
    axes[1].imshow(prev[..., :3], extent=(0, W, H, 0))
    t = session.table
    sch = session.scheme
    colour = {int(c): sch.colour(int(c)) for c in sch.labelled_codes}
    colour.update({NOT_LABELLED: "#ffffff", CANNOT_TELL: "#000000"})
    axes[1].scatter(
        t.col, t.row, s=12, c=[colour.get(int(c), "#ff00ff") for c in t.reference_class], edgecolors="#333333", linewidths=0.4
    )
    axes[1].set_title(f"{session.image_path.name}: {len(t)} points", fontsize=9)
    axes[1].set_axis_off()
    fig.suptitle("labelled: " + ", ".join(f"{k} {v}" for k, v in session.counts().items() if v), fontsize=10)
    fig.tight_layout()
    return fig
