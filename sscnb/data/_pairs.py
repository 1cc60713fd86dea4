"""Finding, reading and checking image/label pairs.

Naming convention (Deep Riverscapes):

* images: ``RiverName_NNNN.jpg`` (4 or more digits; ``.jpg``, ``.jpeg``, ``.png``, ``.tif``,
  ``.tiff`` accepted, any case);
* labels: ``SCLS_RiverName_NNNN.tif`` or ``SCLS_RiverNameNNNN.tif`` (``.tif`` or ``.tiff``).

Pairs are matched by name, never by list order. Images without a label are allowed (they can
still be classified) and are reported as such. Every problem is reported with the file it concerns
and what to do about it: :class:`DataError` for what makes a file unusable, :class:`DataWarning`
for what sscnb can work around (e.g. dropping an alpha band).
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, overload

import imageio.v3 as iio
import numpy as np
import tifffile

from sscnb.data._classes import ClassScheme
from sscnb.errors import DataError, DataWarning

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

__all__ = [
    "DataError",
    "DataWarning",
    "ImageRecord",
    "Problem",
    "IMAGE_EXTENSIONS",
    "LABEL_EXTENSIONS",
    "parse_image_name",
    "find_pairs",
    "read_image",
    "read_label",
    "read_pair",
    "checked_pairs",
    "data_folders",
    "data_dir_record",
    "pairs_in_folders",
]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".tif", ".tiff")
LABEL_EXTENSIONS = (".tif", ".tiff")
LABEL_PREFIX = "SCLS_"
_IMAGE_RE = re.compile(r"^(?P<river>.+)_(?P<number>\d{4,})$")
_LABEL_RE = re.compile(r"^SCLS_(?P<rest>.+)$", re.IGNORECASE)

NAMING_HELP = (
    "images must be named RiverName_NNNN.jpg (4 or more digits) and labels SCLS_RiverName_NNNN.tif or SCLS_RiverNameNNNN.tif"
)


@dataclass(frozen=True)
class ImageRecord:
    """One image and (optionally) its label raster."""

    river: str
    number: str
    image_path: Path
    label_path: Path | None = None

    @property
    def name(self) -> str:
        """Image name without extension, e.g. ``StMarg_26607``."""
        return self.image_path.stem

    @property
    def has_label(self) -> bool:
        """Return whether the image has a label raster."""
        return self.label_path is not None


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the data: ``severity`` is ``"error"`` or ``"warning"``."""

    severity: str
    file: str
    message: str

    def __str__(self) -> str:
        return f"{self.severity.upper()}: {self.message}"


def parse_image_name(filename: str | Path) -> tuple[str, str] | None:
    """River and number of an image file name that follows the convention.

    Parameters
    ----------
    filename : str or Path

    Returns
    -------
    (river, number) : tuple of str, or None

    Examples
    --------
    >>> parse_image_name("StMarg_26607.jpg")
    ('StMarg', '26607')
    >>> parse_image_name("IMG_12.jpg") is None
    True
    """
    p = Path(filename)
    if p.suffix.lower() not in IMAGE_EXTENSIONS or p.name.upper().startswith(LABEL_PREFIX):
        return None
    m = _IMAGE_RE.match(p.stem)
    return (m["river"], m["number"]) if m else None


def _label_keys(river: str, number: str) -> tuple[str, str]:
    """Return the two accepted label stems (lower case): with and without the underscore."""
    return (f"scls_{river}_{number}".lower(), f"scls_{river}{number}".lower())


def _scan(folder: Path):
    """Images, labels and problems found in ``folder`` (not recursive)."""
    problems: list[Problem] = []
    images: dict[str, tuple[str, str, Path]] = {}
    labels: dict[str, Path] = {}
    for p in sorted(folder.iterdir()):
        if not p.is_file() or p.name.startswith("."):
            continue
        suf = p.suffix.lower()
        if p.name.upper().startswith(LABEL_PREFIX):
            if suf not in LABEL_EXTENSIONS:
                problems.append(
                    Problem(
                        "warning",
                        p.name,
                        (
                            f"{p.name} looks like a label but is not a TIFF: labels must be single-band "
                            f".tif/.tiff class rasters; this file is ignored"
                        ),
                    )
                )
                continue
            key = p.stem.lower()
            if key in labels:
                problems.append(
                    Problem(
                        "error", p.name, (f"{p.name} and {labels[key].name} are the same label in two formats: keep only one")
                    )
                )
                continue
            labels[key] = p
        elif suf in IMAGE_EXTENSIONS:
            parsed = parse_image_name(p.name)
            if parsed is None:
                problems.append(
                    Problem(
                        "warning",
                        p.name,
                        (
                            f"{p.name} does not follow the naming convention and is skipped: "
                            f"{NAMING_HELP} (rename it, e.g. to River_0001{p.suffix})"
                        ),
                    )
                )
                continue
            key = p.stem.lower()
            if key in images:
                problems.append(
                    Problem(
                        "error", p.name, (f"{p.name} and {images[key][2].name} are the same image in two formats: keep only one")
                    )
                )
                continue
            images[key] = (parsed[0], parsed[1], p)
    return images, labels, problems


@overload
def find_pairs(folder: str | Path, *, return_problems: Literal[False] = ...) -> list[ImageRecord]: ...
@overload
def find_pairs(folder: str | Path, *, return_problems: Literal[True]) -> tuple[list[ImageRecord], list[Problem]]: ...
def find_pairs(
    folder: str | Path, *, return_problems: bool = False
) -> list[ImageRecord] | tuple[list[ImageRecord], list[Problem]]:
    """Pair images with labels in a folder (by name).

    Parameters
    ----------
    folder : str or Path
    return_problems : bool
        Also return the naming problems found.

    Returns
    -------
    list of ImageRecord
        Sorted by river then number (and, with ``return_problems``, the list of :class:`Problem`).

    Raises
    ------
    DataError
        When the folder does not exist or holds no image following the convention.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"data folder {folder} does not exist: check the data_dir parameter")
    images, labels, problems = _scan(folder)
    if not images:
        extra = f" ({len(problems)} file(s) skipped, see below)" if problems else ""
        detail = "".join(f"\n  - {p.message}" for p in problems)
        raise DataError(f"no images found in {folder}{extra}: {NAMING_HELP}{detail}")
    used: set[str] = set()
    records = []
    for _key, (river, number, path) in images.items():
        lab = None
        for k in _label_keys(river, number):
            if k in labels:
                if lab is None:
                    lab = labels[k]
                else:  # both forms of the name: say so, and which one is used
                    problems.append(
                        Problem(
                            "warning",
                            labels[k].name,
                            (
                                f"{path.name} has two labels, {lab.name} and {labels[k].name}: {lab.name} is used and "
                                f"{labels[k].name} is ignored; delete or rename the one you do not mean"
                            ),
                        )
                    )
                used.add(k)
        records.append(ImageRecord(river, number, path, lab))
    for key, path in labels.items():
        if key not in used:
            problems.append(
                Problem(
                    "warning",
                    path.name,
                    (
                        f"{path.name} is a label without an image: no image named like "
                        f"{_expected_image_for_label(path)} in {folder}; rename the label or add its image"
                    ),
                )
            )
    records.sort(key=lambda r: (r.river.lower(), int(r.number), r.name))
    return (records, problems) if return_problems else records


def data_folders(data_dir: str | Path | Sequence[str | Path]) -> list[Path]:
    """Return ``data_dir`` as a list of folders: one folder, or a list of them (a model of several rivers).

    Parameters
    ----------
    data_dir : str, Path or list of them

    Returns
    -------
    list of Path

    Raises
    ------
    DataError
        An empty list.
    """
    folders = [Path(data_dir)] if isinstance(data_dir, (str, Path)) else [Path(f) for f in data_dir]
    if not folders:
        raise DataError("data_dir is an empty list: give a folder of labelled images, or a list of them")
    return folders


def data_dir_record(data_dir: str | Path | Sequence[str | Path]) -> str | list[str]:
    """Return ``data_dir`` as a model card records it: the absolute folder, or a list of them for several.

    Parameters
    ----------
    data_dir : str, Path or list of them

    Returns
    -------
    str or list of str
    """
    folders = [str(f.resolve()) for f in data_folders(data_dir)]
    return folders[0] if len(folders) == 1 else folders


def pairs_in_folders(folders: Sequence[Path]) -> tuple[list[ImageRecord], list[Problem]]:
    """:func:`find_pairs` over several folders: their records and naming problems, together.

    An image found in two folders is an error (the first is kept).

    Parameters
    ----------
    folders : list of Path

    Returns
    -------
    records : list of ImageRecord
    problems : list of Problem
    """
    records: list[ImageRecord] = []
    problems: list[Problem] = []
    seen: dict[str, Path] = {}
    for f in folders:
        recs, probs = find_pairs(f, return_problems=True)
        problems += probs
        for rec in recs:
            if rec.name in seen:
                msg = f"{rec.name} is in two data folders, {seen[rec.name]} and {f}: keep one of them"
                problems.append(Problem("error", rec.image_path.name, msg))
                continue
            seen[rec.name] = f
            records.append(rec)
    return records, problems


def checked_pairs(folder: str | Path | Sequence[str | Path], log: Callable[[str], object] = print) -> list[ImageRecord]:
    """:func:`find_pairs` for a notebook or a batch that reads ``folder`` (or each folder of a list).

    Every naming problem is shown (warnings as :class:`DataWarning`, and through ``log``), and errors (the
    same image or label twice, also in two folders) stop with :class:`DataError` before anything is computed.

    Parameters
    ----------
    folder : str, Path or list of them
        Several folders train one model on all their images (several rivers, as the method's
        original CNN was trained on five).
    log : callable
        Receives one line per problem.

    Returns
    -------
    list of ImageRecord
    """
    folders = data_folders(folder)
    records, problems = pairs_in_folders(folders)
    for p in problems:
        log(f"{p.severity}: {p.message}")
        if p.severity == "warning":
            warnings.warn(p.message, DataWarning, stacklevel=2)
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        lines = "\n".join(f"  - {p.message}" for p in errors)
        raise DataError(f"{len(errors)} problem(s) in {' + '.join(map(str, folders))} to fix first:\n{lines}")
    return records


def _expected_image_for_label(path: Path) -> str:
    m = _LABEL_RE.match(path.stem)
    rest = m["rest"] if m else path.stem
    m2 = re.match(r"^(.+?)_?(\d{4,})$", rest)
    return f"{m2[1]}_{m2[2]}.jpg" if m2 else f"{rest}.jpg"


# -- reading -----------------------------------------------------------------------------


def _imread(path: Path) -> np.ndarray:
    try:
        arr = tifffile.imread(path) if path.suffix.lower() in (".tif", ".tiff") else iio.imread(path)
    except Exception as exc:  # noqa: BLE001 - any decoder failure is the same problem to a user
        raise DataError(
            f"{path.name} cannot be decoded ({type(exc).__name__}: {exc}): the file is damaged or "
            f"not really a {path.suffix} file; re-export it from its source"
        ) from exc
    return np.asarray(arr)


def read_image(path: str | Path) -> np.ndarray:
    """Read an RGB image.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    (H, W, 3) ndarray of uint8
        RGBA images lose their alpha band (with a :class:`DataWarning`).

    Raises
    ------
    DataError
        Grayscale, 16-bit or otherwise unusable images, naming the file and the fix.
    """
    path = Path(path)
    arr = _imread(path)
    if arr.ndim == 3 and arr.shape[0] in (3, 4) and arr.shape[2] not in (3, 4):
        arr = np.moveaxis(arr, 0, -1)  # planar TIFF (bands first)
    if arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] in (1, 2)):
        raise DataError(
            f"{path.name} is a grayscale image: the method needs RGB colour images (3 bands); export the image as RGB"
        )
    if arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise DataError(f"{path.name} has shape {arr.shape}: expected an RGB image (H, W, 3)")
    if arr.dtype != np.uint8:
        bits = arr.dtype.itemsize * 8
        raise DataError(
            f"{path.name} is a {bits}-bit image ({arr.dtype}): sscnb needs 8-bit RGB, as the CNN "
            "expects values 0-255; convert it to 8-bit (e.g. rescale with your GIS or "
            "skimage.util.img_as_ubyte) and save as JPEG or 8-bit TIFF"
        )
    if arr.shape[2] == 4:
        warnings.warn(f"{path.name} is RGBA: the alpha band was dropped", DataWarning, stacklevel=2)
        arr = arr[:, :, :3]
    return np.ascontiguousarray(arr)


def read_label(path: str | Path, scheme: ClassScheme | None = None) -> np.ndarray:
    """Read a label raster as class codes.

    Real label files are float64 TIFFs holding integer codes; any numeric type is accepted as long
    as every value is a whole number.

    Parameters
    ----------
    path : str or Path
    scheme : ClassScheme, optional
        Values outside its codes raise :class:`DataError` listing them.

    Returns
    -------
    (H, W) ndarray of uint8
    """
    path = Path(path)
    arr = _imread(path)
    arr = np.squeeze(arr)
    if arr.ndim != 2:
        raise DataError(f"{path.name} has shape {arr.shape}: a label must be a single-band raster of class codes (H, W)")
    if arr.dtype.kind == "f":
        if not np.isfinite(arr).all():
            raise DataError(f"{path.name} holds NaN or infinite values: set unlabelled pixels to 0")
        if not np.array_equal(arr, np.round(arr)):
            raise DataError(f"{path.name} holds non-integer values: a label raster must hold whole class codes")
    elif arr.dtype.kind not in "iub":
        raise DataError(f"{path.name} has pixel type {arr.dtype}: expected integer class codes")
    if arr.size and (arr.min() < 0 or arr.max() > 255):
        raise DataError(f"{path.name} holds values {arr.min():g}..{arr.max():g}: class codes must be 0-255")
    lab = arr.astype(np.uint8)
    if scheme is not None:
        bad = sorted(set(np.unique(lab).tolist()) - set(scheme.codes))
        if bad:
            raise DataError(
                f"{path.name} holds label values {bad} that are not in the class scheme "
                f"{list(scheme.codes)}: fix the label raster, or use a class scheme that lists these codes "
                "(the class_csv parameter of notebooks 00-02; notebook 03 scores with the scheme saved "
                "with the model, so retrain the model with that scheme)"
            )
    return lab


def read_pair(
    record: ImageRecord, scheme: ClassScheme | None = None, tile_size: int | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Return an image and its label, with every check applied.

    Parameters
    ----------
    record : ImageRecord
    scheme : ClassScheme, optional
    tile_size : int, optional
        An image smaller than one tile is an error.

    Returns
    -------
    image : (H, W, 3) ndarray of uint8
    label : (H, W) ndarray of uint8, or None
    """
    img = read_image(record.image_path)
    if tile_size is not None and (img.shape[0] < tile_size or img.shape[1] < tile_size):
        raise DataError(
            f"{record.image_path.name} is {img.shape[1]} x {img.shape[0]} px, smaller than one "
            f"{tile_size} x {tile_size} px tile: use larger images or a smaller tile_size"
        )
    if record.label_path is None:
        return img, None
    lab = read_label(record.label_path, scheme)
    if lab.shape != img.shape[:2]:
        raise DataError(
            f"{record.label_path.name} is {lab.shape[1]} x {lab.shape[0]} px but "
            f"{record.image_path.name} is {img.shape[1]} x {img.shape[0]} px: labels must "
            "match their image (same width and height)"
        )
    return img, lab


# -- the data check ----------------------------------------------------------------------
