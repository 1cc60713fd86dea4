"""The forest's class of each pixel, its trees walked only while they can still change it.

Phase 2's random forest averages the class probabilities of its ``T`` trees, and ``"mlp_rf"`` blends that
average with the MLP's (the MLP weighing ``w``). Each tree's probabilities lie in [0, 1], so once ``k``
trees are summed, the ``T - k`` left can move the blend's margin between any two classes by at most
``(1 - w) (T - k) / T``. A pixel whose lead over every other class is already larger keeps its class
whatever those trees say: :func:`forest_codes` walks the trees in stages and stops, pixel by pixel,
where the class is settled. The classes are those of the whole forest (tested against
``predict_proba``); only the work changes. On a river image most pixels are water or vegetation
that the MLP and the first trees agree on, and they leave after a quarter of the trees.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from sscnb.phase2._features import _on_every_core

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

__all__ = ["forest_codes"]

#: the shares of the trees after which the pixels whose class is settled leave
STAGES = (0.25, 0.5, 0.75)
#: a settled pixel's lead must exceed the bound by this much: the float32 blend of the full forest
#: (``PixelClassifier.predict_proba_rows``) rounds at about 1e-7
SAFETY = 1e-6
#: rows per job of the thread pool
CHUNK = 1 << 16


def _tree_proba(tree, z: np.ndarray) -> np.ndarray:
    """Return one fitted tree's class probabilities of rows ``z`` (float32), as ``tree.predict_proba`` gives them."""
    p = tree.tree_.predict(z)
    norm = p.sum(axis=1, keepdims=True)
    norm[norm == 0.0] = 1.0
    return p / norm


def _blend(first: np.ndarray | None, weight: float, acc: np.ndarray, n_trees: int) -> np.ndarray:
    """Return the blend that ``PixelClassifier.predict_proba_rows`` computes, in float32, of the summed trees ``acc``."""
    forest = (acc / n_trees).astype(np.float32)
    if first is None:
        return forest
    return np.float32(weight) * first + np.float32(1 - weight) * forest


def _chunk_codes(trees: list, z: np.ndarray, first: np.ndarray | None, weight: float, n_classes: int) -> np.ndarray:
    """Return the class index of each row of ``z``: :func:`forest_codes` for one block of rows."""
    T = len(trees)
    stops = sorted({max(1, round(T * s)) for s in STAGES if round(T * s) < T} | {T})
    out = np.empty(len(z), np.int64)
    idx = np.arange(len(z))
    acc = np.zeros((len(z), n_classes))
    lead = np.zeros((len(z), n_classes)) if first is None else weight * first.astype(np.float64)
    done = 0
    for stop in stops:
        for tree in trees[done:stop]:
            acc += _tree_proba(tree, z)
        done = stop
        if stop == T:
            out[idx] = _blend(first, weight, acc, T).argmax(axis=1)
            break
        b = lead + (1 - weight) / T * acc
        top2 = np.partition(b, -2, axis=1)[:, -2:]
        settled = top2[:, 1] - top2[:, 0] > (1 - weight) * (T - stop) / T + SAFETY
        out[idx[settled]] = b[settled].argmax(axis=1)
        keep = ~settled
        if not keep.any():
            break
        idx, z, acc, lead = idx[keep], z[keep], acc[keep], lead[keep]
        first = None if first is None else first[keep]
    return out


def forest_codes(
    forest: Any, x: np.ndarray, standardise: Callable, first: np.ndarray | None = None, weight: float = 0.0
) -> np.ndarray:
    """Return the index of the most probable class of each row: the forest's, or its blend with ``first``.

    The class of ``weight * first + (1 - weight) * forest.predict_proba(z)`` (float32, as phase 2
    blends), with each pixel's trees walked only until its class is settled (module docstring).

    Parameters
    ----------
    forest : sklearn.ensemble.RandomForestClassifier
        Fitted; its classes are ``range(n_classes)``.
    x : (n, F) ndarray
        The features.
    standardise : callable
        ``standardise(rows) -> z``: the rows as the forest saw them in training (float32), applied
        block by block.
    first : (n, n_classes) ndarray of float32, optional
        Class probabilities of another classifier (the MLP), blended in with ``weight``.
    weight : float
        ``first``'s share of the blend, in [0, 1); 0 without ``first``.

    Returns
    -------
    (n,) ndarray of int64

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.ensemble import RandomForestClassifier
    >>> rng = np.random.default_rng(0)
    >>> z = rng.normal(size=(400, 3)).astype(np.float32)
    >>> rf = RandomForestClassifier(20, random_state=0).fit(z, (z[:, 0] > 0).astype(int))
    >>> bool(np.array_equal(forest_codes(rf, z, np.asarray), rf.predict_proba(z).argmax(axis=1)))
    True
    """
    if first is None and weight != 0:
        raise ValueError("forest_codes: a weight needs the probabilities it weighs (first)")
    if not 0 <= weight < 1:
        raise ValueError(f"forest_codes: weight must lie in [0, 1), got {weight}")
    out = np.empty(len(x), np.int64)
    trees, n_classes = list(forest.estimators_), int(forest.n_classes_)

    def run(start: int) -> None:
        sl = slice(start, start + CHUNK)
        z = np.ascontiguousarray(standardise(x[sl]), np.float32)
        out[sl] = _chunk_codes(trees, z, None if first is None else first[sl], weight, n_classes)

    _on_every_core(run, list(range(0, len(x), CHUNK)))
    return out
