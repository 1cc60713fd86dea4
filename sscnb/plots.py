"""Figures shared by the notebooks. Every function returns the matplotlib Figure."""
from __future__ import annotations

import math

import numpy as np

from .classes import ClassScheme

__all__ = ["label_overlay", "thumbnails", "class_bars", "save_figure"]


def _plt():
    import matplotlib

    import matplotlib.pyplot as plt  # noqa: F401 - backend chosen by the environment (inline in Jupyter)

    return matplotlib.pyplot


def label_overlay(image: np.ndarray, label: np.ndarray, scheme: ClassScheme, alpha: float = 0.45) -> np.ndarray:
    """Blend class colours over an RGB image; unlabelled pixels (0) show the image unchanged.

    ``image``: ``(H, W, 3) uint8``; ``label``: ``(H, W)`` codes. Returns ``(H, W, 3) uint8``.
    """
    col = scheme.colorize(label).astype(np.float32)
    img = image.astype(np.float32)
    a = np.where(label[..., None] > 0, alpha, 0.0)
    return np.clip(img * (1 - a) + col * a, 0, 255).astype(np.uint8)


def _thumb(arr: np.ndarray, max_px: int) -> np.ndarray:
    step = max(1, int(math.ceil(max(arr.shape[:2]) / max_px)))
    return arr[::step, ::step]


def thumbnails(items, scheme: ClassScheme, ncols: int = 3, max_px: int = 400, alpha: float = 0.45,
               title: str | None = None):
    """Grid of images with their labels overlaid and one class legend.

    ``items``: iterable of ``(name, image (H, W, 3) uint8, label (H, W) or None)``.
    """
    plt = _plt()
    items = list(items)
    n = max(1, len(items))
    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.0 * nrows + 0.8), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, (name, img, lab) in zip(axes.ravel(), items):
        im = _thumb(img, max_px)
        if lab is not None:
            im = label_overlay(im, _thumb(lab, max_px), scheme, alpha)
        ax.imshow(im, interpolation="nearest")
        ax.set_title(name if lab is not None else f"{name} (no label)", fontsize=9)
    fig.legend(handles=scheme.legend_handles(include_unlabelled=False), loc="lower center",
               ncol=min(6, len(scheme) - 1), frameon=False, fontsize=9)
    if title:
        fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig


def class_bars(table, scheme: ClassScheme, ylabel: str, title: str | None = None, log: bool = False):
    """Bar chart of a river x class table (rows: rivers, columns: class names), class colours."""
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
        bars = ax.bar(x + (i - (n_r - 1) / 2) * width, vals, width, color=colours, edgecolor="black",
                      linewidth=0.5, hatch=hatches[i % len(hatches)], label=str(river))
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


def save_figure(fig, path, dpi: int = 150):
    """Save ``fig`` as PNG (folders created); returns the path."""
    from pathlib import Path

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    return path
