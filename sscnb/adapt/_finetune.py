"""Adapt a trained CNN to a new river: fine-tune it on a few labelled tiles of that river.

::

    parent = modelfiles.load_model("outputs/stmarg/model/cnn_stmarg.keras")
    new = labels.tile_set(labels.load_labels("tile_labels.csv", images, scheme, 50), images, 50)
    result = fine_tune(parent, new, replay=0.1, epochs=10)
    modelfiles.save_model(out, "cnn_adapted", result.model, result.key, result.card)

The new river's classes join the class key as local classes of that river (as the method treats
every river), so the parent's classes keep their outputs and the new river gets its own. A new
output starts from the parent's outputs of the same shared class (their mean weights), so before
any training the adapted model predicts what the parent did. A sample of the parent's training tiles
can be replayed beside the new ones (``replay``: a fraction of them, or a count) so that the model
does not forget the rivers it knew; the new tiles are repeated (augmented anew each time) so that
an epoch shows them at least 1 024 times and as often as the replayed ones. Colour augmentation
(:class:`sscnb.cnn.PhotometricAugment`) is on by default: another river is another light.

The card records the lineage: the parent model's SHA-256 and name, the rivers and tiles added, the
replayed tiles, the epochs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from sscnb import labels as _labels
from sscnb.adapt._check import before_after, judge_grid  # did it help: there; adapt's names too
from sscnb.adapt._defaults import DEFAULT_EPOCHS, DEFAULT_LEARNING_RATE, DEFAULT_REPLAY
from sscnb.cnn._classkey import ClassKey
from sscnb.cnn._files import check_new_model, load_model, make_card, save_model
from sscnb.cnn._inputstats import merge_statistics, training_statistics
from sscnb.cnn._model import CNNParams, _keras, train
from sscnb.cnn._tilesets import TileSet, collect_tiles
from sscnb.data._pairs import data_folders, find_pairs
from sscnb.errors import AdaptError
from sscnb.layout import check_output
from sscnb.provenance import file_sha256, remove_temporaries, write_text
from sscnb.results import remove_item

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from sscnb.cnn._files import LoadedModel
    from sscnb.data._classes import ClassScheme

__all__ = [
    "AdaptError",
    "adapt_model",
    "before_after",
    "judge_grid",
    "merge_class_key",
    "widen_model",
    "replay_tiles",
    "fine_tune",
    "AdaptResult",
]

MIN_NEW_PER_EPOCH = 1024


@dataclass
class AdaptResult:
    """The adapted model, its merged class key, its card (with lineage) and the training history."""

    model: Any  # a Keras model
    key: ClassKey
    card: dict
    history: pd.DataFrame
    seconds: float


def merge_class_key(parent_key: ClassKey, tiles: TileSet, scheme: ClassScheme) -> tuple[ClassKey, list[int]]:
    """Return the parent's class key with the new tiles' (river, class) pairs appended.

    Parameters
    ----------
    parent_key : sscnb.cnn.ClassKey
    tiles : TileSet
        The new river's labelled tiles.
    scheme : ClassScheme

    Returns
    -------
    key : ClassKey
        The parent's rows unchanged (same LocalClass), then one row per new (river, class) pair
        (per new class when the parent's classes are shared, ``River == "*"``).
    added : list of int
        LocalClass of the appended rows.
    """
    t = parent_key.table
    rows = [tuple(r) for r in t[list(ClassKey.COLUMNS)].itertuples(index=False)]
    if parent_key.local_classes:
        have = {(str(r), int(c)) for c, r in zip(t.HierarchClass, t.River, strict=True)}
        pairs = sorted({(str(r), int(c)) for r, c in zip(tiles.river, tiles.y, strict=True)} - have)
    else:
        have = {("*", int(c)) for c in t.HierarchClass}
        pairs = sorted({("*", int(c)) for c in tiles.y} - have)
    added = []
    for r, c in pairs:
        added.append(len(rows))
        rows.append((len(rows), c, r, scheme.name(c)))
    return ClassKey(pd.DataFrame(rows, columns=list(ClassKey.COLUMNS))), added


def widen_model(
    model: Any, parent_key: ClassKey, key: ClassKey, learning_rate: float = DEFAULT_LEARNING_RATE, seed: int = 0
) -> Any:
    """Return the parent model with a softmax of ``key.n_outputs`` classes, compiled for fine-tuning.

    The layers below the output are a copy of the parent's (trainable; the parent is not changed). The output layer keeps
    the parent's weights for the parent's classes; a new local class starts as the mean of the
    parent's outputs of the same shared class (or small random weights and a bias 8 below the
    lowest when the parent never saw that class: it starts near probability 0), and the biases of a
    shared class's ``n`` outputs (``n_old`` before) are lowered by ``log(n / n_old)``, so that the
    probabilities of the shared classes stay the parent's.

    Parameters
    ----------
    model : keras.Model
        Whose last layer is the softmax Dense.
    parent_key, key : ClassKey
        ``key`` extends ``parent_key`` (:func:`merge_class_key`).
    learning_rate : float
    seed : int

    Returns
    -------
    keras.Model
    """
    keras = _keras()
    keras.utils.set_random_seed(int(seed))
    # a copy: fine-tuning must never change the parent, which the caller may still use
    base = keras.models.clone_model(model)
    base.set_weights(model.get_weights())
    head = base.layers[-1]
    if not isinstance(head, keras.layers.Dense):
        raise AdaptError(
            f"the last layer of {model.name} is a {type(head).__name__}, not the softmax Dense layer "
            "sscnb's models end with: this model cannot be fine-tuned here"
        )
    W, b = [np.asarray(w) for w in head.get_weights()]
    n_old, n_new = parent_key.n_outputs, key.n_outputs
    if W.shape[1] != n_old:
        raise AdaptError(f"the model has {W.shape[1]} outputs but its class key {n_old}")
    if n_new == n_old:
        new_model = base
    else:
        feats = head.input
        new_head = keras.layers.Dense(n_new, activation="softmax", name="classes_adapted")
        new_model = keras.Model(base.inputs, new_head(feats), name=model.name)
        W2 = np.zeros((W.shape[0], n_new), W.dtype)
        b2 = np.zeros(n_new, b.dtype)
        W2[:, :n_old], b2[:n_old] = W, b
        rng = np.random.default_rng(seed)
        t = key.table
        hier = t.HierarchClass.to_numpy()
        for j in range(n_old, n_new):
            same = np.flatnonzero(hier[:n_old] == hier[j])
            if len(same):
                W2[:, j] = W[:, same].mean(axis=1)
                b2[j] = b[same].mean()
            else:
                W2[:, j] = rng.normal(0, 0.01, W.shape[0])
                b2[j] = b.min() - 8.0  # starts near 0: the parent's probabilities unchanged
        # the local outputs of one shared class share its probability at the start: with n_old copies
        # before and n after, every copy's logit is lowered by log(n / n_old)
        for c in np.unique(hier):
            idx = np.flatnonzero(hier == c)
            k_old = int((idx < n_old).sum())
            if k_old and len(idx) > k_old:
                b2[idx] -= np.log(len(idx) / k_old)
        new_head.set_weights([W2, b2])
    new_model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate, amsgrad=True),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return new_model


def replay_tiles(
    parent_card: dict,
    replay: float,
    scheme: ClassScheme,
    replay_dir: str | Path | None = None,
    seed: int = 0,
    progress: bool = True,
) -> TileSet | None:
    """Return a stratified random sample of the parent's training tiles.

    Parameters
    ----------
    parent_card : dict
        The parent's card: ``data_dir`` (where its training images are), ``tile_size``, ``purity``.
    replay : float or int
        A fraction (0-1) of the parent's tiles, or a count (> 1). 0 replays nothing.
    scheme : ClassScheme
    replay_dir : str or Path, optional
        The parent's training folder, when its card does not record it or it has moved; or a
        ``.npz`` of tiles (:meth:`TileSet.save_npz`: what a model shipped with sscnb carries), of
        which a share ``replay`` of the parent's ``n_tiles`` is drawn (all, at most).
    seed : int
    progress : bool

    Returns
    -------
    TileSet or None
    """
    if not replay:
        return None
    folder = replay_dir or parent_card.get("data_dir")
    if folder is not None and str(folder).endswith(".npz"):  # tiles shipped with the model (sscnb.cnn)
        return _sample_tiles(TileSet.load_npz(folder), replay, int(parent_card.get("n_tiles", 0)), seed)
    if folder is None:
        raise AdaptError(
            "replay asks for the parent's training tiles, but its model card does not record its "
            "training folder: give replay_dir (the folder the parent was trained on), or replay=0"
        )
    folders = data_folders(folder)  # a model of several rivers records each of its folders
    for f in folders:
        if not f.is_dir():
            raise AdaptError(f"the parent's training folder {f} does not exist here: give replay_dir, or replay=0")
    records = [rec for f in folders for rec in find_pairs(f)]
    tiles = collect_tiles(
        records, scheme, int(parent_card["tile_size"]), float(parent_card.get("purity", 0.9)), progress=progress
    )
    return _sample_tiles(tiles, replay, len(tiles), seed)


def _sample_tiles(tiles: TileSet, replay: float, of: int, seed: int) -> TileSet:
    """Draw ``replay`` (a share of ``of`` tiles, or a count) of ``tiles``, stratified by river and class."""
    n = int(round(replay * max(of, len(tiles)))) if replay <= 1 else int(replay)
    n = max(1, min(n, len(tiles)))
    rng = np.random.default_rng(seed)
    idx = []
    for key in sorted(set(zip(tiles.river, tiles.y, strict=True))):
        members = np.flatnonzero((tiles.river == key[0]) & (tiles.y == key[1]))
        k = max(1, int(round(n * len(members) / len(tiles))))
        idx.append(rng.choice(members, size=min(k, len(members)), replace=False))
    return tiles.subset(np.sort(np.concatenate(idx)))


def _training_arrays(new_tiles: TileSet, rep: TileSet | None, key: ClassKey):
    """Return the tiles and local classes of fine-tuning, and how often the new tiles are repeated.

    The new tiles are repeated (each time augmented differently) so that an epoch shows them at least
    ``MIN_NEW_PER_EPOCH`` times and at least as often as the replayed tiles.
    """
    target = max(MIN_NEW_PER_EPOCH, 0 if rep is None else len(rep))
    reps = max(1, int(np.ceil(target / len(new_tiles))))
    x = [np.repeat(new_tiles.x, reps, axis=0)]
    y = [np.repeat(key.encode(new_tiles.y, new_tiles.river), reps)]
    if rep is not None:
        x.append(rep.x)
        y.append(key.encode(rep.y, rep.river))
    return np.concatenate(x), np.concatenate(y), reps


def _lineage(
    parent,
    new_tiles: TileSet,
    rep: TileSet | None,
    key: ClassKey,
    added,
    *,
    replay,
    replay_dir,
    reps: int,
    epochs,
    learning_rate,
    colour,
    seconds: float,
) -> dict:
    """Return the card's ``lineage``: where the adapted model comes from and what it learnt."""
    scheme, pc = parent.scheme, parent.card
    counts = {
        str(r): {
            scheme.name(int(c)): int(((new_tiles.river == r) & (new_tiles.y == c)).sum())
            for c in np.unique(new_tiles.y[new_tiles.river == r])
        }
        for r in np.unique(new_tiles.river)
    }
    return {
        "parent_model": parent.path.name,
        "parent_sha256": file_sha256(parent.path),
        "parent_rivers": parent.key.rivers,
        "rivers_added": sorted(set(map(str, new_tiles.river))),
        "tiles_added": counts,
        "n_tiles_added": int(len(new_tiles)),
        "images_added": sorted(set(map(str, new_tiles.image))),
        "local_classes_added": [f"{r}:{n}" for r, n in zip(key.table.River[added], key.table.ClassName[added], strict=True)],
        "replay": replay,
        "replayed_tiles": 0 if rep is None else int(len(rep)),
        "replay_dir": None if rep is None else str(replay_dir or pc.get("data_dir")),
        "new_tile_repeats": reps,
        "epochs": int(epochs),
        "learning_rate": float(learning_rate),
        "colour_augment": colour or None,
        "seconds": round(seconds, 1),
        "parent_lineage": pc.get("lineage"),
    }


def _check_new_tiles(parent, new_tiles: TileSet) -> None:
    """Refuse an empty tile set, or tiles of another size than the parent model's."""
    if len(new_tiles) == 0:
        raise AdaptError("no labelled tile (mixed and skipped tiles do not count): label some tiles of the new river first")
    if new_tiles.tile_size != parent.tile_size:
        raise AdaptError(
            f"the labelled tiles are {new_tiles.tile_size} px but {parent.path.name} takes {parent.tile_size} px tiles"
        )


def _adapted_card(parent, new_tiles: TileSet, rep: TileSet | None, key: ClassKey, added, history, run: dict) -> dict:
    """Return the adapted model's card: the parent's, trained on both tile sets, with the lineage of ``run``."""
    pc = parent.card
    lineage = _lineage(
        parent,
        new_tiles,
        rep,
        key,
        added,
        replay=run["replay"],
        replay_dir=run["replay_dir"],
        reps=run["reps"],
        epochs=run["epochs"],
        learning_rate=run["learning_rate"],
        colour=run["colour"],
        seconds=run["seconds"],
    )
    both = (
        new_tiles
        if rep is None
        else TileSet(
            np.concatenate([new_tiles.x, rep.x]),
            np.concatenate([new_tiles.y, rep.y]),
            np.concatenate([new_tiles.river, rep.river]),
            np.concatenate([new_tiles.image, rep.image]),
            new_tiles.tile_size,
            new_tiles.purity,
        )
    )
    return make_card(
        backbone=pc.get("backbone", "unknown"),
        weights=pc.get("weights"),
        tile_size=parent.tile_size,
        purity=pc.get("purity", 0.9),
        scheme=parent.scheme,
        tiles=both,
        epochs=run["epochs"],
        seed=run["seed"],
        history=history,
        lineage=lineage,
        data_dir=pc.get("data_dir"),
        input_statistics=merge_statistics(pc.get("input_statistics"), training_statistics(both.x, both.image)),
        colour_augment=bool(run["colour"]),
        augment=True,
        batch_size=run["batch_size"],
    )


def fine_tune(
    parent: LoadedModel,
    new_tiles: TileSet,
    *,
    replay: float = DEFAULT_REPLAY,
    replay_dir: str | Path | None = None,
    epochs: int = DEFAULT_EPOCHS,
    learning_rate: float = DEFAULT_LEARNING_RATE,
    batch_size: int = 64,
    colour: dict | None = None,
    seed: int = 42,
    class_weight: str | None = None,
    progress: bool = True,
) -> AdaptResult:
    """Fine-tune a loaded model on a new river's labelled tiles (and replayed parent tiles).

    Parameters
    ----------
    parent : sscnb.cnn.LoadedModel
    new_tiles : TileSet
        From :func:`sscnb.labels.tile_set`; at its model's tile size.
    replay : float or int
        See :func:`replay_tiles`.
    replay_dir : str or Path, optional
    epochs : int
        Passes over the (repeated) new tiles and the replayed ones.
    learning_rate : float
    batch_size : int
    colour : dict, optional
        Colour-augmentation strengths; default :meth:`sscnb.cnn.CNNParams.colour` of the defaults
        with ``colour_augment=True``. ``{}`` turns it off.
    seed : int
    class_weight : {None, "balanced"}
        "balanced" weighs every local class (of the new river and the replayed ones) equally. Off by
        default: on Wildcat Creek it made no clear difference (seed to seed +-0.05 F1).
    progress : bool

    Returns
    -------
    AdaptResult
        ``card`` holds ``lineage`` (parent name and SHA-256, rivers added, tiles added per river and
        class, replayed tiles, epochs, learning rate, colour augmentation, seconds).

    Raises
    ------
    AdaptError
        No labelled tile, or tiles of another size than the model's.
    """
    scheme = parent.scheme
    _check_new_tiles(parent, new_tiles)
    if colour is None:
        colour = CNNParams(colour_augment=True).colour()
    t0 = time.perf_counter()
    shipped = parent.card.get("replay_file")  # a model shipped with sscnb carries a sample of its tiles
    if replay_dir is None and shipped and (parent.path.parent / shipped).is_file():
        replay_dir = parent.path.parent / shipped
    rep = replay_tiles(parent.card, replay, scheme, replay_dir, seed, progress)
    key, added = merge_class_key(parent.key, new_tiles, scheme)
    model = widen_model(parent.model, parent.key, key, learning_rate, seed)
    x, y, reps = _training_arrays(new_tiles, rep, key)
    history = train(
        model,
        x,
        y,
        epochs=int(epochs),
        batch_size=int(batch_size),
        augment=True,
        seed=seed,
        progress=progress,
        colour=colour or None,
        class_weight=class_weight,
    )
    seconds = time.perf_counter() - t0
    run = {
        "replay": replay,
        "replay_dir": replay_dir,
        "reps": reps,
        "epochs": int(epochs),
        "seed": seed,
        "learning_rate": learning_rate,
        "batch_size": int(batch_size),
        "colour": colour,
        "seconds": seconds,
    }
    card = _adapted_card(parent, new_tiles, rep, key, added, history, run)
    return AdaptResult(model, key, card, history, seconds)


def adapt_model(
    model_path: str | Path,
    labels_source: str | Path,
    images: Any,
    out_dir: str | Path,
    *,
    model_name: str = "cnn_adapted",
    epochs: int = DEFAULT_EPOCHS,
    replay: float = DEFAULT_REPLAY,
    replay_dir: str | Path | None = None,
    learning_rate: float = DEFAULT_LEARNING_RATE,
    colour: dict | None = None,
    class_field: str = "class_code",
    seed: int = 42,
    overwrite: bool = False,
    progress: bool = True,
    log: Callable[[str], object] = print,
    out_setting: str = "out_dir",
) -> dict:
    """Load a model, read the new river's labels, fine-tune, save: what notebook 07 and ``sscnb adapt`` do.

    Parameters
    ----------
    model_path : str or Path
        The parent ``.keras`` (with its class key and card beside it).
    labels_source : str or Path
        A labels CSV, a polygon file, or a folder of ``SCLS_`` rasters (:func:`sscnb.labels.load_labels`).
    images : str, Path or sequence
        The new river's images, or folders of them.
    out_dir : str or Path
        Where ``<model_name>.keras``, ``_classkey.csv``, ``_card.json`` and ``_history.csv`` go.
    model_name, epochs, replay, replay_dir, learning_rate, colour, seed
        See :func:`fine_tune`.
    class_field : str
        The class attribute of polygons.
    overwrite : bool
        Replace a model of that name: once the new one is trained, every file of the earlier one (the
        model or its head, class key, card, history, and their sidecars) is removed
        (:func:`sscnb.results.remove_item`), then the new one is saved. Without it, a model of that name
        is refused before anything is trained.
    progress : bool
    log : callable
    out_setting : str
        How the caller named ``out_dir`` (``--out`` on the command line), for the message when the
        folder cannot be written.

    Returns
    -------
    dict of str to Path
        ``model``, ``class_key``, ``card``, ``history``.

    Raises
    ------
    LabelError, AdaptError, FileExistsError, OutputFolderError
        Before anything is written (an output folder that cannot be written: before any training).
    """
    check_output(out_dir, out_setting)  # a folder that cannot be written is refused before any training (nothing made)
    out_dir = Path(out_dir)
    ends = {"model": ".keras", "head": ".npz", "class_key": "_classkey.csv", "card": "_card.json", "history": "_history.csv"}
    ours = {k: out_dir / f"{model_name}{end}" for k, end in ends.items()}
    remove_temporaries(ours.values(), log)  # what a killed save of this model left
    check_new_model(out_dir, model_name, overwrite)  # a model of that name (.keras or a head's .npz): refused now
    parent = load_model(model_path)
    index = _labels.image_index(images)
    table = _labels.load_labels(labels_source, index, parent.scheme, parent.tile_size, class_field=class_field)
    new = _labels.tile_set(table, index, parent.tile_size, progress=progress)
    log(
        f"{len(table)} labelled tiles in {labels_source} ({len(new)} of one class; "
        f"{int((table.class_code == 0).sum())} mixed, {int((table.class_code < 0).sum())} skipped)"
    )
    res = fine_tune(
        parent,
        new,
        replay=replay,
        replay_dir=replay_dir,
        epochs=epochs,
        learning_rate=learning_rate,
        colour=colour,
        seed=seed,
        progress=progress,
    )
    log(
        f"fine-tuned in {res.seconds:.0f} s: {res.card['lineage']['n_tiles_added']} new tiles, "
        f"{res.card['lineage']['replayed_tiles']} replayed, {epochs} epochs"
    )
    if overwrite:  # every file of the earlier model of that name goes, its history too, before the new one is saved
        gone = remove_item([ours])
        if gone:
            log(f"overwrite: removed the earlier {model_name} ({', '.join(p.name for p in gone)})")
    paths = save_model(out_dir, model_name, res.model, res.key, res.card, overwrite=overwrite)

    paths["history"] = write_text(out_dir / f"{model_name}_history.csv", res.history.to_csv(index=False))
    return paths
