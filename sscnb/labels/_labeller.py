"""Label tiles of a new river: the order that helps most, one click per tile, saved at once.

:class:`LabelSession` is the labeller without a screen (its state, its order, its file);
:class:`TileLabeller` puts ipywidgets around it (notebook 07). Every click is written to the labels
CSV before the next tile shows (:func:`sscnb.labels.append_tile_label`), so nothing is lost when the
kernel dies, and a new session on the same file resumes where the last one stopped.

Orders (:func:`tile_order`), compared by ``benchmarks/adapt_benchmark.py``:

* ``least_confident``: the tiles the model is least sure of first. Alone it can skew badly: a model
  that is confidently wrong on a new river's canopy or sand never shows those tiles (a first
  experiment on Wildcat Creek got 3 water tiles of 25 this way, and a worse map than random).
* ``random``: a uniform random order.
* ``diverse``: the tiles grouped by look (k-means of their mean and spread of colour), one tile of
  each group in turn, largest groups first: every kind of surface shows up early.
* ``mixed`` (default): ``diverse``, ``least_confident`` and ``random`` picks in turn.
* ``class``: to fix one class the model maps badly (``label_class``, :func:`class_order`): the
  tiles it calls that class, least sure first, in turn with the tiles it doubts (the others, the
  likeliest to be that class first).

In ``mixed`` and ``least_confident``, the 30% of tiles likeliest to straddle two classes
(:func:`likely_mixed`) come last: such a tile is a click that teaches the model nothing. (In
``diverse`` they stay: there it measured worse.)
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image
from sklearn.cluster import KMeans

from sscnb import labels as _labels
from sscnb.cnn._files import predict_codes
from sscnb.data import _tiles as _tiles
from sscnb.data._classes import ClassScheme
from sscnb.data._geo import georeferencing_of
from sscnb.data._pairs import read_image
from sscnb.plots._figures import _plt

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from sscnb.cnn._files import LoadedModel

__all__ = [
    "ORDERS",
    "LIKELY_MIXED_LAST",
    "likely_mixed",
    "tile_order",
    "class_order",
    "LabelSession",
    "TileLabeller",
    "tile_picture",
    "labels_figure",
]

#: the orders of :func:`tile_order`; a :class:`LabelSession` also takes ``"class"`` (:func:`class_order`)
ORDERS = ("mixed", "least_confident", "random", "diverse")
_N_GROUPS = 16


def _tile_looks(x: np.ndarray) -> np.ndarray:
    """``(n, t, t, 3) uint8`` -> ``(n, 6)`` mean and standard deviation of each band."""
    f = x.reshape(len(x), -1, 3).astype(np.float32)
    return np.concatenate([f.mean(axis=1), f.std(axis=1)], axis=1)


#: the share of tiles, most likely mixed first (:func:`likely_mixed`), that the orders show last
LIKELY_MIXED_LAST = 0.3
_BLOCKS = 5  # blocks a side: 10 x 10 px blocks of a 50 px tile


def likely_mixed(x: np.ndarray) -> np.ndarray:
    """Return how likely each tile is to straddle two classes: the spread of its 5 x 5 block means.

    The blocks are 10 x 10 px in a 50 px tile. Texture (grass, ripples) averages out within a
    block; an edge between water and a bar, or a bar and vegetation, does not. On Wildcat Creek's
    labelled frames this ranks mixed tiles above pure ones with an AUC of 0.78 and 0.83 (the
    tile's own standard deviation: 0.68 and 0.78).

    Parameters
    ----------
    x : (n, t, t, 3) ndarray of uint8

    Returns
    -------
    (n,) ndarray of float
        The standard deviation of the block means, averaged over R, G and B.

    Examples
    --------
    >>> import numpy as np
    >>> half = np.zeros((1, 50, 50, 3), np.uint8); half[:, :, 25:] = 200   # two halves: likely mixed
    >>> noisy = np.random.default_rng(0).integers(0, 200, (1, 50, 50, 3)).astype(np.uint8)  # texture
    >>> (likely_mixed(half) > likely_mixed(noisy)).item()
    True
    """
    n, t = len(x), x.shape[1]
    k = min(_BLOCKS, t)
    b = t // k
    blocks = x[:, : k * b, : k * b].astype(np.float32).reshape(n, k, b, k, b, -1).mean(axis=(2, 4))
    return blocks.reshape(n, k * k, -1).std(axis=1).mean(axis=1)


def _likely_mixed_last(order: np.ndarray, x: np.ndarray, share: float = LIKELY_MIXED_LAST) -> np.ndarray:
    """Return ``order`` with its ``share`` of likeliest mixed tiles moved, in their order, to the end."""
    if len(order) < 2 or share <= 0:
        return order
    score = likely_mixed(x)
    last = np.zeros(len(score), bool)
    last[np.argsort(-score, kind="stable")[: int(round(share * len(score)))]] = True
    last &= score > score.min()  # tiles all alike: nothing to move
    return np.concatenate([order[~last[order]], order[last[order]]])


def tile_order(x: np.ndarray, confidence: np.ndarray | None = None, order: str = "mixed", seed: int = 0) -> np.ndarray:
    """Return the order in which to show tiles.

    Parameters
    ----------
    x : (n, t, t, 3) ndarray of uint8
        The candidate tiles.
    confidence : (n,) ndarray of float, optional
        The model's top-class probability of each tile (needed by ``least_confident`` and ``mixed``).
    order : {"mixed", "least_confident", "random", "diverse"}
    seed : int

    Returns
    -------
    (n,) ndarray of int
        A permutation of ``range(n)``; in ``mixed`` and ``least_confident`` the tiles of
        :data:`LIKELY_MIXED_LAST` (by :func:`likely_mixed`) come last.
    """
    n = len(x)
    if order not in ORDERS:
        raise ValueError(f"order must be one of {list(ORDERS)}, got {order!r}")
    rng = np.random.default_rng(seed)
    if n == 0:
        return np.zeros(0, np.int64)
    if order in ("least_confident", "mixed") and confidence is None:
        raise ValueError(f"the {order} order needs the model's confidence of each tile")
    if order == "random":
        return rng.permutation(n)
    if order == "least_confident":
        return _likely_mixed_last(np.lexsort((rng.random(n), np.asarray(confidence))), x)
    div = _diverse(x, rng)
    if order == "diverse":  # every look, edges too: measured better without (docs/new_river.md)
        return div
    streams = [iter(div), iter(np.lexsort((rng.random(n), np.asarray(confidence)))), iter(rng.permutation(n))]
    out: list[int] = []
    seen = np.zeros(n, bool)
    k = 0
    while len(out) < n:
        for i in streams[k % 3]:
            if not seen[i]:
                seen[i] = True
                out.append(int(i))
                break
        k += 1
    return _likely_mixed_last(np.asarray(out, np.int64), x)


def class_order(predicted: np.ndarray, class_proba: np.ndarray, code: int, seed: int = 0) -> np.ndarray:
    """Return the order in which to show tiles to fix one class.

    The tiles the model calls ``code``, least sure of it first (its likeliest false alarms), in turn
    with the tiles it calls something else, the likeliest to be ``code`` first (its likeliest
    misses); when one list is used up, the other goes on. Ties are broken at random.

    Parameters
    ----------
    predicted : (n,) ndarray of int
        The model's class of each tile.
    class_proba : (n,) ndarray of float
        The model's probability of ``code`` for each tile.
    code : int
        The class to fix.
    seed : int

    Returns
    -------
    (n,) ndarray of int
        A permutation of ``range(n)``.

    Examples
    --------
    >>> import numpy as np
    >>> class_order(np.array([2, 1, 2, 1, 3]), np.array([0.9, 0.4, 0.6, 0.1, 0.2]), 2).tolist()
    [2, 1, 0, 4, 3]
    """
    rng = np.random.default_rng(seed)
    predicted, class_proba = np.asarray(predicted), np.asarray(class_proba, np.float64)
    called = np.flatnonzero(predicted == code)
    others = np.flatnonzero(predicted != code)
    called = called[np.lexsort((rng.random(len(called)), class_proba[called]))]
    others = others[np.lexsort((rng.random(len(others)), -class_proba[others]))]
    out = [int(i) for pair in zip(called, others, strict=False) for i in pair]
    k = min(len(called), len(others))
    out += [int(i) for i in called[k:]] + [int(i) for i in others[k:]]
    return np.asarray(out, np.int64)


def _diverse(x: np.ndarray, rng) -> np.ndarray:
    n = len(x)
    f = _tile_looks(x)
    f = (f - f.mean(axis=0)) / (f.std(axis=0) + 1e-6)
    k = min(_N_GROUPS, len(np.unique(f.round(4), axis=0)))
    groups = KMeans(k, n_init=3, random_state=int(rng.integers(1 << 31))).fit_predict(f)
    members = [rng.permutation(np.flatnonzero(groups == g)) for g in np.argsort(-np.bincount(groups, minlength=k))]
    out: list = []
    depth = 0
    while len(out) < n:
        for m in members:
            if depth < len(m):
                out.append(int(m[depth]))
        depth += 1
    return np.asarray(out, np.int64)


def tile_picture(image: np.ndarray, row: int, col: int, tile: int, margin: int | None = None) -> np.ndarray:
    """Return a tile with a margin of context around it and its square outlined.

    Parameters
    ----------
    image : (H, W, 3) ndarray of uint8
    row, col : int
        The tile's place in the grid.
    tile : int, px
    margin : int, px, optional
        Default: one tile on each side.

    Returns
    -------
    (h, w, 3) ndarray of uint8
        The context, cut at the image's edges, with a 2 px yellow outline around the tile.
    """
    m = tile if margin is None else int(margin)
    H, W = image.shape[:2]
    y0, x0 = max(0, row * tile - m), max(0, col * tile - m)
    y1, x1 = min(H, (row + 1) * tile + m), min(W, (col + 1) * tile + m)
    pic = image[y0:y1, x0:x1].copy()
    ty, tx = row * tile - y0, col * tile - x0
    yellow = np.array([255, 220, 0], np.uint8)
    for d in (-2, -1):
        for yy in (ty + d, ty + tile - 1 - d):
            if 0 <= yy < pic.shape[0]:
                pic[yy, max(0, tx - 2) : tx + tile + 2] = yellow
        for xx in (tx + d, tx + tile - 1 - d):
            if 0 <= xx < pic.shape[1]:
                pic[max(0, ty - 2) : ty + tile + 2, xx] = yellow
    return pic


class LabelSession:
    """The labeller's state: the tiles of some images in an order, and a labels file.

    Parameters
    ----------
    images : dict of str to Path
        :func:`sscnb.labels.image_index` of the new river's images.
    labels_path : str or Path
        The labels CSV: read when it exists (the session resumes: tiles already labelled or skipped
        are not shown again), written after every click. For a georeferenced image, a GeoPackage of
        its labelled tile squares is written beside it too (:meth:`squares_path`), for QGIS.
    cnn : sscnb.cnn.LoadedModel, optional
        The model whose confidence orders the tiles (and whose class the picture names); needed by
        the ``least_confident`` and ``mixed`` orders.
    tile_size : int, px, optional
        Default: the model's.
    order : str
        See :func:`tile_order`; ``"class"`` needs ``label_class`` and the CNN (:func:`class_order`).
    seed : int
    max_tiles_per_image : int, optional
        Candidates per image (a random subset of its grid) to keep ordering fast on large images.
    label_class : int or str, optional
        The class to fix (code or name) with ``order="class"``.
    """

    def __init__(
        self,
        images: dict,
        labels_path,
        cnn: LoadedModel | None = None,
        tile_size: int | None = None,
        order: str = "mixed",
        seed: int = 0,
        max_tiles_per_image: int | None = 4000,
        progress: bool = False,
        label_class: int | str | None = None,
    ):
        if not images:
            raise _labels.LabelError("no image to label: give the new river's images (a folder or files)")
        if not tile_size:
            if cnn is None:
                raise _labels.LabelError("give the CNN (cnn) or the tile size (tile_size) the tiles are labelled at")
            tile_size = cnn.tile_size
        self.cnn = cnn
        self.tile = int(tile_size)
        self.scheme: ClassScheme = cnn.scheme if cnn is not None else ClassScheme.default()
        self.images = dict(images)
        self.path = Path(labels_path)
        self.table = (
            _labels.read_tile_labels(self.path, self.scheme, self.tile, self.images)
            if self.path.exists()
            else _labels.empty_labels()
        )
        self._pixels = {name: read_image(p) for name, p in self.images.items()}

        self._georef = {}
        for name, p in self.images.items():
            raster = georeferencing_of(p)
            self._georef[name] = bool(raster.georeferenced and raster.crs is not None)
        rng = np.random.default_rng(seed)
        ids, xs = [], []
        for name, img in self._pixels.items():
            grid = _tiles.grid_shape(img.shape, self.tile)
            n = grid[0] * grid[1]
            pick = np.arange(n)
            if max_tiles_per_image and n > max_tiles_per_image:
                pick = np.sort(rng.choice(n, max_tiles_per_image, replace=False))
            t = _tiles.to_tiles(img, self.tile)[pick]
            xs.append(t)
            ids += [(name, int(i // grid[1]), int(i % grid[1])) for i in pick]
        x = np.concatenate(xs)
        self.candidates = ids
        conf: np.ndarray | None = None
        self.predicted: list[int | None] = [None] * len(ids)
        proba: np.ndarray | None = None
        classes: np.ndarray | None = None
        if cnn is not None:
            codes, proba, classes = predict_codes(cnn, None, x)
            conf = proba.max(axis=1)
            self.predicted = [int(c) for c in codes]
        self.confidence = conf
        self.order = order
        if order not in (*ORDERS, "class"):
            raise ValueError(f"order must be one of {[*ORDERS, 'class']}, got {order!r}")
        if order == "class":
            if proba is None or classes is None:
                raise _labels.LabelError('the "class" order needs the model (cnn): its view of the class orders the tiles')
            code = self._class_to_fix(label_class, classes)
            of_class = proba[:, list(classes).index(code)]
            self.queue = [int(i) for i in class_order(np.asarray(self.predicted), of_class, code, seed)]
        else:
            self.queue = [int(i) for i in tile_order(x, conf, order, seed)]
        self._pos = 0

    def _class_to_fix(self, label_class, classes) -> int:
        """Return the code of ``label_class`` (a code or a name), one the CNN predicts, or say why not."""
        if label_class is None:
            raise _labels.LabelError('the "class" order needs label_class: the class to fix, e.g. "dry sediment"')
        known = dict(zip(self.scheme.labelled_codes, map(self.scheme.name, self.scheme.labelled_codes), strict=True))
        code = label_class if label_class in known else next((c for c, n in known.items() if n == label_class), None)
        if code is None:
            raise _labels.LabelError(f"label_class {label_class!r} is neither a class name nor a code: {known}")
        if code not in [int(c) for c in classes]:
            raise _labels.LabelError(
                f"the model has no class {known[code]!r} to fix: label tiles of it in the diverse or mixed order instead"
            )
        return int(code)

    # -- state -------------------------------------------------------------------------------------
    def _done(self) -> set:
        return set(zip(self.table.image, self.table.tile_row.astype(int), self.table.tile_col.astype(int), strict=True))

    def current(self):
        """``(image, tile_row, tile_col)`` of the tile to label now, or None when every tile is done."""
        done = self._done()
        while self._pos < len(self.queue):
            t = self.candidates[self.queue[self._pos]]
            if t not in done:
                return t
            self._pos += 1
        return None

    def label(self, code: int):
        """Label the current tile, save the file, and move on; return the next tile (or None).

        ``code`` is a class code, :data:`~sscnb.labels.MIXED` or :data:`~sscnb.labels.SKIP`.
        """
        t = self.current()
        if t is None:
            raise _labels.LabelError("every candidate tile is labelled already")
        allowed = set(self.scheme.labelled_codes) | {_labels.MIXED, _labels.SKIP}
        if int(code) not in allowed:
            raise _labels.LabelError(f"class code {code} is not in the class scheme {sorted(allowed)}")
        self.table = _labels.append_tile_label(self.path, self.table, t[0], t[1], t[2], int(code), self.tile)
        if self._georef.get(t[0]):
            _labels.write_tile_squares(
                self.squares_path(t[0]), self.table[self.table.image == t[0]], self.images[t[0]], self.tile, self.scheme
            )
        self._pos += 1
        return self.current()

    def squares_path(self, image: str) -> Path:
        """Return the GeoPackage of an image's labelled tile squares, beside the labels file (georeferenced images only).

        ``<labels file stem>_<image>.gpkg``.
        """
        return self.path.with_name(f"{self.path.stem}_{image}.gpkg")

    def counts(self) -> dict:
        """Labels so far per class name (``mixed`` and ``skipped`` included)."""
        names = {int(c): self.scheme.name(int(c)) for c in self.scheme.labelled_codes}
        names.update({_labels.MIXED: "mixed", _labels.SKIP: "skipped"})
        vc = self.table.class_code.value_counts()
        return {names[c]: int(vc.get(c, 0)) for c in [*self.scheme.labelled_codes, _labels.MIXED, _labels.SKIP]}

    def picture(self, margin: int | None = None):
        """Return the current tile in its context (:func:`tile_picture`), or None."""
        t = self.current()
        if t is None:
            return None
        return tile_picture(self._pixels[t[0]], t[1], t[2], self.tile, margin)

    def describe(self) -> str:
        """One line on the current tile: where it is, what the model says."""
        t = self.current()
        if t is None:
            return f"all {len(self.queue)} candidate tiles are done"
        i = self.queue[self._pos]
        what = ""
        code = self.predicted[i]
        if code is not None and self.confidence is not None:
            what = f"; the model says {self.scheme.name(code)} ({self.confidence[i]:.0%} sure)"
        return f"{t[0]}, tile row {t[1]}, column {t[2]} ({len(self.table)} labelled so far){what}"


class _ClickLabeller:
    """What the tile and point labellers share.

    A picture, a caption, one button per class (in its colour) plus ``extra`` buttons, counts; a click labels,
    saves (the session does) and shows the next. ``session`` has ``scheme``, ``label(code)``, ``picture()``,
    ``describe()``, ``counts()``.
    """

    def __init__(self, session, scale: int, width_px: int, extra, css_class: str):
        import ipywidgets as W

        self.session = session
        self.scale = int(scale)
        sch = session.scheme
        self.picture = W.Image(format="png", layout=W.Layout(width=f"{width_px}px"))
        self.caption = W.HTML()
        self.counts = W.HTML()
        buttons = []
        for c in sch.labelled_codes:
            b = W.Button(description=sch.name(c), tooltip=f"class {c}", layout=W.Layout(width="auto"))
            b.style.button_color = sch.colour(c)
            b.on_click(lambda _b, c=c: self.click(c))
            buttons.append(b)
        for text, code in extra:
            b = W.Button(description=text, layout=W.Layout(width="auto"))
            b.on_click(lambda _b, code=code: self.click(code))
            buttons.append(b)
        self.buttons = buttons
        self.widget = W.VBox([self.caption, self.picture, W.HBox(buttons), self.counts], layout=W.Layout(width="100%"))
        self.widget.add_class(css_class)
        self.refresh()

    def click(self, code: int):
        """Label the current item, save, show the next: what a button does."""
        self.session.label(code)
        self.refresh()

    def refresh(self):
        pic = self.session.picture()
        self.caption.value = f"<b>{self.session.describe()}</b>"
        self.counts.value = "labelled: " + ", ".join(f"{k} {v}" for k, v in self.session.counts().items())
        if pic is None:
            for b in self.buttons:
                b.disabled = True
            return
        im = Image.fromarray(pic).resize((pic.shape[1] * self.scale, pic.shape[0] * self.scale), Image.Resampling.NEAREST)
        buf = io.BytesIO()
        im.save(buf, format="PNG")
        self.picture.value = buf.getvalue()

    def show(self):
        """Display the widget (what :func:`sscnb.explore.show_tool` calls)."""
        from IPython.display import display

        display(self.widget)


class TileLabeller(_ClickLabeller):
    """The labeller as ipywidgets: the tile in its context, one button per class, "mixed", "skip", counts per class.

    Every click is saved at once (see :class:`LabelSession`).

    Parameters
    ----------
    session : LabelSession
    scale : int
        The picture is shown this many times larger than the image's pixels.
    """

    def __init__(self, session: LabelSession, scale: int = 3):
        super().__init__(
            session, scale, 3 * session.tile * int(scale), (("mixed", _labels.MIXED), ("skip", _labels.SKIP)), "sscnb-labeller"
        )

    def figure(self):
        """Return the static view: the current tile in its context, and each image's labelled tiles.

        Each labelled tile is outlined in its class colour (mixed: white, skipped: black).
        """
        return labels_figure(self.session)


def labels_figure(session: LabelSession, max_px: int = 900) -> Figure:
    """Return the labels of a session as a figure.

    The tile to label next, and every image with its labelled tiles outlined in their class colour (mixed:
    white, skipped: black).

    Parameters
    ----------
    session : LabelSession
    max_px : int, px
        Images are drawn subsampled to at most this on their long side.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.patches import Rectangle

    plt = _plt()
    names = list(session.images)
    fig, axes = plt.subplots(
        1, len(names) + 1, figsize=(4 + 5 * len(names), 4.5), gridspec_kw={"width_ratios": [0.8] + [1.6] * len(names)}
    )
    axes = np.atleast_1d(axes)
    pic = session.picture()
    if pic is not None:
        axes[0].imshow(pic)
        axes[0].set_title("next tile (yellow square)", fontsize=9)
    else:
        axes[0].text(0.5, 0.5, "every tile is labelled", ha="center", va="center")
    axes[0].set_axis_off()
    sch, T = session.scheme, session.tile
    colours = {int(c): sch.colour(int(c)) for c in sch.labelled_codes}
    colours.update({_labels.MIXED: "#ffffff", _labels.SKIP: "#000000"})
    for ax, name in zip(axes[1:], names, strict=True):
        img = session._pixels[name]
        step = max(1, int(np.ceil(max(img.shape[:2]) / max_px)))
        ax.imshow(img[::step, ::step])
        t = session.table[session.table.image == name]
        for r, c, code in zip(t.tile_row, t.tile_col, t.class_code, strict=True):
            ax.add_patch(
                Rectangle(
                    (c * T / step, r * T / step),
                    T / step,
                    T / step,
                    fill=False,
                    edgecolor=colours.get(int(code), "#ff00ff"),
                    linewidth=1.5,
                )
            )
        ax.set_title(f"{name}: {len(t)} tiles labelled", fontsize=9)
        ax.set_axis_off()
    counts = session.counts()
    fig.suptitle("labels so far: " + ", ".join(f"{k} {v}" for k, v in counts.items() if v), fontsize=10)
    fig.tight_layout()
    return fig
