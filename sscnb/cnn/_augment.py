"""Training-time augmentation of CNN tiles, as Keras layers active in training only.

The 8 symmetries of a square (flips and 90-degree rotations) and colour changes of the kind that differ
between surveys. Backend-neutral (``keras.ops``); built lazily so that importing sscnb needs no Keras.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sscnb.cnn._keras import _keras

__all__ = ["COLOUR_AUGMENT_NAMES", "DihedralAugment", "PhotometricAugment"]

COLOUR_AUGMENT_NAMES = ("aug_gamma", "aug_white_balance", "aug_contrast", "aug_brightness", "aug_saturation")


class DihedralAugment:
    """Random flips and 90-degree rotations of square tiles (the 8 symmetries of a square), a Keras layer active in training only.

    Built lazily so that importing sscnb needs no Keras.
    """

    _cls = None

    @classmethod
    def layer(cls, seed=None):
        """Return the layer class's instance for ``seed`` (the class is built on first use)."""
        if cls._cls is None:
            keras = _keras()
            ops = keras.ops

            Layer: Any = keras.layers.Layer  # a Keras class, known once Keras is loaded

            class _Dihedral(Layer):
                def __init__(self, seed=None, **kw):
                    super().__init__(**kw)
                    self.gen = keras.random.SeedGenerator(seed)

                def call(self, x, training=None):
                    if not training:
                        return x
                    b = ops.shape(x)[0]
                    u = keras.random.uniform((b, 3), seed=self.gen)
                    m = lambda k: ops.reshape(u[:, k] < 0.5, (-1, 1, 1, 1))  # noqa: E731
                    x = ops.where(m(0), ops.flip(x, axis=1), x)
                    x = ops.where(m(1), ops.flip(x, axis=2), x)
                    x = ops.where(m(2), ops.transpose(x, (0, 2, 1, 3)), x)
                    return x

            cls._cls = _Dihedral
        return cls._cls(seed=seed, name="dihedral_augment")


class PhotometricAugment:
    """Random colour changes of the kind that differ between surveys, as a Keras layer.

    Sun, exposure, camera white balance; active in training only, deterministic under its seed.

    Per tile, on values scaled to 0-1: gamma ``g`` (``log g`` uniform in ``+-log(1 + aug_gamma)``),
    a gain per channel (``log`` uniform in ``+-aug_white_balance``), contrast about the tile mean
    (factor uniform in ``1 +- aug_contrast``), a brightness shift (uniform in ``+-aug_brightness``),
    saturation about the grey value (factor uniform in ``1 +- aug_saturation``); clipped to 0-1 and
    scaled back to 0-255. Backend-neutral (``keras.ops``).
    """

    _cls = None

    @classmethod
    def layer(cls, strengths: dict, seed=None):
        """Build the layer; ``strengths`` maps the names of :data:`COLOUR_AUGMENT_NAMES` to values."""
        if cls._cls is None:
            keras = _keras()
            ops = keras.ops

            Layer: Any = keras.layers.Layer  # a Keras class, known once Keras is loaded

            class _Photometric(Layer):
                def __init__(self, strengths, seed=None, **kw):
                    super().__init__(**kw)
                    self.s = {k: float(strengths.get(k, 0.0)) for k in COLOUR_AUGMENT_NAMES}
                    self.gen = keras.random.SeedGenerator(seed)

                def call(self, x, training=None):
                    if not training:
                        return x
                    s = self.s
                    b = ops.shape(x)[0]
                    u = keras.random.uniform((b, 7), minval=-1.0, maxval=1.0, seed=self.gen)
                    col = lambda k: ops.reshape(u[:, k], (-1, 1, 1, 1))  # noqa: E731
                    y = ops.clip(x / 255.0, 0.0, 1.0)
                    g = ops.exp(col(0) * float(np.log1p(s["aug_gamma"])))
                    y = ops.power(ops.maximum(y, 1e-6), g)
                    gains = ops.exp(ops.reshape(u[:, 1:4], (-1, 1, 1, 3)) * s["aug_white_balance"])
                    y = y * gains
                    mean = ops.mean(y, axis=(1, 2, 3), keepdims=True)
                    y = (y - mean) * (1.0 + col(4) * s["aug_contrast"]) + mean
                    y = y + col(5) * s["aug_brightness"]
                    grey = ops.mean(y, axis=3, keepdims=True)
                    y = (y - grey) * (1.0 + col(6) * s["aug_saturation"]) + grey
                    return ops.clip(y, 0.0, 1.0) * 255.0

            cls._cls = _Photometric
        return cls._cls(strengths, seed=seed, name="photometric_augment")
