"""Figures shared by the notebooks. Every function returns the matplotlib Figure."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from sscnb.data._classes import ClassScheme
from sscnb.plots._maps import (  # the figures of maps and areas: there; their names are plots' too
    area_bars,
    before_after_figure,
    confidence_figure,
    draw_panels,
    estimated_area_figure,
    panel_step,
    survey_figure,
)
from sscnb.plots._pyplot import _plt
from sscnb.provenance import atomic_path

if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from sscnb.cnn._tilesets import TileSet

__all__ = [
    "label_overlay",
    "thumbnails",
    "class_bars",
    "save_figure",
    "tile_samples",
    "history_curves",
    "confusion_heatmap",
    "ssc_figure",
    "f1_bars",
    "f1_violins",
    "support_bars",
    "survey_figure",
    "area_bars",
    "confidence_figure",
    "before_after_figure",
    "estimated_area_figure",
]


def label_overlay(image: np.ndarray, label: np.ndarray, scheme: ClassScheme, alpha: float = 0.45) -> np.ndarray:
    """Blend class colours over an RGB image; unlabelled pixels (0) show the image unchanged.

    Parameters
    ----------
    image : (H, W, 3) ndarray of uint8
    label : (H, W) ndarray of int
    scheme : ClassScheme
    alpha : float
        Opacity of the class colours.

    Returns
    -------
    (H, W, 3) ndarray of uint8
    """
    col = scheme.colorize(label).astype(np.float32)
    img = image.astype(np.float32)
    a = np.where(label[..., None] > 0, alpha, 0.0)
    return np.clip(img * (1 - a) + col * a, 0, 255).astype(np.uint8)


def _thumb(arr: np.ndarray, max_px: int) -> np.ndarray:
    step = panel_step(arr, max_px)
    return arr[::step, ::step]


def thumbnails(
    items: list, scheme: ClassScheme, ncols: int = 3, max_px: int = 400, alpha: float = 0.45, title: str | None = None
) -> Figure:
    """Grid of images with their labels overlaid and one class legend.

    Parameters
    ----------
    items : iterable of (str, (H, W, 3) uint8 ndarray, (H, W) ndarray or None)
        Name, image and label.
    scheme : ClassScheme
    ncols : int
    max_px : int, px
        Longest side of a thumbnail.
    alpha : float
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = _plt()
    items = list(items)
    n = max(1, len(items))
    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.0 * nrows + 0.8), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, (name, img, lab) in zip(axes.ravel(), items, strict=False):  # a grid's last row may have spare axes
        im = _thumb(img, max_px)
        if lab is not None:
            im = label_overlay(im, _thumb(lab, max_px), scheme, alpha)
        ax.imshow(im, interpolation="nearest")
        ax.set_title(name if lab is not None else f"{name} (no label)", fontsize=9)
    fig.legend(
        handles=scheme.legend_handles(include_unlabelled=False),
        loc="lower center",
        ncol=min(6, len(scheme) - 1),
        frameon=False,
        fontsize=9,
    )
    if title:
        fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig


def class_bars(table: pd.DataFrame, scheme: ClassScheme, ylabel: str, title: str | None = None, log: bool = False) -> Figure:
    """Bar chart of a river x class table, in the class colours.

    Parameters
    ----------
    table : pandas.DataFrame
        Rows: rivers (and ALL); columns: class names.
    scheme : ClassScheme
    ylabel : str
    title : str, optional
    log : bool
        Logarithmic axis.

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = _plt()
    t = table.drop(index="ALL", errors="ignore")
    fig, ax = plt.subplots(figsize=(1.2 + 1.3 * len(t.columns), 3.6))
    n_r = max(1, len(t.index))
    width = 0.8 / n_r
    x = np.arange(len(t.columns))
    colours = [scheme.colour(scheme.code(c)) for c in t.columns]
    hatches = ["", "//", "..", "xx", "\\\\", "--"]
    for i, river in enumerate(t.index):
        vals = t.loc[river].to_numpy(dtype=float)
        bars = ax.bar(
            x + (i - (n_r - 1) / 2) * width,
            vals,
            width,
            color=colours,
            edgecolor="black",
            linewidth=0.5,
            hatch=hatches[i % len(hatches)],
            label=str(river),
        )
        ax.bar_label(bars, labels=[f"{int(v):,}" for v in vals], fontsize=7, padding=1)
    ax.set_xticks(x, t.columns, rotation=20, ha="right")
    ax.set_ylabel(ylabel)
    if log:
        ax.set_yscale("log")
    if n_r > 1:
        ax.legend(title="river", fontsize=8)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def save_figure(fig: Figure, path: str | Path, dpi: int = 150) -> Path:
    """Save a figure as PNG (folders created), written under a temporary name first.

    It is renamed when complete, so an interrupted save never leaves a truncated PNG.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    path : str or Path
    dpi : int

    Returns
    -------
    Path
    """
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format=path.suffix.lstrip(".") or "png")
    return path


def tile_samples(tiles: TileSet, scheme: ClassScheme, per_class: int = 8, seed: int = 0) -> Figure:
    """Grid of randomly chosen training tiles, one row per class.

    Parameters
    ----------
    tiles : TileSet
    scheme : ClassScheme
    per_class : int
    seed : int

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = _plt()
    rng = np.random.default_rng(seed)
    codes = [c for c in scheme.labelled_codes if (tiles.y == c).any()]
    fig, axes = plt.subplots(
        max(1, len(codes)), per_class, figsize=(1.1 * per_class + 1.6, 1.15 * max(1, len(codes))), squeeze=False
    )
    for ax in axes.ravel():
        ax.axis("off")
    for r, c in enumerate(codes):
        idx = np.flatnonzero(tiles.y == c)
        pick = rng.choice(idx, size=min(per_class, len(idx)), replace=False)
        for k, i in enumerate(pick):
            axes[r, k].imshow(tiles.x[i])
            for s in axes[r, k].spines.values():
                s.set_visible(True)
                s.set_color(scheme.colour(c))
                s.set_linewidth(3)
        axes[r, 0].text(
            -0.15,
            0.5,
            f"{scheme.name(c)}\n({len(idx)} tiles)",
            transform=axes[r, 0].transAxes,
            ha="right",
            va="center",
            fontsize=8,
        )
    fig.suptitle(f"Training tiles ({tiles.tile_size} x {tiles.tile_size} px, purity >= {tiles.purity:.0%})", fontsize=10)
    fig.tight_layout()
    return fig


def history_curves(history: pd.DataFrame, recommendation: dict | None = None) -> Figure:
    """Training and validation loss and accuracy per epoch, the recommended epoch marked.

    Parameters
    ----------
    history : pandas.DataFrame
        From :func:`sscnb.cnn.train`.
    recommendation : dict, optional
        From :func:`sscnb.cnn.recommend_epochs`.

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for ax, m in zip(axes, ("loss", "accuracy"), strict=True):
        ax.plot(history["epoch"], history[m], "o-", label=f"training {m}", ms=3)
        if f"val_{m}" in history:
            ax.plot(history["epoch"], history[f"val_{m}"], "s-", label=f"validation {m}", ms=3)
        if recommendation and recommendation.get("recommended_epochs"):
            ax.axvline(
                recommendation["recommended_epochs"],
                color="grey",
                ls="--",
                label=f"recommended: {recommendation['recommended_epochs']} epochs",
            )
        ax.set_xlabel("epoch")
        ax.set_ylabel(m)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def confusion_heatmap(
    cm: np.ndarray | pd.DataFrame,
    names: Sequence[str] | None = None,
    title: str = "",
    normalise: bool = True,
    ax: Axes | None = None,
    col_names: Sequence[str] | None = None,
) -> Figure:
    """Heat map of a confusion matrix (rows: true class, columns: predicted).

    Parameters
    ----------
    cm : ndarray or pandas.DataFrame
        An array (with ``names``) or a DataFrame (its index and columns are used; columns may
        include "unclassified").
    names : list of str, optional
    title : str
    normalise : bool
        Per true class (rows sum to 1), with the counts in the cells.
    ax : matplotlib.axes.Axes, optional
    col_names : list of str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = _plt()
    if hasattr(cm, "columns"):  # a DataFrame: its index and columns name the classes
        frame: Any = cm
        names, col_names, cm = list(frame.index), list(frame.columns), frame.to_numpy()
    names = list(names) if names is not None else [str(i) for i in range(len(cm))]
    col_names = col_names or names
    cm = np.asarray(cm, dtype=float)
    if ax is None:
        fig, ax = plt.subplots(figsize=(1.1 * len(col_names) + 2.5, 0.9 * len(names) + 1.8))
    else:
        fig = ax.figure
    rows = cm.sum(axis=1, keepdims=True)
    shown = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0) if normalise else cm
    im = ax.imshow(shown, cmap="Blues", vmin=0, vmax=1 if normalise else None, aspect="auto")
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            txt = f"{shown[i, j]:.2f}\n({int(cm[i, j]):,})" if normalise else f"{int(cm[i, j]):,}"
            ax.text(
                j,
                i,
                txt,
                ha="center",
                va="center",
                fontsize=7,
                color="white" if shown[i, j] > (0.6 if normalise else shown.max() * 0.6) else "black",
            )
    ax.set_xticks(range(len(col_names)), col_names, rotation=30, ha="right")
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title, fontsize=10)
    fig.colorbar(im, ax=ax, fraction=0.046, label="share of true class" if normalise else "count")
    fig.tight_layout()
    return fig


def ssc_figure(
    image: np.ndarray,
    label: np.ndarray | None,
    cnn_map: np.ndarray,
    final_map: np.ndarray,
    scheme: ClassScheme,
    *,
    f1_cnn: float | None = None,
    f1_final: float | None = None,
    phase2_name: str = "MLP",
    title: str = "",
    max_px: int = 1000,
) -> Figure:
    """Return the 4-part figure of the original method.

    Input RGB, validation labels, CNN tile classification (with its F1), final classification (with its F1),
    and one class legend.

    Rasters are subsampled to at most ``max_px`` on their long side before drawing (a figure
    panel has fewer pixels than that), so the figure takes well under a second.

    Parameters
    ----------
    image : (H, W, 3) ndarray of uint8
    label : (H, W) ndarray or None
    cnn_map, final_map : (H, W) ndarray of uint8
    scheme : ClassScheme
    f1_cnn, f1_final : float, optional
    phase2_name : str
        "MLP", "RF" or "MLPRF".
    title : str
    max_px : int, px

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = _plt()
    step = panel_step(image, max_px)
    H, W = image.shape[:2]
    fig, axes = plt.subplots(2, 2, figsize=(12, 12 * H / W * 0.92 + 1.0))
    panels = [
        ("Input image", image[::step, ::step], False),
        (
            "Validation labels" if label is not None else "No validation labels",
            label[::step, ::step] if label is not None else np.zeros((H // step + 1, W // step + 1), np.uint8),
            True,
        ),
        (
            "CNN tile classification" + (f": F1 = {f1_cnn:.3f}" if f1_cnn is not None and np.isfinite(f1_cnn) else ""),
            cnn_map[::step, ::step],
            True,
        ),
        (
            f"{phase2_name} classification"
            + (f": F1 = {f1_final:.3f}" if f1_final is not None and np.isfinite(f1_final) else ""),
            final_map[::step, ::step],
            True,
        ),
    ]
    draw_panels(axes.ravel(), panels, scheme, fontsize=11)
    fig.legend(
        handles=scheme.legend_handles(include_unlabelled=True), loc="lower center", ncol=len(scheme), frameon=False, fontsize=9
    )
    if title:
        fig.suptitle(title, fontsize=12)
    fig.tight_layout(rect=(0, 0.04, 1, 0.97 if title else 1))
    return fig


def f1_bars(summary: pd.DataFrame, phase2_name: str = "MLP") -> Figure:
    """Per-image pixel-weighted F1 of the CNN map and of the final map, side by side.

    Parameters
    ----------
    summary : pandas.DataFrame
        From :func:`sscnb.evaluation.evaluate_folder`.
    phase2_name : str

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = _plt()
    s = summary.dropna(subset=["f1_cnn", "f1_final"])
    fig, ax = plt.subplots(figsize=(max(5, 0.8 * len(s) + 2), 3.6))
    x = np.arange(len(s))
    ax.bar(x - 0.2, s.f1_cnn, 0.4, label="CNN tiles", color="#a6cee3", edgecolor="black", linewidth=0.5)
    ax.bar(x + 0.2, s.f1_final, 0.4, label=f"final ({phase2_name})", color="#1f78b4", edgecolor="black", linewidth=0.5)
    ax.set_xticks(x, s.image, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("pixel-weighted F1")
    lo = float(min(s.f1_cnn.min(), s.f1_final.min())) if len(s) else 0.0
    ax.set_ylim(max(0.0, lo - 0.1), 1.0)
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def f1_violins(compiled: pd.DataFrame, scheme: ClassScheme | None = None) -> Figure:
    """Violin plots of per-image F1 (0-1) by class, split by map type (CNN vs final).

    One panel per Sample group (and one row per river when there are several). Each point is one
    image; the violins show how F1 varies between images. Rows with no labelled pixels (a class
    mapped in an image where it was not labelled: F1 0 by definition, weight 0) are left out.

    Parameters
    ----------
    compiled : pandas.DataFrame
        From :func:`sscnb.report.compile_results`.
    scheme : ClassScheme, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    import seaborn as sns

    d = compiled[(compiled.Class != "ALL") & (compiled.Support > 0)].copy()
    order = [scheme.name(c) for c in scheme.labelled_codes if scheme.name(c) in set(d.Class)] if scheme else None
    rivers = d.RiverName.nunique()
    g = sns.catplot(
        data=d,
        x="Class",
        y="F1",
        hue="Type",
        col="Sample",
        row="RiverName" if rivers > 1 else None,
        kind="violin",
        order=order,
        cut=0,
        inner="point",
        density_norm="width",
        height=3.4,
        aspect=1.5,
        palette={"CNN": "#a6cee3", "MLP": "#1f78b4", "RF": "#33a02c", "MLPRF": "#6a3d9a"},
        linewidth=0.8,
    )
    g.set_axis_labels("", "F1")
    g.set_titles(row_template="{row_name}", col_template="{col_name}")
    for ax in g.axes.flat:
        ax.tick_params(axis="x", rotation=25)
        ax.set_ylim(top=1.005)
        ax.grid(axis="y", alpha=0.3)
    sns.move_legend(g, "upper center", bbox_to_anchor=(0.5, 1.0), ncol=3, title=None, frameon=False)
    g.figure.tight_layout(rect=(0, 0, 1, 0.95))
    return g.figure


def support_bars(compiled: pd.DataFrame, scheme: ClassScheme | None = None) -> Figure:
    """Labelled pixels per class (from the CNN rows): what the F1 figures rest on.

    Parameters
    ----------
    compiled : pandas.DataFrame
    scheme : ClassScheme, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = _plt()
    d = compiled[(compiled.Class != "ALL") & (compiled.Type == compiled.Type.iloc[0])]
    s = d.groupby("Class").Support.sum()
    if scheme is not None:
        order = [scheme.name(c) for c in scheme.labelled_codes if scheme.name(c) in s.index]
        s = s.reindex(order + [c for c in s.index if c not in order])
    colours = [scheme.colour(scheme.code(c)) if scheme is not None and c in scheme.names else "#999999" for c in s.index]
    fig, ax = plt.subplots(figsize=(1.2 * len(s) + 2, 3.4))
    bars = ax.bar(range(len(s)), s.to_numpy(), color=colours, edgecolor="black", linewidth=0.5)
    ax.bar_label(bars, labels=[f"{v / 1e6:.2f} M" if v >= 1e5 else f"{int(v):,}" for v in s.to_numpy()], fontsize=8)
    ax.set_xticks(range(len(s)), s.index, rotation=20, ha="right")
    ax.set_ylabel("labelled pixels")
    ax.set_title("Support: labelled pixels per class, all images")
    fig.tight_layout()
    return fig
