"""The CNN's prediction of tiles in batches of one fixed shape (the last one padded).

So XLA and TensorFlow compile once per model, not once per strip; the batch size follows the device.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import weakref
from typing import TYPE_CHECKING

import numpy as np
from scipy.special import softmax

from sscnb.cnn._keras import _keras

if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

__all__ = [
    "network_side",
    "accelerator",
    "machine",
    "dihedral_views",
    "predict_batch_size",
    "predict_tiles",
    "hidden_model",
    "tile_activations",
    "predict_with_hidden",
]


@functools.cache  # asked once per process: the devices do not change while it runs
def accelerator() -> str | None:
    """Return the accelerator Keras computes on ("gpu", "tpu"), or None on the CPU.

    For whichever backend Keras runs on (TensorFlow, JAX or PyTorch).

    Returns
    -------
    str or None
    """
    backend = _keras().backend.backend()
    found: str | None = None
    try:
        if backend == "jax":
            import jax

            found = next((d.platform for d in jax.devices() if d.platform in ("gpu", "tpu")), None)
        elif backend == "tensorflow":
            import tensorflow as tf

            found = "gpu" if tf.config.list_physical_devices("GPU") else None
        elif backend == "torch":
            import torch

            found = "gpu" if torch.cuda.is_available() else None
    except Exception:  # noqa: BLE001  (no accelerator runtime: the CPU)
        found = None
    return found


#: on the CPU, pixels of the network's input per prediction batch (:func:`predict_batch_size`)
CPU_BATCH_PIXELS = 500_000


def network_side(model: Any) -> int:
    """Return the side (px) of the images the network's layers see: its resizing layer's, else its input's.

    ``efficientnet_lite0`` resizes the 50 px tiles inside the model (a layer named ``resize``: 112 px by default).

    Parameters
    ----------
    model : keras.Model

    Returns
    -------
    int
    """
    try:
        return int(model.get_layer("resize").output.shape[1])
    except ValueError:  # no such layer: the tiles go in as they are
        return int(model.input_shape[1])


def predict_batch_size(side: int = 50) -> int:
    """Tiles per prediction batch: ``$SSCNB_PREDICT_BATCH`` if set, else 512 on an accelerator; on the CPU by size.

    On the CPU, :data:`CPU_BATCH_PIXELS` of the network's input (``side`` px square), at most 256 tiles:
    200 tiles of 50 px (the compact CNN), 40 of 112 px (``rivers``, EfficientNet-Lite0). Measured on 2
    cores, 1 632 tiles: ``rivers`` 3.7-3.9 s in batches of 32 or 40 tiles against 4.6 s in batches of 256,
    whose activations (256 x 56 x 56 x 96 floats) leave the cache; the compact CNNs take the same time
    (0.43-0.50 s) in batches of 128, 160 or 256.
    On an H100 with Keras on JAX (``benchmarks/predict_benchmark.py``, 53 696 tiles in 24 strips): 512
    predicts them in 2.4 s the first time and 1.2 s again, 1024 in 2.6 / 1.4 s and 4096 in 3.8 / 1.8 s
    (the last batch of every strip is padded up to it).

    Parameters
    ----------
    side : int, px
        The side of the images the network's layers see (:func:`network_side`).

    Returns
    -------
    int

    Examples
    --------
    >>> import os
    >>> on_cpu = not (os.environ.get("SSCNB_PREDICT_BATCH") or accelerator())
    >>> not on_cpu or (predict_batch_size(50), predict_batch_size(112), predict_batch_size(224)) == (200, 40, 10)
    True
    """
    env = os.environ.get("SSCNB_PREDICT_BATCH")
    if env:
        try:
            n = int(env)
        except ValueError:
            raise ValueError(f"SSCNB_PREDICT_BATCH must be a whole number of tiles, got {env!r}") from None
        if n < 1:
            raise ValueError(f"SSCNB_PREDICT_BATCH must be at least 1, got {n}")
        return n
    return 512 if accelerator() else max(1, min(256, round(CPU_BATCH_PIXELS / int(side) ** 2)))


def predict_tiles(model: Any, x: np.ndarray, batch_size: int | None = None, tta: bool = False) -> np.ndarray:
    """Softmax probabilities of tiles, in batches of one fixed shape.

    The last batch is padded with empty tiles up to ``batch_size``, so that XLA (JAX, TensorFlow)
    compiles the prediction once rather than for every new remainder: a large survey, predicted
    strip by strip, would otherwise compile once per strip (seconds each on a GPU).

    Parameters
    ----------
    model : keras.Model
    x : (n, t, t, 3) ndarray of uint8 (or float, e.g. gamma-corrected)
    batch_size : int, optional
        Default: :func:`predict_batch_size`.
    tta : bool
        Test-time augmentation: the mean of the probabilities of each tile in its 8 orientations
        (the 4 rotations by 90 degrees, each also mirrored), as the CNN was trained with them
        (``augment``). 8 times the work.

    Returns
    -------
    (n, K) ndarray of float32
    """
    if tta:
        x = np.asarray(x)
        total = np.zeros((len(x), model.output_shape[-1]), np.float64)
        for view in dihedral_views(x):
            total += predict_tiles(model, view, batch_size)
        return (total / 8).astype(np.float32)
    if len(x) == 0:
        return np.zeros((0, model.output_shape[-1]), np.float32)
    b = int(batch_size or predict_batch_size(network_side(model)))
    n = len(x)
    # uint8 tiles go in as they are: the model's first layer rescales them (in float32), and a
    # quarter of the bytes pass through the input pipeline (and to a GPU). Measured on 2 cores:
    # 3 072 tiles in 0.66 s as uint8, 0.77 s converted to float32 first; the same probabilities.
    xx = np.asarray(x)
    if xx.dtype != np.uint8:
        xx = np.asarray(xx, np.float32)
    pad = (-n) % b
    if pad:
        xx = np.concatenate([xx, np.zeros((pad,) + xx.shape[1:], xx.dtype)])
    if accelerator():  # one call: Keras queues the batches on the device (how the GPU's figures were measured)
        return np.asarray(model.predict(xx, batch_size=b, verbose=0), np.float32)[:n]
    # On the CPU, batch by batch through the same compiled step: Keras's predict builds a data
    # pipeline on every call (once per strip). On 2 cores, TensorFlow: 3 740-3 870 tiles/s against
    # 3 083-3 097 (benchmarks/predict_benchmark.py); the same probabilities.
    ops = _keras().ops
    out = np.empty((n + pad, model.output_shape[-1]), np.float32)
    for i in range(0, n + pad, b):
        out[i : i + b] = ops.convert_to_numpy(model.predict_on_batch(xx[i : i + b]))
    return out[:n]


#: each CNN's model of its last hidden layer, made once (:func:`hidden_model`)
_HIDDEN: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def hidden_model(model: Any) -> Any:
    """Return a Keras model of ``model``'s last hidden layer: the input of its classifier.

    Parameters
    ----------
    model : keras.Model
        A tile CNN whose last layer is its ``Dense`` classifier (every sscnb backbone, adapted or not).

    Returns
    -------
    keras.Model
        Tiles in, the classifier's input out; made once per model and kept while the model lives.

    Raises
    ------
    ValueError
        Where the last layer is not a ``Dense`` layer: say which model to use instead.
    """
    if model in _HIDDEN:
        return _HIDDEN[model]
    keras = _keras()
    last = model.layers[-1]
    if not isinstance(last, keras.layers.Dense):
        raise ValueError(
            f"features 'multiscale_cnn' reads the input of the CNN's last Dense layer, but {model.name}'s last layer is "
            f"{type(last).__name__} ({last.name!r}): use a model that sscnb built or adapted, or features 'multiscale'"
        )
    sub = keras.Model(model.inputs, last.input, name=f"{model.name}_hidden")
    _HIDDEN[model] = sub
    return sub


def tile_activations(model: Any, x: np.ndarray, batch_size: int | None = None, tta: bool = False) -> np.ndarray:
    """Return the activations of tiles in the CNN's last hidden layer (what its classifier sees).

    Parameters
    ----------
    model : keras.Model
        See :func:`hidden_model`.
    x : (n, t, t, 3) ndarray of uint8 (or float)
    batch_size : int, optional
    tta : bool
        The mean over the tiles' 8 orientations, as :func:`predict_tiles`.

    Returns
    -------
    (n, D) ndarray of float32
        D: the width of that layer (96 for the compact CNN).
    """
    return predict_tiles(hidden_model(model), x, batch_size, tta)


def predict_with_hidden(
    model: Any, x: np.ndarray, batch_size: int | None = None, tta: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Return the CNN's probabilities of tiles and its last hidden layer's activations, from one pass where it can.

    Where the last layer is a softmax ``Dense`` layer and ``tta`` is off, the probabilities are that
    layer applied (in NumPy, float32) to the activations: the CNN runs once. Otherwise (with TTA
    the mean of 8 softmaxes is not the softmax of the mean) :func:`predict_tiles` runs beside
    :func:`tile_activations`.

    Parameters
    ----------
    model : keras.Model
    x : (n, t, t, 3) ndarray
    batch_size : int, optional
    tta : bool

    Returns
    -------
    proba : (n, K) ndarray of float32
        As :func:`predict_tiles` gives them (within float32 rounding).
    acts : (n, D) ndarray of float32
    """
    acts = tile_activations(model, x, batch_size, tta)
    last = model.layers[-1]
    if tta or getattr(last.activation, "__name__", "") != "softmax":
        return predict_tiles(model, x, batch_size, tta), acts
    weights = last.get_weights()
    logits = acts @ np.asarray(weights[0], np.float32)
    if len(weights) > 1:
        logits += np.asarray(weights[1], np.float32)
    return softmax(logits, axis=1).astype(np.float32), acts


def dihedral_views(x: np.ndarray) -> Iterator[np.ndarray]:
    """Yield tiles ``(n, t, t, ...)`` in their 8 orientations: rotated by 0, 90, 180 and 270 degrees, each also mirrored.

    Parameters
    ----------
    x : (n, t, t, ...) ndarray

    Yields
    ------
    ndarray
        The identity first.

    Examples
    --------
    >>> v = list(dihedral_views(np.arange(4).reshape(1, 2, 2)))
    >>> len(v), len({a.tobytes() for a in v})  # 8 orientations; a 2 x 2 tile of 4 values has 8 distinct ones
    (8, 8)
    """
    for k in range(4):
        r = np.rot90(x, k, axes=(1, 2))
        yield r
        yield r[:, :, ::-1]


def machine() -> str:
    """One line on the machine a benchmark ran on: CPU cores, the Keras backend, the accelerator.

    Returns
    -------
    str
        e.g. ``"16 CPU cores; Keras 3.15.1 on jax; accelerator: gpu (NVIDIA H100 80GB HBM3)"``.
    """
    keras = _keras()
    acc = accelerator()
    name = ""
    if acc == "gpu" and shutil.which("nvidia-smi"):
        try:
            name = (
                subprocess.run(
                    ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True, text=True, timeout=20
                )
                .stdout.strip()
                .splitlines()[0]
            )
        except (OSError, subprocess.SubprocessError, IndexError):
            name = ""
    return (
        f"{os.cpu_count()} CPU cores; Keras {keras.__version__} on {keras.backend.backend()}; accelerator: "
        f"{acc or 'none'}{f' ({name})' if name else ''}"
    )
