"""The class key: which CNN output ("local class") is which class of the shared scheme.

Saved beside every model as ``<name>_classkey.csv`` (columns LocalClass, HierarchClass, River,
ClassName), as in the original method.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sscnb.cnn._tilesets import TileSet
from sscnb.data._classes import ClassScheme
from sscnb.errors import ModelMismatchError

__all__ = ["ModelMismatchError", "ClassKey", "make_class_key"]


@dataclass
class ClassKey:
    """Map between the CNN's outputs ("local classes") and the shared scheme.

    ``table``: DataFrame with columns LocalClass (0..K-1, the softmax index), HierarchClass (code
    of the shared scheme), River (river name, or ``*`` when classes are shared by all rivers),
    ClassName.
    """

    table: pd.DataFrame

    COLUMNS = ("LocalClass", "HierarchClass", "River", "ClassName")

    @property
    def n_outputs(self) -> int:
        """Return the number of the CNN's outputs (local classes)."""
        return len(self.table)

    @property
    def rivers(self) -> list[str]:
        """Return the rivers with classes of their own, sorted."""
        return sorted(r for r in self.table["River"].unique() if r != "*")

    @property
    def local_classes(self) -> bool:
        """Return whether any class is local to a river."""
        return bool((self.table["River"] != "*").any())

    def encode(self, y: np.ndarray, river: np.ndarray) -> np.ndarray:
        """Shared codes (+ river) -> local class indices."""
        t = self.table
        lut = {(r, int(h)): int(l) for l, h, r in zip(t.LocalClass, t.HierarchClass, t.River, strict=True)}
        if self.local_classes:
            return np.array([lut[(r, int(c))] for c, r in zip(y, river, strict=True)], np.int64)
        return np.array([lut[("*", int(c))] for c in y], np.int64)

    def to_hierarchical(self, proba: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(n, K)`` local probabilities as ``(codes (C,), (n, C) probabilities)`` per shared class.

        The local classes of each shared class are summed.
        """
        codes = np.array(sorted(self.table["HierarchClass"].unique()), np.int64)
        m = np.zeros((self.n_outputs, len(codes)), np.float32)
        for l, h in zip(self.table.LocalClass, self.table.HierarchClass, strict=True):
            m[int(l), np.searchsorted(codes, h)] = 1
        return codes, np.asarray(proba, np.float32) @ m

    def digest(self) -> str:
        """Return a short SHA-256 of the table: two keys with the same digest are the same key."""
        return hashlib.sha256(self.table.to_csv(index=False).encode()).hexdigest()[:16]

    def to_csv(self, path):
        """Write the key as the ``*_classkey.csv`` of the original method."""
        self.table.to_csv(path, index=False)
        return Path(path)

    @classmethod
    def from_csv(cls, path) -> ClassKey:
        """Read a key written by :meth:`to_csv` (or by the original code)."""
        path = Path(path)
        try:
            t = pd.read_csv(path, keep_default_na=False)
        except Exception as exc:  # noqa: BLE001
            raise ModelMismatchError(f"cannot read class key {path}: {exc}") from exc
        missing = [c for c in cls.COLUMNS if c not in t.columns]
        if missing:
            raise ModelMismatchError(f"{path.name} is not a class key: columns {missing} are missing")
        t = t[list(cls.COLUMNS)].astype({"LocalClass": int, "HierarchClass": int, "River": str, "ClassName": str})
        if list(t.LocalClass) != list(range(len(t))):
            raise ModelMismatchError(f"{path.name}: LocalClass must run 0..{len(t) - 1} in order")
        return cls(t)


def make_class_key(tiles: TileSet, scheme: ClassScheme, local_classes: bool = True) -> ClassKey:
    """Return the class key of a training set.

    Parameters
    ----------
    tiles : TileSet
    scheme : ClassScheme
    local_classes : bool
        One CNN class per (river, class) present (the original method), or one per shared class.

    Returns
    -------
    ClassKey
    """
    rows: list[tuple] = []
    if local_classes:
        pairs = sorted({(str(r), int(c)) for r, c in zip(tiles.river, tiles.y, strict=True)})
        for r, c in pairs:
            rows.append((len(rows), c, r, scheme.name(c)))
    else:
        for c in sorted(set(int(c) for c in tiles.y)):
            rows.append((len(rows), c, "*", scheme.name(c)))
    return ClassKey(pd.DataFrame(rows, columns=list(ClassKey.COLUMNS)))
