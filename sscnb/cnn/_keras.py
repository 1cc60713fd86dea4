"""Keras, imported once and only when a model is used, with its start-up noise filtered.

The native libraries' start-up lines are taken out of stderr (students read TensorFlow's C++ log lines, in
pink, as errors). Before the import, the backends get settings that suit sscnb's small models on a GPU
(:func:`backend_settings`), unless the user set them.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import sys
import tempfile
from collections.abc import Iterator
from typing import Any

import numpy as np

#: lines the native libraries print to stderr while the backend starts that are not problems: absl's
#: notice and INFO/WARNING lines printed before its log is set up, and the failed CUDA probe of a
#: machine without a GPU (students read them, in pink, as errors)
_NATIVE_NOISE = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\) is called|[IW]\d{4} "
    r"|E\d{4} .*(failed call to cuInit|Unable to register cu))"
)
_KERAS = None


def _default_jax_cache() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "sscnb", "jax")


def backend_settings() -> dict:
    """Set the backends' GPU memory and compile-cache settings that the user has not set; return them.

    - ``XLA_PYTHON_CLIENT_PREALLOCATE=false``: JAX would otherwise reserve 75% of the GPU's memory at
      start. On an H100 that reservation also took 1.9 GiB of host memory (peak RSS 2.8 GiB for an
      import and one operation, 0.9 GiB without it), and it leaves nothing for a second process on the
      same GPU (a Dask worker). sscnb's models need a few hundred MB.
    - ``TF_FORCE_GPU_ALLOW_GROWTH=true``: the same for TensorFlow, which takes the whole GPU otherwise.
    - ``JAX_COMPILATION_CACHE_DIR``: JAX keeps what XLA compiled on disk (``$SSCNB_JAX_CACHE``, by
      default ``~/.cache/sscnb/jax``; ``SSCNB_JAX_CACHE=off`` keeps nothing), and every compilation
      is kept (``JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS=0``). On an H100, XLA compiled for 9.9 s
      of a 30 s ``sscnb map``: building the models and every new shape. A later process (the next
      survey of a batch, notebook 03 tomorrow) reads them back. The compiled code is the same, so
      the maps are too. JAX makes the folder; where it cannot, JAX warns (naming it) and compiles as before.

    Returns
    -------
    dict
        The variables this call set (those the user had set are left as they were).
    """
    wanted = {"XLA_PYTHON_CLIENT_PREALLOCATE": "false", "TF_FORCE_GPU_ALLOW_GROWTH": "true"}
    cache = os.environ.get("SSCNB_JAX_CACHE", "").strip() or _default_jax_cache()
    if cache.lower() not in ("off", "0", "none", "false"):
        wanted["JAX_COMPILATION_CACHE_DIR"] = cache
        wanted["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
    done = {}
    for k, v in wanted.items():
        if k not in os.environ:
            os.environ[k] = done[k] = v
    return done


def quiet_native_start(text: str) -> str:
    r"""Return what is left of the backend's start-up stderr once the known noise is taken out.

    Parameters
    ----------
    text : str

    Returns
    -------
    str
        The other lines (real warnings and errors), in order.

    Examples
    --------
    >>> quiet_native_start("I0000 00:00:1.0 port.cc:153] oneDNN custom operations are on.\n"
    ...                    "E0000 00:00:1.1 cuda_platform.cc:52] failed call to cuInit: INTERNAL\n"
    ...                    "E0000 00:00:1.2 foo.cc:1] out of memory\n")
    'E0000 00:00:1.2 foo.cc:1] out of memory\n'
    """
    return "".join(line for line in text.splitlines(keepends=True) if not _NATIVE_NOISE.match(line))


@contextlib.contextmanager
def quiet_native_import() -> Iterator[None]:
    """Run the block (a native library's import) with its start-up lines on stderr filtered out.

    What the C++ libraries write to file descriptor 2 while the block runs is captured and written back
    without the known noise (:func:`quiet_native_start`): TensorFlow's absl lines bypass Python's
    ``sys.stderr`` and ignore ``TF_CPP_MIN_LOG_LEVEL`` before its logging starts. Where there is no real
    stderr (an embedded interpreter), the block runs as is.
    """
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):
        yield
        return
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield
        finally:
            with contextlib.suppress(OSError, ValueError):
                sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            kept = quiet_native_start(tmp.read().decode("utf-8", "replace"))
            if kept:
                sys.stderr.write(kept)


def _keras() -> Any:
    """Return Keras, imported (and its backend started) once, without the start-up noise.

    The native libraries' start-up lines on stderr are filtered out (:func:`quiet_native_start`) and every
    other line is kept.
    """
    global _KERAS
    if _KERAS is not None:
        return _KERAS
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    backend_settings()
    with quiet_native_import():
        import keras

        keras.ops.convert_to_numpy(keras.ops.zeros((1,)))  # start the backend's devices now, quietly
    _KERAS = keras
    return keras


def _seed_internals() -> tuple | None:
    """Keras's global state and the names of its seed and seed generator there (Keras 3.15), or None."""
    try:
        from keras.src.backend.common import global_state
        from keras.src.random import seed_generator
        from keras.src.utils import rng_utils

        return global_state, rng_utils.GLOBAL_RANDOM_SEED, seed_generator.GLOBAL_SEED_GENERATOR
    except (ImportError, AttributeError):
        return None


def set_random_seed(seed: int) -> None:
    """Seed Python, NumPy, Keras and the backend as ``keras.utils.set_random_seed`` does, TensorFlow only if in use.

    Keras's own function also seeds TensorFlow whenever it is installed, for ``tf.data`` pipelines,
    and imports it to do so, whatever the backend. sscnb uses no ``tf.data`` on JAX or PyTorch. On
    Keras on JAX, in a virtual environment that also holds TensorFlow (as the README's GPU set-up
    makes), that import cost the process's first pixel-MLP fit 2 s and 0.3 GiB of resident memory
    (2 CPU cores). So on another backend TensorFlow is seeded only if something has imported it
    already. The seeds, and so the results, are the same either way (tested). It sets Keras's own
    global seed through Keras's internals (as of Keras 3.15); a Keras without them gets Keras's own
    function.

    Parameters
    ----------
    seed : int
    """
    keras = _keras()
    in_use = keras.backend.backend() == "tensorflow" or "tensorflow" in sys.modules
    internals = None if in_use else _seed_internals()
    if internals is None:  # TensorFlow in use, or a Keras without those internals: Keras's own function
        keras.utils.set_random_seed(int(seed))
        return
    # what keras.utils.set_random_seed does, TensorFlow's seed left out
    global_state, seed_name, generator_name = internals
    global_state.set_global_attribute(seed_name, int(seed))
    global_state.set_global_attribute(generator_name, None)
    random.seed(int(seed))
    np.random.seed(int(seed))  # noqa: NPY002 -- Keras's fit shuffles with NumPy's global generator
    if keras.backend.backend() == "torch":
        import torch

        torch.manual_seed(int(seed))
