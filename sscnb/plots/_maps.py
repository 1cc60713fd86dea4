"""Figures of maps and areas.

A mapped survey, its class areas (mapped and estimated with their intervals), the CNN's confidence against the
errors, and a river before and after adaptation. Every function returns the matplotlib Figure;
:mod:`sscnb.plots` has the other figures and these names too.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from sscnb.assess._metrics import errors_by_confidence
from sscnb.data._classes import ClassScheme
from sscnb.plots._pyplot import _plt

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

__all__ = ["survey_figure", "area_bars", "estimated_area_figure", "confidence_figure", "before_after_figure"]


def survey_figure(
    image: np.ndarray, class_map: np.ndarray, scheme: ClassScheme, title: str = "", georeferenced: bool = True
) -> Figure:
    """Return an input beside its class map, with the legend.

    Parameters
    ----------
    image : (h, w, 3) ndarray of uint8
        A preview (see :func:`sscnb.data.read_preview`).
    class_map : (h', w') ndarray
        A preview of the map; no data (0) is drawn white.
    scheme : ClassScheme
    title : str
    georeferenced : bool
        False adds "pixel coordinates" to the title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(12, 5.2), constrained_layout=True)
    axes[0].imshow(image)
    axes[0].set_title("input")
    col = scheme.colorize(class_map)
    col[class_map == 0] = 255
    axes[1].imshow(col, interpolation="nearest")
    axes[1].set_title("class map")
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    present = [c for c in scheme.labelled_codes if (class_map == c).any()]
    handles = [
        h for h, c in zip(scheme.legend_handles(include_unlabelled=False), scheme.labelled_codes, strict=True) if c in present
    ]
    axes[1].legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    note = "" if georeferenced else " (not georeferenced: pixel coordinates)"
    fig.suptitle(title + note)
    return fig


def area_bars(areas: pd.DataFrame, scheme: ClassScheme, title: str = "") -> Figure:
    """Bar chart of the area per class.

    Parameters
    ----------
    areas : pandas.DataFrame
        From :func:`sscnb.data.area_table`; hectares when it has them, otherwise pixels.
    scheme : ClassScheme
    title : str

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = _plt()
    col, label = ("area_ha", "area (ha)") if "area_ha" in areas else ("pixels", "area (px)")
    fig, ax = plt.subplots(figsize=(6.5, 3.2), constrained_layout=True)
    colours = [scheme.colour(int(c)) for c in areas.code]
    ax.barh(areas["class"], areas[col], color=colours, edgecolor="0.3")
    ax.invert_yaxis()
    ax.set_xlabel(label)
    for y, (v, pct) in enumerate(zip(areas[col], areas.percent, strict=True)):
        ax.text(v, y, f"  {pct:.1f}%", va="center", fontsize=8)
    ax.set_title(title)
    ax.spines[["top", "right"]].set_visible(False)
    return fig


def estimated_area_figure(estimates: pd.DataFrame, scheme: ClassScheme, title: str = "") -> Figure:
    """Draw each class's mapped area beside its estimated area with the 95% confidence interval.

    The estimates come from :func:`sscnb.assess.estimate`; each class's user's and producer's accuracy is
    drawn with its interval too.

    Parameters
    ----------
    estimates : pandas.DataFrame
        From :func:`sscnb.assess.estimate` (its ``overall`` row is left out of the bars).
    scheme : ClassScheme
    title : str

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = _plt()
    e = estimates[estimates.class_code != "overall"]
    ha = "estimated_area_ha" in e
    scale, unit = (1e-4, "ha") if ha else (1.0, "px")
    codes = [int(c) for c in e.class_code]
    y = np.arange(len(e))
    fig, (a1, a2) = plt.subplots(
        1, 2, figsize=(11, 0.6 + 0.55 * len(e)), constrained_layout=True, gridspec_kw={"width_ratios": [1.4, 1]}
    )
    a1.barh(y - 0.2, e.mapped_area * scale, height=0.38, color="0.8", edgecolor="0.4", label="mapped (pixel count)")
    a1.barh(
        y + 0.2,
        e.estimated_area * scale,
        height=0.38,
        color=[scheme.colour(c) for c in codes],
        edgecolor="0.3",
        xerr=e.area_ci95 * scale,
        capsize=3,
        label="estimated, with 95% CI",
    )
    a1.set_yticks(y, [scheme.name(c) for c in codes])
    a1.invert_yaxis()
    a1.set_xlabel(f"area ({unit})")
    a1.legend(fontsize=8, loc="lower right")
    a1.spines[["top", "right"]].set_visible(False)
    for k, (col, ci, lab) in enumerate(
        (("users_accuracy", "users_ci95", "user's"), ("producers_accuracy", "producers_ci95", "producer's"))
    ):
        a2.errorbar(e[col], y + (k - 0.5) * 0.3, xerr=e[ci], fmt="o", capsize=3, label=lab)
    a2.set_yticks(y, [""] * len(e))
    a2.invert_yaxis()
    a2.set_xlim(0, 1.02)
    a2.set_xlabel("accuracy (95% CI)")
    a2.legend(fontsize=8, loc="lower left")
    a2.spines[["top", "right"]].set_visible(False)
    o = estimates[estimates.class_code == "overall"]
    if len(o):
        a2.set_title(f"overall accuracy {float(o.users_accuracy.iloc[0]):.3f} +- {float(o.users_ci95.iloc[0]):.3f}", fontsize=9)
    fig.suptitle(title, fontsize=10)
    return fig


def confidence_figure(
    image: np.ndarray,
    confidence: np.ndarray,
    tile: int,
    label: np.ndarray | None = None,
    final_map: np.ndarray | None = None,
    title: str = "",
    max_px: int = 900,
) -> Figure:
    """Where the CNN is unsure.

    Its top-class probability per tile over the image, and, when the labels are given, where the final map is
    wrong.

    Parameters
    ----------
    image : (H, W, 3) ndarray of uint8
    confidence : (n_rows, n_cols) ndarray of float
        Top-class probability per tile (-1 or NaN: not classified).
    tile : int, px
    label, final_map : (H, W) ndarray, optional
        Validation labels and the final map: the second panel shows the errors (labelled pixels the
        final map gets wrong), with the share of errors in low- and high-confidence tiles.
    title : str
    max_px : int, px
        Longest side drawn.

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = _plt()
    conf = np.where(np.asarray(confidence, float) < 0, np.nan, confidence)
    rows, cols = conf.shape
    step = max(1, int(np.ceil(max(image.shape[:2]) / max_px)))
    show_errors = label is not None and final_map is not None
    fig, axes = plt.subplots(
        1, 2 if show_errors else 1, figsize=(12 if show_errors else 7, 4.8), constrained_layout=True, squeeze=False
    )
    ax = axes[0, 0]
    ax.imshow(image[::step, ::step], extent=(0, image.shape[1], image.shape[0], 0))
    im = ax.imshow(
        conf, cmap="magma", vmin=0, vmax=1, alpha=0.55, interpolation="nearest", extent=(0, cols * tile, rows * tile, 0)
    )
    ax.set_xlim(0, image.shape[1])
    ax.set_ylim(image.shape[0], 0)
    ax.set_title("CNN confidence per tile (top-class probability)")
    fig.colorbar(im, ax=ax, shrink=0.8)
    if show_errors:
        lab, fin = np.asarray(label), np.asarray(final_map)
        wrong = (lab > 0) & (fin != lab)
        ax2 = axes[0, 1]
        ax2.imshow(image[::step, ::step])
        overlay = np.zeros(wrong[::step, ::step].shape + (4,), np.float32)
        overlay[wrong[::step, ::step]] = (1, 0, 0, 0.8)
        ax2.imshow(overlay)

        e = errors_by_confidence(lab, fin, conf, tile)
        text = ""
        if e["tiles"] >= 2:
            text = (
                f"errors: {100 * e['low']:.1f}% of labelled pixels in the less confident half of the tiles, "
                f"{100 * e['high']:.1f}% in the more confident half"
            )
        ax2.set_title("final map errors (red)")
        ax2.set_xlabel(text, fontsize=8)
    for a in axes.ravel():
        a.set_xticks([])
        a.set_yticks([])
    fig.suptitle(title)
    return fig


def panel_step(image, max_px: int) -> int:
    """Return the step that subsamples ``image`` to at most ``max_px`` on its long side (a panel has fewer pixels).

    Parameters
    ----------
    image : (H, W, ...) ndarray
    max_px : int, px

    Returns
    -------
    int
    """
    return max(1, int(math.ceil(max(image.shape[:2]) / max_px)))


def draw_panels(axes, panels, scheme: ClassScheme, fontsize: int = 10) -> None:
    """Draw ``(title, array, is_map)`` panels, one per axes: class maps in the scheme's colours, pixels unsmoothed.

    Parameters
    ----------
    axes : sequence of matplotlib Axes
    panels : list of (str, ndarray, bool)
    scheme : ClassScheme
    fontsize : int
        Of the titles.
    """
    cmap, norm = scheme.cmap()
    for ax, (name, arr, is_map) in zip(axes, panels, strict=True):
        if is_map:
            ax.imshow(arr, cmap=cmap, norm=norm, interpolation="nearest")
        else:
            ax.imshow(arr, interpolation="nearest")
        ax.set_title(name, fontsize=fontsize)
        ax.set_axis_off()


def before_after_figure(
    image: np.ndarray,
    label: np.ndarray,
    before: np.ndarray,
    after: np.ndarray,
    scheme: ClassScheme,
    *,
    title: str = "",
    scores: dict | None = None,
    max_px: int = 900,
) -> Figure:
    """Return a new river's image mapped by the parent model and by the adapted one, side by side.

    Parameters
    ----------
    image : (H, W, 3) ndarray of uint8
    label : (H, W) ndarray or None
        Drawn when given.
    before, after : (H, W) ndarray of uint8
        Final maps.
    scheme : ClassScheme
    title : str
    scores : dict, optional
        ``{"before": f1, "after": f1}``, written in the panel titles.
    max_px : int, px

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = _plt()
    step = panel_step(image, max_px)
    panels = [("image", image[::step, ::step], False)]
    if label is not None:
        panels.append(("labels", label[::step, ::step], True))
    for tag, m in (("before (parent model)", before), ("after (adapted model)", after)):
        s = (scores or {}).get(tag.split()[0])
        panels.append((tag + (f": F1 {s:.3f}" if s is not None and np.isfinite(s) else ""), m[::step, ::step], True))
    H, W = image.shape[:2]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 4.2 * H / W + 0.9))
    draw_panels(np.atleast_1d(axes), panels, scheme, fontsize=10)
    fig.legend(
        handles=scheme.legend_handles(include_unlabelled=True),
        loc="lower center",
        ncol=len(scheme.codes),
        fontsize=8,
        frameon=False,
    )
    if title:
        fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    return fig
