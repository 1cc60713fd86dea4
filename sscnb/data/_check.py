"""Notebook 00's check of a labelled folder (and ``sscnb check``).

Every image and label read, every problem collected (not only the first), and the usable tiles per river and
class counted.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from sscnb.data import _tiles as _tiles
from sscnb.data._classes import ClassScheme
from sscnb.data._pairs import DataError, DataWarning, Problem, data_folders, pairs_in_folders, read_pair

if TYPE_CHECKING:
    from collections.abc import Sequence


__all__ = ["DataCheck", "check_dataset"]


@dataclass
class DataCheck:
    """Result of :func:`check_dataset`.

    ``inventory``: one row per image (river, image, label, width, height, labelled_fraction,
    ``px_<class>`` pixels per class, ``tiles_<class>`` usable tiles per class).
    ``problems``: every :class:`Problem` found. ``records``: the usable records.
    """

    folder: Path  # the first of ``folders``
    scheme: ClassScheme
    tile_size: int
    purity: float
    records: list = field(default_factory=list)
    problems: list = field(default_factory=list)
    inventory: pd.DataFrame = None  # filled in by check_dataset
    folders: list = field(default_factory=list)  # every folder checked (several: one data set of several rivers)

    @property
    def errors(self):
        """Return the problems that stop a run."""
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self):
        """Return the problems that are reported but do not stop a run."""
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def ok(self) -> bool:
        """Return whether the folder has no error."""
        return not self.errors

    def warn(self) -> int:
        """Issue each problem as a :class:`DataWarning`.

        So a batch run, which reads no tables, repeats it on the console and in ``run.log``.

        Returns
        -------
        int
            The number of problems.
        """
        for p in self.problems:
            warnings.warn(f"{p.severity}: {p.message}", DataWarning, stacklevel=2)
        return len(self.problems)

    def problems_table(self):
        """Return every problem as a table (severity, file, message)."""
        return pd.DataFrame(
            [(p.severity, p.file, p.message) for p in self.problems],
            columns=["severity", "file", "message"],
        )

    def totals(self, what: str = "px"):
        """Per river x class totals of ``px`` (pixels) or ``tiles`` (usable tiles), plus ALL."""
        inv = self.inventory
        cols = [f"{what}_{n}" for n in _class_names(self.scheme)]
        t = inv.groupby("river")[cols].sum()
        t.loc["ALL"] = t.sum()
        t.columns = list(_class_names(self.scheme))
        return t

    def save(self, folder) -> dict:
        """Write the check's four tables to ``folder``; returns ``{name: path}``.

        ``inventory.csv``, ``pixels_per_class.csv``, ``tiles_per_class.csv`` and ``problems.csv``.
        """
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        files = {
            "inventory": folder / "inventory.csv",
            "pixels_per_class": folder / "pixels_per_class.csv",
            "tiles_per_class": folder / "tiles_per_class.csv",
            "problems": folder / "problems.csv",
        }
        self.inventory.to_csv(files["inventory"], index=False)
        self.totals("px").to_csv(files["pixels_per_class"], index_label="river")
        self.totals("tiles").to_csv(files["tiles_per_class"], index_label="river")
        self.problems_table().to_csv(files["problems"], index=False)
        return files

    def raise_for_errors(self):
        """Raise :class:`DataError` naming every error, when there is one."""
        if self.errors:
            raise DataError(
                f"{len(self.errors)} problem(s) in {' + '.join(map(str, self.folders or [self.folder]))}:\n"
                + "\n".join(f"  - {p.message}" for p in self.errors)
            )


def _class_names(scheme: ClassScheme):
    return [scheme.name(c) for c in scheme.labelled_codes]


def check_dataset(
    folder: str | Path | Sequence[str | Path],
    scheme: ClassScheme | None = None,
    tile_size: int = 50,
    purity: float = 0.9,
    progress: bool = True,
) -> DataCheck:
    """Read every image and label in a folder and report what is there and what is wrong.

    Never raises for a bad file: each becomes a :class:`Problem` (a missing or empty folder still
    raises :class:`DataError`, as there is nothing to report on). No usable tile at all is an error.

    Parameters
    ----------
    folder : str, Path or list of them
        Several folders are checked as one data set (a model of several rivers): an image in two
        of them is an error.
    scheme : ClassScheme, optional
    tile_size : int, px
    purity : float
    progress : bool

    Returns
    -------
    DataCheck
        Inventory, pixel and tile counts per labelled class (tiles by
        :func:`sscnb.data.purity_labels`), and problems.
    """
    scheme = scheme or ClassScheme.default()
    folders = data_folders(folder)
    records, problems = pairs_in_folders(folders)
    where = folders[0] if len(folders) == 1 else " + ".join(str(f) for f in folders)
    chk = DataCheck(folders[0], scheme, tile_size, purity, problems=list(problems), folders=folders)
    codes = scheme.labelled_codes
    names = _class_names(scheme)
    rows = []
    for rec in tqdm(records, desc="checking images", disable=not progress):
        row = {"river": rec.river, "image": rec.image_path.name, "label": rec.label_path.name if rec.label_path else None}
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", DataWarning)
                img, lab = read_pair(rec, scheme, tile_size)
            for w in caught:
                chk.problems.append(Problem("warning", rec.image_path.name, str(w.message)))
        except DataError as exc:
            bad = rec.label_path.name if rec.label_path and rec.label_path.name in str(exc) else rec.image_path.name
            chk.problems.append(Problem("error", bad, str(exc)))
            continue
        h, w = img.shape[:2]
        row.update(width=w, height=h)
        if lab is None:
            chk.problems.append(
                Problem(
                    "warning",
                    rec.image_path.name,
                    (
                        f"{rec.image_path.name} has no label (expected SCLS_{rec.river}_{rec.number}.tif "
                        f"or SCLS_{rec.river}{rec.number}.tif): it can be classified but not used for "
                        "training or evaluation"
                    ),
                )
            )
            row["labelled_fraction"] = 0.0
            for n in names:
                row[f"px_{n}"] = 0
                row[f"tiles_{n}"] = 0
        else:
            counts = np.bincount(lab.ravel(), minlength=256)
            row["labelled_fraction"] = float(1 - counts[0] / lab.size)
            pure = _tiles.count_pure_tiles(lab, tile_size, codes, purity)
            for c, n in zip(codes, names, strict=True):
                row[f"px_{n}"] = int(counts[c])
            for c, n in zip(codes, names, strict=True):
                row[f"tiles_{n}"] = pure[c]
        chk.records.append(rec)
        rows.append(row)
    cols = ["river", "image", "label", "width", "height", "labelled_fraction"]
    cols += [f"px_{n}" for n in names] + [f"tiles_{n}" for n in names]
    chk.inventory = pd.DataFrame(rows, columns=cols)
    tiles = chk.inventory[[f"tiles_{n}" for n in names]].to_numpy().sum() if len(rows) else 0
    if records and tiles == 0:
        chk.problems.append(
            Problem(
                "error",
                folders[0].name,
                (
                    f"no class has a single usable tile in {where} at {tile_size} x {tile_size} px and purity "
                    f"{purity:.0%} (at most 10% unlabelled): nothing to train a CNN on. Lower tile_size or purity, "
                    "or label larger areas"
                ),
            )
        )
    return chk
