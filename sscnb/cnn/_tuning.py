"""Notebook 01's epoch recommendation on disk, and tile accuracy tables for notebook 02."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import confusion_matrix

from sscnb.data._classes import ClassScheme
from sscnb.layout import TUNING_DIR
from sscnb.provenance import json_default

__all__ = ["RECOMMENDATION_FILE", "write_recommendation", "epochs_advice", "resolve_epochs", "tile_accuracy_table"]

RECOMMENDATION_FILE = "recommended_epochs.json"


def write_recommendation(output_dir: str | Path, rec: dict, **extra: object) -> Path:
    """Write notebook 01's recommendation.

    Parameters
    ----------
    output_dir : str or Path
        The run's folder; written to ``cnn_tuning/recommended_epochs.json`` inside.
    rec : dict
        From :func:`sscnb.cnn.recommend_epochs`.
    **extra
        Recorded beside it (backbone, tile size, ...).

    Returns
    -------
    Path
    """
    p = Path(output_dir) / TUNING_DIR / RECOMMENDATION_FILE
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps({**rec, **extra}, indent=2, default=json_default) + "\n")
    return p


def epochs_advice(rec: dict, epochs_tried: int) -> str:
    """One sentence on the number of epochs, for notebook 01: the recommendation, or that the run was too short to make one.

    Parameters
    ----------
    rec : dict
        From :func:`sscnb.cnn.recommend_epochs`.
    epochs_tried : int
        The epochs of the tuning run.

    Returns
    -------
    str

    Examples
    --------
    >>> rec = {"recommended_epochs": 6, "best_epoch": 15, "diverges_from": None, "rule": "r"}
    >>> epochs_advice(rec, 15)[:60]
    'Recommended epochs: 6 (r). Validation loss was lowest at epo'
    >>> epochs_advice({**rec, "recommended_epochs": 15}, 15)[:62]
    'Validation loss was still falling at the last epoch (15): run '
    """
    n, best, rule = rec["recommended_epochs"], rec["best_epoch"], rec["rule"]
    if best is None:
        return f'No validation tiles, so no recommendation: notebook 02 with epochs = "auto" trains for all {n} epochs.'
    if n >= epochs_tried:
        return (
            f"Validation loss was still falling at the last epoch ({epochs_tried}): run again with more epochs. "
            f'Until then, notebook 02 with epochs = "auto" trains for {n}.'
        )
    text = f"Recommended epochs: {n} ({rule}). Validation loss was lowest at epoch {best}"
    if best == epochs_tried:
        text += f", the last, but it fell only a little after epoch {n}: more epochs would gain little."
    else:
        text += "."
    if rec.get("diverges_from"):
        text += (
            f" From epoch {rec['diverges_from']} it drifts away from the training loss: the CNN starts to "
            "memorise its training tiles."
        )
    return text


def resolve_epochs(epochs: int | str, output_dir: str | Path) -> tuple[int, str]:
    """Return the number of epochs notebook 02 trains for.

    Parameters
    ----------
    epochs : int or "auto"
        A number as given, or ``"auto"``: the recommendation notebook 01 wrote.
    output_dir : str or Path

    Returns
    -------
    n : int
    source : str
        Where ``n`` came from.

    Raises
    ------
    FileNotFoundError
        ``"auto"`` without notebook 01's file, saying what to run.
    """
    if isinstance(epochs, str) and epochs.strip().lower() == "auto":
        p = Path(output_dir) / TUNING_DIR / RECOMMENDATION_FILE
        if not p.exists():
            raise FileNotFoundError(
                f"epochs='auto' reads the recommendation of notebook 01 from {p}, which does not exist: "
                "run 01_cnn_tuning.ipynb with the same output_dir first, or give epochs as a number"
            )
        rec = json.loads(p.read_text())
        return int(rec["recommended_epochs"]), f"recommended by notebook 01 ({p})"
    n = int(epochs)
    if n < 1:
        raise ValueError(f"epochs must be >= 1 or 'auto', got {epochs!r}")
    return n, "given"


def tile_accuracy_table(y_true: np.ndarray, y_pred: np.ndarray, scheme: ClassScheme) -> pd.DataFrame:
    """Per-class accuracy (recall) on tiles, with counts and an ALL row.

    Parameters
    ----------
    y_true, y_pred : (n,) array_like of int
    scheme : ClassScheme

    Returns
    -------
    table : pandas.DataFrame
        ``class, tiles, correct, accuracy``.
    cm : (K, K) ndarray of int
    names : list of str
    """
    codes = [c for c in scheme.labelled_codes if (np.asarray(y_true) == c).any() or (np.asarray(y_pred) == c).any()]
    cm = confusion_matrix(y_true, y_pred, labels=codes)
    rows = []
    for i, c in enumerate(codes):
        n = cm[i].sum()
        rows.append(
            {"class": scheme.name(c), "tiles": int(n), "correct": int(cm[i, i]), "accuracy": cm[i, i] / n if n else np.nan}
        )
    n = cm.sum()
    rows.append({"class": "ALL", "tiles": int(n), "correct": int(np.trace(cm)), "accuracy": np.trace(cm) / n if n else np.nan})
    return pd.DataFrame(rows), cm, [scheme.name(c) for c in codes]
