"""A trained CNN on disk.

``<name>.keras``, its class key and its model card, saved together and loaded together (each checked against
the others), and prediction with a loaded model.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from sscnb.cnn._bundled import BUNDLED_MODELS, bundled_model, head_model, save_head
from sscnb.cnn._classkey import ClassKey, ModelMismatchError
from sscnb.cnn._efficientnet import PretrainedUnavailableError
from sscnb.cnn._inputstats import training_statistics
from sscnb.cnn._model import _keras, predict_tiles
from sscnb.cnn._tilesets import TileSet
from sscnb.data._classes import ClassScheme
from sscnb.provenance import file_sha256, json_default, package_versions, timestamp, tmp_name

if TYPE_CHECKING:
    from typing import Any

    import pandas as pd

__all__ = [
    "ModelMismatchError",
    "LoadedModel",
    "check_new_model",
    "save_model",
    "load_model",
    "make_card",
    "predict_codes",
    "model_recipe",
]


@dataclass
class LoadedModel:
    """A CNN loaded with its class key and model card."""

    model: Any  # a Keras model
    key: ClassKey
    card: dict
    path: Path
    scheme: ClassScheme

    @property
    def tile_size(self) -> int:
        """Return the tile size the CNN was trained on, in pixels."""
        return int(self.card["tile_size"])


def check_new_model(folder: str | Path, name: str, overwrite: bool = False) -> None:
    """Refuse, before any training, to replace a saved model.

    A notebook calls this first, so that a refusal costs nothing and leaves the existing model and its history
    untouched.

    Parameters
    ----------
    folder : str or Path
    name : str
    overwrite : bool

    Returns
    -------
    None

    Raises
    ------
    FileExistsError
        ``<folder>/<name>.keras`` exists and ``overwrite`` is False; the message says what to do.
    """
    path = next((p for p in (Path(folder) / f"{name}.keras", Path(folder) / f"{name}.npz") if p.exists()), None)
    if path is not None and not overwrite:
        raise FileExistsError(
            f"{path} exists: choose another model_name or output_dir (your own folder), or set overwrite=True to replace it"
        )


def save_model(
    folder: str | Path, name: str, model: Any, key: ClassKey, card: dict, overwrite: bool = False, head_only: bool = False
) -> dict:
    """Save a model with its class key and card, atomically.

    Parameters
    ----------
    folder : str or Path
    name : str
        Files are ``<name>.keras``, ``<name>_classkey.csv``, ``<name>_card.json``.
    model : keras.Model
    key : ClassKey
    card : dict
        From :func:`make_card`; the key's digest, rivers, date and versions are added.
    overwrite : bool
        Replace an existing model of that name.
    head_only : bool
        For a classifier on frozen ImageNet features of EfficientNet-Lite0: write only its head, as
        ``<name>.npz`` (:func:`sscnb.cnn.save_head`; a few kB), which :func:`load_model` rebuilds
        on the weights package's backbone. How the shipped model ``rivers`` is stored.

    Returns
    -------
    dict of str to Path
        ``model, class_key, card``. Written under temporary names and renamed at the end, so a failure
        leaves no half-written model.
    """
    folder = Path(folder)
    check_new_model(folder, name, overwrite)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {
        "model": folder / f"{name}.npz" if head_only else folder / f"{name}.keras",
        "class_key": folder / f"{name}_classkey.csv",
        "card": folder / f"{name}_card.json",
    }
    card = dict(card)
    card.update(
        model_name=name,
        n_outputs=key.n_outputs,
        class_key_digest=key.digest(),
        rivers=key.rivers,
        local_classes=key.local_classes,
        saved=timestamp(),
        versions=card.get("versions") or package_versions(),
    )
    tmp = {k: tmp_name(p) for k, p in paths.items()}  # three files renamed together at the end
    try:
        if head_only:
            save_head(tmp["model"], model)
        else:
            model.save(tmp["model"])
        key.to_csv(tmp["class_key"])
        tmp["card"].write_text(json.dumps(card, indent=2, default=json_default) + "\n")
        for k in paths:
            tmp[k].replace(paths[k])
    finally:
        for p in tmp.values():
            p.unlink(missing_ok=True)
    return paths


def _find_model_file(path: Path) -> Path:
    shipped = bundled_model(path)
    if shipped is not None:
        if not shipped.is_file():
            raise FileNotFoundError(f"the model {path} shipped with sscnb is missing from {shipped.parent}: reinstall sscnb")
        return shipped
    if path.is_dir():
        cands = sorted(path.glob("*.keras")) or sorted(path.glob("*.h5"))
        if len(cands) != 1:
            raise ModelMismatchError(f"{path} holds {len(cands)} model files (.keras/.h5): give the path of one")
        return cands[0]
    if not path.exists():
        raise FileNotFoundError(
            f"model {path} does not exist: train one with notebook 02, check model_path, or name a model shipped with "
            f"sscnb ({', '.join(BUNDLED_MODELS)})"
        )
    return path


def load_model(path: str | Path, scheme: ClassScheme | None = None) -> LoadedModel:
    """Load a model saved by :func:`save_model`, checking that model, key and card belong together.

    Legacy ``.h5`` models load when a class key CSV (``<name>_classkey.csv`` or
    ``<name>_ClassKey.csv``) lies beside them; their card is made from the model itself.

    Parameters
    ----------
    path : str or Path
        The ``.keras`` file, a folder holding one, or the name of a model shipped with sscnb
        (:mod:`sscnb.cnn`: "rivers").
    scheme : ClassScheme, optional
        Default: the scheme recorded in the card.

    Returns
    -------
    LoadedModel

    Raises
    ------
    ModelMismatchError
        Naming the file and the fix (missing, damaged or mismatched key or card).
    """
    keras = _keras()
    mpath = _find_model_file(Path(path))
    stem = mpath.stem
    key_path = next(
        (p for p in (mpath.with_name(f"{stem}_classkey.csv"), mpath.with_name(f"{stem}_ClassKey.csv")) if p.exists()), None
    )
    if key_path is None:
        raise ModelMismatchError(
            f"no class key beside {mpath.name}: expected {stem}_classkey.csv in {mpath.parent} "
            "(it maps the CNN's outputs to classes)"
        )
    key = ClassKey.from_csv(key_path)
    card_path = mpath.with_name(f"{stem}_card.json")
    try:
        if mpath.suffix == ".npz":  # a shipped model's head on EfficientNet-Lite0's ImageNet weights (sscnb.cnn)
            model = head_model(mpath, int(json.loads(card_path.read_text())["tile_size"]))
        else:
            model = keras.saving.load_model(mpath, compile=False)
    except PretrainedUnavailableError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise ModelMismatchError(
            f"Keras cannot read {mpath} ({mpath.stat().st_size:,} bytes; {type(exc).__name__}: {exc}): the file "
            "is damaged or cut short (an interrupted copy?). Copy it again from where the model was trained, "
            "or retrain with notebook 02"
        ) from None
    n_out = int(model.output_shape[-1])
    tile = int(model.input_shape[1])
    if card_path.exists():
        try:
            card = json.loads(card_path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ModelMismatchError(
                f"the model card {card_path} is not valid JSON ({exc}): it was cut short or edited; copy it "
                "again from where the model was trained, or retrain with notebook 02"
            ) from None
        if card.get("class_key_digest") != key.digest():
            raise ModelMismatchError(
                f"{key_path.name} is not the class key {mpath.name} was saved with (the model card "
                f"{card_path.name} records another one): restore the original key file"
            )
        if int(card.get("tile_size", tile)) != tile:
            raise ModelMismatchError(
                f"{card_path.name} says tile size {card.get('tile_size')} but {mpath.name} takes {tile} px tiles"
            )
    else:
        if mpath.suffix != ".h5":
            raise ModelMismatchError(
                f"no model card {card_path.name} beside {mpath} (notebook 02 saves it with the model: it records "
                "the tile size and class scheme). Copy it from where the model was trained, or retrain"
            )
        card = {"model_name": stem, "backbone": "legacy-h5", "tile_size": tile, "legacy": True}
    if n_out != key.n_outputs:
        raise ModelMismatchError(
            f"{mpath.name} has {n_out} outputs but {key_path.name} lists {key.n_outputs} local classes: "
            "they do not belong together"
        )
    if scheme is None and "class_scheme" in card:
        scheme = ClassScheme.from_dict(card["class_scheme"])
    scheme = scheme or ClassScheme.default()
    unknown = sorted(set(key.table.HierarchClass) - set(scheme.codes))
    if unknown:
        raise ModelMismatchError(f"{key_path.name} maps to classes {unknown} that are not in the class scheme")
    return LoadedModel(model, key, card, mpath, scheme)


def make_card(
    *,
    backbone: str,
    weights: str | None,
    tile_size: int,
    purity: float,
    scheme: ClassScheme,
    tiles: TileSet,
    epochs: int,
    seed: int,
    history: pd.DataFrame | None = None,
    **extra: object,
) -> dict:
    """Return the model card saved beside a model.

    Parameters
    ----------
    backbone, weights, tile_size, purity, seed, epochs
        As trained.
    scheme : ClassScheme
    tiles : TileSet
        The training tiles (counts per river and class are recorded).
    history : pandas.DataFrame, optional
        Its last row gives the final metrics.
    **extra
        Recorded as given. ``input_statistics`` (the brightness and colour of the training images,
        :func:`sscnb.cnn.training_statistics`) is computed from ``tiles`` unless given.

    Returns
    -------
    dict
        JSON-ready.
    """
    counts = tiles.counts(scheme)
    card: dict[str, Any] = {
        "backbone": backbone,
        "weights": str(weights) if weights else None,
        "tile_size": int(tile_size),
        "purity": float(purity),
        "class_scheme": scheme.to_dict(),
        "epochs": int(epochs),
        "seed": int(seed),
        "tiles_per_class": {str(r): {str(c): int(v) for c, v in row.items()} for r, row in counts.iterrows()},
        "n_tiles": int(len(tiles)),
        "images": sorted(set(map(str, tiles.image))),
        "date": timestamp(),
        "versions": package_versions(),
    }
    if "input_statistics" not in extra and len(tiles):
        card["input_statistics"] = training_statistics(tiles.x, tiles.image)
    if history is not None and len(history):
        last = history.iloc[-1]
        card["final_metrics"] = {
            k: float(last[k]) for k in ("loss", "accuracy", "val_loss", "val_accuracy") if k in history and not np.isnan(last[k])
        }
    card.update(extra)
    return card


def predict_codes(
    loaded_or_model: Any,
    key: ClassKey | None,
    x: np.ndarray,
    batch_size: int | None = None,
    tta: bool = False,
    raw: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Classify tiles in the shared class scheme.

    Parameters
    ----------
    loaded_or_model : LoadedModel or keras.Model
    key : ClassKey or None
        Needed with a bare Keras model.
    x : (n, tile, tile, 3) ndarray of uint8
    batch_size : int, optional
        Default: :func:`sscnb.cnn.predict_batch_size` (fixed-shape batches, the last padded).
    tta : bool
        Average over the tiles' 8 orientations (:func:`sscnb.cnn.predict_tiles`).
    raw : (n, K) ndarray, optional
        The model's outputs for ``x``, where they are already known (:func:`sscnb.cnn.predict_with_hidden`):
        the model does not run again.

    Returns
    -------
    codes : (n,) ndarray of int64
    proba : (n, C) ndarray of float32
        Probabilities of the shared classes (local classes summed).
    classes : (C,) ndarray of int64
    """
    if isinstance(loaded_or_model, LoadedModel):
        key = loaded_or_model.key
        model = loaded_or_model.model
    else:
        model = loaded_or_model
    if key is None:
        raise ValueError("a bare Keras model needs its class key (key=...)")
    codes, p = key.to_hierarchical(predict_tiles(model, x, batch_size, tta) if raw is None else raw)
    return codes[p.argmax(axis=1)] if len(p) else np.zeros(0, np.int64), p, codes


def model_recipe(cnn: LoadedModel) -> dict:
    """Return what identifies a CNN in a result's recipe: its file, the file's SHA-256 and its class key.

    Parameters
    ----------
    cnn : LoadedModel

    Returns
    -------
    dict
        ``path``, ``sha256`` and ``class_key`` (the key's digest): two results with the same recipe were
        made by the same model, wherever its file lies now.
    """
    return {"path": str(cnn.path), "sha256": file_sha256(cnn.path), "class_key": cnn.key.digest()}
