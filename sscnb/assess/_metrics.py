"""Per-image accuracy: precision, recall, F1 and support per class over labelled pixels.

Pixels whose reference label is 0 (unlabelled) are ignored. A labelled pixel that a map leaves
unclassified (0) counts against recall of its true class. The support-weighted F1 ("pixel-weighted
F1") is ``sum_c F1_c * support_c / sum_c support_c``, the same as scikit-learn's
``f1_score(..., average="weighted")`` over the classes present.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from sscnb.data._tiles import crop_to_tiles, to_tiles
from sscnb.provenance import atomic_path

if TYPE_CHECKING:
    from collections.abc import Sequence


__all__ = [
    "confusion",
    "class_report",
    "report_from_confusion",
    "weighted_f1",
    "macro_f1",
    "REPORT_COLUMNS",
    "write_report",
    "read_report",
    "errors_by_confidence",
]

REPORT_COLUMNS = ["class", "precision", "recall", "f1_score", "support"]


def confusion(y_true: np.ndarray, y_pred: np.ndarray, codes: Sequence[int] | np.ndarray) -> np.ndarray:
    """Confusion counts over labelled pixels, vectorised with one ``bincount``.

    Parameters
    ----------
    y_true : (H, W) or (n,) array_like of int
        Reference labels; 0 (unlabelled) is ignored, as are codes not in ``codes``.
    y_pred : array_like of int, same shape
        A map; 0 or any code not in ``codes`` counts in the last column.
    codes : sequence of int
        The classes, in row and column order.

    Returns
    -------
    (K, K+1) ndarray of int64
        Rows: true class; columns: predicted class, then "unclassified / other".
    """
    codes = np.asarray(list(codes), np.int64)
    t = np.asarray(y_true).ravel()
    p = np.asarray(y_pred).ravel()
    if t.shape != p.shape:
        raise ValueError(f"label and map differ in size: {t.shape} vs {p.shape}")
    lut = np.full(256, len(codes), np.int64)  # anything else -> "other" column
    lut[codes] = np.arange(len(codes))
    m = t > 0
    ti = lut[t[m].astype(np.intp) & 255]
    pi = lut[p[m].astype(np.intp) & 255]
    keep = ti < len(codes)  # true codes outside ``codes`` are ignored
    k1 = len(codes) + 1
    cm = np.bincount(ti[keep] * k1 + pi[keep], minlength=len(codes) * k1)
    return cm.reshape(len(codes), k1)


def class_report(y_true: np.ndarray, y_pred: np.ndarray, codes: Sequence[int], names: dict | None = None) -> pd.DataFrame:
    """Per-class precision, recall, F1 and support over labelled pixels.

    Parameters
    ----------
    y_true, y_pred : array_like of int
        As in :func:`confusion`.
    codes : sequence of int
    names : dict or callable, optional
        Class names for the ``class`` column (codes otherwise).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`REPORT_COLUMNS`; one row per class with labelled pixels or predictions among
        labelled pixels. A labelled pixel left unclassified counts against recall.
    """
    codes = list(codes)
    return report_from_confusion(confusion(y_true, y_pred, codes), codes, names)


def report_from_confusion(cm: np.ndarray, codes: Sequence[int], names: dict | None = None) -> pd.DataFrame:
    """Return the :func:`class_report` table from a :func:`confusion` matrix.

    Confusion matrices of the parts of a map add up, so a map read in windows is scored exactly.

    Parameters
    ----------
    cm : (K, K+1) ndarray of int
    codes : sequence of int
    names : dict or callable, optional

    Returns
    -------
    pandas.DataFrame
        As :func:`class_report`.
    """
    codes = list(codes)
    tp = np.diag(cm[:, : len(codes)]).astype(float)
    support = cm.sum(axis=1).astype(float)
    predicted = cm[:, : len(codes)].sum(axis=0).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        recall = np.where(support > 0, tp / support, 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    rows = []
    for i, c in enumerate(codes):
        if support[i] == 0 and predicted[i] == 0:
            continue
        label = names[c] if isinstance(names, dict) else (names(c) if callable(names) else c)
        rows.append(
            {"class": label, "precision": precision[i], "recall": recall[i], "f1_score": f1[i], "support": int(support[i])}
        )
    return pd.DataFrame(rows, columns=REPORT_COLUMNS)


def weighted_f1(reports: pd.DataFrame | list[pd.DataFrame]) -> float:
    """Support-weighted ("pixel-weighted") F1.

    ``sum F1_c * support_c / sum support_c`` over the rows of one :func:`class_report` table, or of
    several (e.g. every image of a folder: each image's class F1 weighted by its labelled pixels,
    not an average over images).

    Parameters
    ----------
    reports : pandas.DataFrame or iterable of DataFrame

    Returns
    -------
    float
        NaN when nothing is labelled.
    """
    if not isinstance(reports, pd.DataFrame):
        reports = [r for r in reports]
        if not reports:
            return float("nan")
        reports = pd.concat(reports, ignore_index=True)
    s = reports["support"].to_numpy(float)
    return float((reports["f1_score"].to_numpy(float) * s).sum() / s.sum()) if s.sum() > 0 else float("nan")


def macro_f1(report: pd.DataFrame) -> float:
    """Unweighted mean F1 over the classes with labelled pixels.

    Every class counts the same, so a rare class is not averaged away.

    Parameters
    ----------
    report : pandas.DataFrame
        A :func:`class_report` table.

    Returns
    -------
    float
        NaN when nothing is labelled.

    Examples
    --------
    >>> import pandas as pd
    >>> r = pd.DataFrame({"class": [1, 2, 3], "f1_score": [0.9, 0.3, 0.5], "support": [900, 100, 0]})
    >>> round(macro_f1(r), 3)
    0.6
    """
    labelled = report["support"].to_numpy(float) > 0
    return float(report["f1_score"].to_numpy(float)[labelled].mean()) if labelled.any() else float("nan")


def write_report(report: pd.DataFrame, path: str | Path) -> Path:
    """Write a class report CSV, atomically (temporary name, then rename).

    Parameters
    ----------
    report : pandas.DataFrame
        With the columns :data:`REPORT_COLUMNS`.
    path : str or Path

    Returns
    -------
    Path
    """
    path = Path(path)
    with atomic_path(path) as tmp:
        report[REPORT_COLUMNS].to_csv(tmp, index=False)
    return path


def read_report(path: str | Path) -> pd.DataFrame:
    """Read a class report CSV.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    pandas.DataFrame

    Raises
    ------
    ValueError
        Naming the file when columns are missing or values are not numbers.
    """
    path = Path(path)
    try:
        df = pd.read_csv(path)
    except Exception as exc:  # noqa: BLE001
        raise ValueError(f"{path.name} cannot be read as CSV ({exc}): delete it and re-run the evaluation") from exc
    missing = [c for c in REPORT_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{path.name} lacks columns {missing}: expected {REPORT_COLUMNS}")
    if df[["precision", "recall", "f1_score", "support"]].isna().any().any():
        raise ValueError(f"{path.name} has empty values (a partial file?): delete it and re-run the evaluation")
    return df


def errors_by_confidence(label: np.ndarray, predicted: np.ndarray, confidence: np.ndarray, tile: int) -> dict:
    """Where a map is wrong, by the CNN's confidence.

    The tiles with labels, ranked by confidence and split in two halves, and the share of their labelled
    pixels the map gets wrong in each.

    Parameters
    ----------
    label, predicted : (H, W) ndarray
        Labels (0: unlabelled) and a class map.
    confidence : (n_rows, n_cols) ndarray
        Top-class probability per tile (NaN or negative: not classified; those tiles are left out).
    tile : int, px

    Returns
    -------
    dict
        ``low`` and ``high``: share of labelled pixels wrong in the less and the more confident half
        (NaN with fewer than 2 tiles), ``tiles``: the tiles ranked.

    Examples
    --------
    >>> lab = np.ones((2, 4), np.uint8)
    >>> pred = np.array([[1, 2, 1, 1], [2, 2, 1, 1]], np.uint8)   # tile 0: 3 of 4 wrong; tile 1: none
    >>> errors_by_confidence(lab, pred, np.array([[0.4, 0.9]]), 2)
    {'low': 0.75, 'high': 0.0, 'tiles': 2}
    """
    conf = np.where(np.asarray(confidence, float) < 0, np.nan, confidence).ravel()
    lab = np.asarray(label)
    wrong = (lab > 0) & (np.asarray(predicted) != lab)
    rows, cols = np.asarray(confidence).shape
    w = to_tiles(crop_to_tiles(wrong, tile), tile).reshape(rows * cols, -1).sum(axis=1)
    n = to_tiles(crop_to_tiles(lab > 0, tile), tile).reshape(rows * cols, -1).sum(axis=1)
    idx = np.flatnonzero(np.isfinite(conf) & (n > 0))
    if len(idx) < 2:
        return {"low": float("nan"), "high": float("nan"), "tiles": int(len(idx))}
    ranked = idx[np.argsort(conf[idx], kind="stable")]
    low, high = ranked[: len(ranked) // 2], ranked[len(ranked) // 2 :]
    return {"low": float(w[low].sum() / n[low].sum()), "high": float(w[high].sum() / n[high].sum()), "tiles": int(len(idx))}
