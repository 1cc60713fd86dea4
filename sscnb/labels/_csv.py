"""The labels CSV of the tile labeller.

One row per click (``image,tile_row,tile_col,class_code``), a header that records the tile size, and the last
label of a tile kept. See :mod:`sscnb.labels`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from sscnb.data import _tiles as _tiles
from sscnb.data._classes import ClassScheme
from sscnb.data._geo import georeferencing_of
from sscnb.data._pairs import IMAGE_EXTENSIONS, LABEL_PREFIX
from sscnb.errors import LabelError
from sscnb.provenance import write_text

__all__ = [
    "LabelError",
    "MIXED",
    "SKIP",
    "COLUMNS",
    "empty_labels",
    "image_index",
    "read_tile_labels",
    "write_tile_labels",
    "append_tile_label",
    "start_labels_file",
]

MIXED = 0  # the tile holds several classes: labelled, never trained on
SKIP = -1  # the user passed the tile: never shown again in that session, never trained on
COLUMNS = ("image", "tile_row", "tile_col", "class_code")
_HEADER = "# sscnb tile labels, tile_size={tile}"


def empty_labels() -> pd.DataFrame:
    """Return an empty labels table.

    Returns
    -------
    pandas.DataFrame
        :data:`COLUMNS`, no rows.
    """
    return pd.DataFrame(
        {
            "image": pd.Series(dtype=str),
            "tile_row": pd.Series(dtype=np.int64),
            "tile_col": pd.Series(dtype=np.int64),
            "class_code": pd.Series(dtype=np.int64),
        }
    )


def image_index(images: str | Path | list | dict) -> dict:
    """Image name (file name without extension) -> path, for a folder, a list of paths, or both.

    Parameters
    ----------
    images : str, Path, sequence of them, or dict
        Image files, or folders whose images (not ``SCLS_*`` labels) are taken; a dict (name to path,
        as this returns) is taken as it is.

    Returns
    -------
    dict of str to Path
    """
    if isinstance(images, dict):
        return {str(k): Path(v) for k, v in images.items()}
    items = [images] if isinstance(images, (str, Path)) else list(images)
    out = {}
    for item in items:
        p = Path(item)
        if p.is_dir():
            for f in sorted(p.iterdir()):
                if f.suffix.lower() in IMAGE_EXTENSIONS and not f.name.upper().startswith(LABEL_PREFIX):
                    out[f.stem] = f
        elif p.is_file():
            out[p.stem] = p
        else:
            raise LabelError(f"image {p} does not exist: give image files or folders that hold them")
    return out


def _grid_of(path: Path, tile: int) -> tuple[int, int]:
    raster = georeferencing_of(path)
    return _tiles.grid_shape((raster.height, raster.width), tile)


def _check_recorded_tile_size(path: Path, tile_size: int) -> None:
    """Refuse a labels file whose first line records another tile size than the model's."""
    first = path.read_text().split("\n", 1)[0]
    if first.startswith("#") and "tile_size=" in first:
        try:
            recorded = int(first.split("tile_size=")[1].split()[0].strip(","))
        except ValueError:
            raise LabelError(f"{path.name}: cannot read the tile size in its first line {first!r}") from None
        if recorded != int(tile_size):
            raise LabelError(
                f"{path.name} labels tiles of {recorded} px but the model takes {tile_size} px tiles: its tile rows "
                f"and columns name other squares. Label again at {tile_size} px, or fine-tune a model of {recorded} px"
            )


def _file_lines(path: Path, n_rows: int) -> list[int]:
    r"""Return the line of ``path`` (from 1) of each of a CSV's ``n_rows`` data rows, as pandas reads them.

    Comment lines (``#``, the recorded tile size among them) and blank lines are skipped, the first
    line left is the header: an error then names the line the user sees in their editor.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "l.csv"
    >>> _ = p.write_text("# sscnb tile labels, tile_size=50\nimage,tile_row,tile_col,class_code\nA,0,0,1\n\nA,0,1,2\n")
    >>> _file_lines(p, 2)
    [3, 5]
    """
    text = path.read_text().splitlines()
    kept = [i for i, line in enumerate(text, start=1) if line.strip() and not line.lstrip().startswith("#")]
    lines = kept[1 : 1 + n_rows]  # after the header
    while len(lines) < n_rows:  # a row pandas found that this count missed: go on from the last
        lines.append((lines[-1] if lines else 1) + 1)
    return lines


def _read_label_columns(path: Path):
    """Return a labels CSV's table with its columns checked and its numbers whole (``t.attrs["lines"]``: each row's line)."""
    try:
        t = pd.read_csv(path, comment="#", dtype={"image": str})
    except Exception as exc:  # noqa: BLE001
        raise LabelError(f"cannot read labels file {path} ({exc}): it must be a CSV with columns {','.join(COLUMNS)}") from None
    missing = [c for c in COLUMNS if c not in t.columns]
    if missing:
        raise LabelError(f"{path.name} is not a labels file: columns {missing} are missing (it needs {','.join(COLUMNS)})")
    extra = [c for c in t.columns if c not in COLUMNS]
    if extra:
        raise LabelError(f"{path.name} has unknown columns {extra}: a labels file has exactly {','.join(COLUMNS)}")
    lines = _file_lines(path, len(t))
    for c in ("tile_row", "tile_col", "class_code"):
        num = pd.to_numeric(t[c], errors="coerce")
        bad = num.isna() | (num != num.round())
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise LabelError(f"{path.name}, line {lines[i]}: {c} is {t[c].iloc[i]!r}, not a whole number")
        t[c] = num.astype(np.int64)
    t.attrs["lines"] = lines
    return t


def _check_label_images(path: Path, t, images: dict, tile_size: int) -> None:
    """Refuse labels of images not given, and tiles outside their image's grid."""
    unknown = sorted(set(t.image) - set(images))
    if unknown:
        raise LabelError(
            f"{path.name} labels tiles of {unknown[:5]} but those images were not given "
            f"(given: {sorted(images)[:5]}{' ...' if len(images) > 5 else ''}): add their "
            "folder to the images, or remove their rows"
        )
    for name, rows in t.groupby("image", sort=True):
        n_rows, n_cols = _grid_of(images[name], tile_size)
        out = (rows.tile_row < 0) | (rows.tile_row >= n_rows) | (rows.tile_col < 0) | (rows.tile_col >= n_cols)
        if out.any():
            i = rows.index[np.flatnonzero(out.to_numpy())[0]]
            raise LabelError(
                f"{path.name}, line {t.attrs['lines'][i]}: tile (row {t.tile_row[i]}, column {t.tile_col[i]}) is outside "
                f"{name}, whose grid of {tile_size} px tiles is {n_rows} rows x {n_cols} columns (from 0): the "
                "labels were made on another image or at another tile size"
            )


def read_tile_labels(path: str | Path, scheme: ClassScheme, tile_size: int, images: dict | None = None) -> pd.DataFrame:
    """Read and check a labels CSV.

    Parameters
    ----------
    path : str or Path
    scheme : ClassScheme
    tile_size : int, px
        The model's tile size; a file recorded for another one is refused.
    images : dict of str to Path, optional
        The images the labels may name (:func:`image_index`); each row's tile must lie inside its
        image's tile grid. None skips those checks.

    Returns
    -------
    pandas.DataFrame
        :data:`COLUMNS`, one row per tile (a tile labelled twice with the same class is kept once).

    Raises
    ------
    LabelError
        Missing columns, a class not in the scheme, an image not given, a tile outside its image,
        another tile size, a tile labelled with two different classes: naming the file, the row and
        the fix.
    """
    path = Path(path)
    if not path.is_file():
        raise LabelError(
            f"labels file {path} does not exist: label tiles with notebook 07's labeller, or give "
            "the path of a labels CSV, a polygon file or a folder of SCLS_ rasters"
        )
    _check_recorded_tile_size(path, tile_size)
    t = _read_label_columns(path)
    allowed = set(scheme.labelled_codes) | {MIXED, SKIP}
    bad = ~t.class_code.isin(allowed)
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise LabelError(
            f"{path.name}, line {t.attrs['lines'][i]}: class code {int(t.class_code.iloc[i])} is not in the class scheme "
            f"(codes {sorted(scheme.labelled_codes)}, {MIXED} for mixed, {SKIP} for skipped): fix the row, or give the "
            "class scheme (class_csv) the labels were made with"
        )
    if images is not None:
        _check_label_images(path, t, images, tile_size)
    _check_conflicts(path, t)
    t = t.drop_duplicates(["image", "tile_row", "tile_col"], keep="last").reset_index(drop=True)
    return t[list(COLUMNS)]


def _check_conflicts(path: Path, t) -> None:
    """Refuse a tile labelled twice with different classes, naming both lines (the same class twice is kept once)."""
    key = ["image", "tile_row", "tile_col"]
    n_classes = t.groupby(key, sort=False).class_code.transform("nunique")
    if not (n_classes > 1).any():
        return
    first = t[n_classes > 1].iloc[0]
    same = t.index[(t.image == first.image) & (t.tile_row == first.tile_row) & (t.tile_col == first.tile_col)]
    where = ", ".join(f"line {t.attrs['lines'][i]} says {int(t.class_code[i])}" for i in same)
    n_tiles = int(t[n_classes > 1].groupby(key).ngroups)
    raise LabelError(
        f"{path.name}: tile (row {int(first.tile_row)}, column {int(first.tile_col)}) of {first.image} is labelled "
        f"with different classes ({where}){f'; {n_tiles - 1} more tile(s) too' if n_tiles > 1 else ''}: keep the "
        "right label of each tile and delete the other line(s)"
    )


def write_tile_labels(path: str | Path, table: pd.DataFrame, tile_size: int) -> Path:
    """Write a labels CSV atomically (the tile size in its first line).

    Parameters
    ----------
    path : str or Path
    table : pandas.DataFrame
        :data:`COLUMNS`.
    tile_size : int, px

    Returns
    -------
    Path
    """
    return write_text(path, _HEADER.format(tile=int(tile_size)) + "\n" + table[list(COLUMNS)].to_csv(index=False), sync=True)


def append_tile_label(
    path: str | Path, table: pd.DataFrame, image: str, row: int, col: int, code: int, tile_size: int
) -> pd.DataFrame:
    """One click: the table with this tile's label set (replacing an earlier one), saved at once.

    Parameters
    ----------
    path : str or Path
        The labels CSV, rewritten atomically.
    table : pandas.DataFrame
        The labels so far.
    image : str
    row, col : int
        The tile.
    code : int
        A class code, :data:`MIXED` or :data:`SKIP`.
    tile_size : int, px

    Returns
    -------
    pandas.DataFrame
        The new table (also on disk).
    """
    keep = ~((table.image == image) & (table.tile_row == row) & (table.tile_col == col))
    new = pd.DataFrame([[image, int(row), int(col), int(code)]], columns=list(COLUMNS))
    table = pd.concat([table[keep], new], ignore_index=True) if keep.any() else new
    write_tile_labels(path, table, tile_size)
    return table


def start_labels_file(
    path: str | Path, start_from: str | Path | None, scheme: ClassScheme, tile_size: int, images: dict | None = None
) -> Path:
    """Make a labels file to work on: a checked copy of ``start_from`` when ``path`` does not exist yet.

    The labeller then writes to ``path`` only, so labels that came with the data (``start_from``)
    are never changed. An existing ``path`` is kept as it is (a session resumes from it).

    Parameters
    ----------
    path : str or Path
    start_from : str, Path or None
        A labels CSV; None starts with no labels.
    scheme : ClassScheme
    tile_size : int, px
    images : dict, optional
        To check the labels against (:func:`read_tile_labels`).

    Returns
    -------
    Path
        ``path`` (which exists only when it did, or ``start_from`` was given).
    """
    path = Path(path)
    if path.exists() or start_from is None:
        return path
    write_tile_labels(path, read_tile_labels(start_from, scheme, tile_size, images), tile_size)
    return path
