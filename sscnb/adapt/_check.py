"""Did adaptation help? A new river's images mapped by the parent model and by the adapted one.

The user's tile labels, where there are some, train phase 2 and judge it (:func:`judge_grid`,
:class:`sscnb.phase2.PixelLabels`); the label rasters, where there are some, score both maps (:func:`before_after`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from sscnb.assess import _metrics as metrics
from sscnb.data._pairs import read_pair
from sscnb.data._tiles import grid_shape
from sscnb.params import SSCParams
from sscnb.phase2._choose import PixelLabels
from sscnb.ssc import classify_image

if TYPE_CHECKING:
    from sscnb.cnn._files import LoadedModel

__all__ = ["judge_grid", "before_after"]


def judge_grid(table: pd.DataFrame, image: str, grid: tuple[int, int]) -> np.ndarray:
    """Return the user's labels of one image as a tile grid (class codes; 0 where none, mixed or skipped).

    Parameters
    ----------
    table : pandas.DataFrame
        Tile labels (:data:`sscnb.labels.COLUMNS`).
    image : str
    grid : (n_rows, n_cols)

    Returns
    -------
    (n_rows, n_cols) ndarray of int64
    """
    g = np.zeros(grid, np.int64)
    if table is None:
        return g
    t = table[(table.image == image) & (table.class_code > 0)]
    g[t.tile_row.to_numpy(), t.tile_col.to_numpy()] = t.class_code.to_numpy()
    return g


def before_after(
    records: list,
    parent: LoadedModel,
    adapted: LoadedModel,
    params: SSCParams | None = None,
    labels_table: pd.DataFrame | None = None,
    progress: bool = True,
) -> tuple[pd.DataFrame, dict]:
    """Map the new river's images with the parent and the adapted model, side by side.

    Parameters
    ----------
    records : list of sscnb.data.ImageRecord
        The images (scored where they have a label raster).
    parent, adapted : sscnb.cnn.LoadedModel
    params : sscnb.params.SSCParams, optional
    labels_table : pandas.DataFrame, optional
        The user's tile labels: on the images they cover, the adapted model's phase 2 learns from them
        and they judge it (:func:`sscnb.phase2.choose_phase2`). The parent's map ("before") is the
        map the user had before labelling: without them.
    progress : bool

    Returns
    -------
    table : pandas.DataFrame
        One row per image and model: ``image, model`` (``before``/``after``), ``labelled_tiles``,
        ``f1_cnn``, ``f1_final`` (pixel-weighted over the label raster's labelled pixels; NaN
        without one), ``macro_f1_final``, ``phase2`` (what phase 2 chose) and ``why``.
    results : dict
        ``{image: {"before": SSCResult, "after": SSCResult, "image": (H, W, 3), "label": (H, W) or None}}``.
    """
    p = params or SSCParams()
    scheme = adapted.scheme
    codes = list(scheme.labelled_codes)
    names = {c: scheme.name(c) for c in scheme.codes}
    rows: list[dict] = []
    results: dict[str, dict] = {}
    for rec in tqdm(records, desc="mapping before and after", disable=not progress):
        img, lab = read_pair(rec, scheme, adapted.tile_size)
        judge = judge_grid(labels_table, rec.name, grid_shape(img.shape, adapted.tile_size))
        results[rec.name] = {"image": img, "label": lab}
        # before: the parent's map as the user had it, without labels; after: the adapted CNN, and phase 2
        # learning from the labels it learnt
        mine = PixelLabels.from_tile_grid(judge, adapted.tile_size, learnt=True) if judge.any() else None
        for tag, model in (("before", parent), ("after", adapted)):
            res = classify_image(img, model, p, labels=mine if tag == "after" else None, name=rec.name)
            results[rec.name][tag] = res
            row = {
                "image": rec.name,
                "model": tag,
                "labelled_tiles": int((judge > 0).sum()),
                "f1_cnn": np.nan,
                "f1_final": np.nan,
                "macro_f1_final": np.nan,
            }
            if lab is not None and (lab > 0).any():
                rc = metrics.class_report(lab, res.cnn_map, codes, names)
                rf = metrics.class_report(lab, res.final_map, codes, names)
                row.update(f1_cnn=metrics.weighted_f1(rc), f1_final=metrics.weighted_f1(rf), macro_f1_final=metrics.macro_f1(rf))
                for _, r in rf.iterrows():
                    if r["support"] > 0:
                        row[f"F1 {r['class']}"] = r["f1_score"]
            row.update(phase2=res.info.get("phase2_choice"), why=res.info.get("phase2_reason"))
            rows.append(row)
    return pd.DataFrame(rows), results
