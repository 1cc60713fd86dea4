"""The land-cover class scheme: codes, names and colours.

A scheme is a small table. Code 0 is always "unlabelled" (pixels nobody labelled; ignored by
training and by metrics). The default is the Deep Riverscapes scheme::

    0 unlabelled, 1 water, 2 dry sediment, 3 green vegetation, 4 senescent vegetation, 5 paved road

A study with other classes writes its own CSV (columns ``code,name,colour``) and passes it to
:meth:`ClassScheme.from_csv`; no code changes are needed.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sscnb.errors import SchemeError

__all__ = ["ClassScheme", "DEFAULT_CLASSES", "SchemeError"]

_HEX = re.compile(r"^#[0-9a-fA-F]{6}$")


@dataclass(frozen=True)
class ClassScheme:
    """Class codes (0-255), names and colours (``#rrggbb``), code 0 = unlabelled."""

    codes: tuple[int, ...]
    names: tuple[str, ...]
    colours: tuple[str, ...]

    def __post_init__(self):
        codes, names, colours = tuple(self.codes), tuple(self.names), tuple(self.colours)
        object.__setattr__(self, "codes", tuple(int(c) for c in codes))
        object.__setattr__(self, "names", tuple(str(n) for n in names))
        object.__setattr__(self, "colours", tuple(str(c) for c in colours))
        if not (len(codes) == len(names) == len(colours)):
            raise SchemeError("codes, names and colours must have the same length")
        if 0 not in self.codes:
            raise SchemeError("a class scheme needs code 0 (unlabelled)")
        if len(set(self.codes)) != len(self.codes):
            raise SchemeError(f"class codes must be unique, got {list(self.codes)}")
        if len(set(self.names)) != len(self.names):
            raise SchemeError(f"class names must be unique, got {list(self.names)}")
        for c in self.codes:
            if not 0 <= c <= 255:
                raise SchemeError(f"class code {c} is outside 0-255 (labels are stored as uint8)")
        for n, col in zip(self.names, self.colours, strict=True):
            if not _HEX.match(col):
                raise SchemeError(f"colour {col!r} of class {n!r} is not of the form #rrggbb")
        if len(self.codes) < 2:
            raise SchemeError("a class scheme needs at least one class besides unlabelled")

    # -- construction ---------------------------------------------------------------------
    @classmethod
    def default(cls) -> ClassScheme:
        """Return the Deep Riverscapes scheme (codes 0-5)."""
        return DEFAULT_CLASSES

    @classmethod
    def from_csv(cls, path) -> ClassScheme:
        """Read a scheme from a CSV with columns ``code,name,colour`` (header required)."""
        path = Path(path)
        try:
            with open(path, newline="", encoding="utf-8") as fh:
                rows = list(csv.DictReader(fh))
        except OSError as exc:
            raise SchemeError(f"cannot read class scheme {path}: {exc}") from exc
        need = {"code", "name", "colour"}
        if not rows or not need <= set(rows[0]):
            raise SchemeError(
                f"{path} is not a class scheme: it needs a header line 'code,name,colour' and one "
                "row per class, e.g. '1,water,#1f78b4'"
            )
        try:
            codes = [int(r["code"]) for r in rows]
        except (TypeError, ValueError) as exc:
            raise SchemeError(f"{path}: every code must be an integer ({exc})") from exc
        try:
            return cls(tuple(codes), tuple(r["name"].strip() for r in rows), tuple(r["colour"].strip() for r in rows))
        except SchemeError as exc:
            raise SchemeError(f"{path}: {exc}") from exc

    @classmethod
    def load(cls, path=None) -> ClassScheme:
        """``from_csv(path)``, or the default scheme when ``path`` is None."""
        return cls.default() if path is None else cls.from_csv(path)

    def to_csv(self, path) -> Path:
        """Write the scheme as ``code,name,colour`` CSV; returns the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["code", "name", "colour"])
            for row in zip(self.codes, self.names, self.colours, strict=True):
                w.writerow(row)
        return path

    def to_dict(self) -> dict:
        """Return the scheme as a plain dict (codes, names, colours), as saved in JSON."""
        return {"codes": list(self.codes), "names": list(self.names), "colours": list(self.colours)}

    @classmethod
    def from_dict(cls, d: dict) -> ClassScheme:
        """Return the scheme saved by :meth:`to_dict`."""
        return cls(d["codes"], d["names"], d["colours"])

    # -- queries --------------------------------------------------------------------------
    @property
    def labelled_codes(self) -> tuple[int, ...]:
        """Codes of real classes (all but 0), sorted."""
        return tuple(sorted(c for c in self.codes if c != 0))

    def name(self, code: int) -> str:
        """Return the name of a class code; an unknown code is an error."""
        try:
            return self.names[self.codes.index(int(code))]
        except ValueError:
            raise SchemeError(f"class code {code} is not in the scheme {list(self.codes)}") from None

    def colour(self, code: int) -> str:
        """Return the colour (hex) of a class code."""
        return self.colours[self.codes.index(int(code))]

    def code(self, name: str) -> int:
        """Return the code of a class name; an unknown name is an error."""
        try:
            return self.codes[self.names.index(name)]
        except ValueError:
            raise SchemeError(f"class {name!r} is not in the scheme {list(self.names)}") from None

    def lut(self) -> np.ndarray:
        """``(256, 3) uint8`` colour look-up table; codes outside the scheme are black."""
        lut = np.zeros((256, 3), np.uint8)
        for c, col in zip(self.codes, self.colours, strict=True):
            lut[c] = [int(col[i : i + 2], 16) for i in (1, 3, 5)]
        return lut

    def colorize(self, label: np.ndarray) -> np.ndarray:
        """``(H, W)`` integer class raster -> ``(H, W, 3) uint8`` RGB picture."""
        return self.lut()[np.asarray(label).astype(np.intp) & 255]

    def cmap(self):
        """``(cmap, norm)`` for ``matplotlib.pyplot.imshow(label, cmap=cmap, norm=norm)``."""
        from matplotlib.colors import BoundaryNorm, ListedColormap

        order = sorted(range(len(self.codes)), key=lambda i: self.codes[i])
        codes = [self.codes[i] for i in order]
        cmap = ListedColormap([self.colours[i] for i in order])
        bounds = [c - 0.5 for c in codes] + [codes[-1] + 0.5]
        return cmap, BoundaryNorm(bounds, cmap.N)

    def legend_handles(self, include_unlabelled: bool = True):
        """Matplotlib patches, one per class, for ``ax.legend(handles=...)``."""
        from matplotlib.patches import Patch

        return [
            Patch(facecolor=col, edgecolor="black", linewidth=0.5, label=f"{c} {n}")
            for c, n, col in sorted(zip(self.codes, self.names, self.colours, strict=True))
            if include_unlabelled or c != 0
        ]

    def __len__(self) -> int:
        return len(self.codes)


DEFAULT_CLASSES = ClassScheme(
    codes=(0, 1, 2, 3, 4, 5),
    names=(
        "unlabelled",
        "water",
        "dry sediment",
        "green vegetation",
        "senescent vegetation",
        "paved road",
    ),
    colours=("#000000", "#1f78b4", "#e3c58f", "#33a02c", "#b8a13a", "#8c8c8c"),
)
