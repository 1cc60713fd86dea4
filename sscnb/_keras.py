"""Keras, imported once and only when a model is used, with its start-up noise filtered.

The native libraries' start-up lines are taken out of stderr (students read TensorFlow's C++ log lines, in
pink, as errors).
"""

from __future__ import annotations

import contextlib
import os
import re
from typing import Any

#: lines the native libraries print to stderr while the backend starts that are not problems: absl's
#: notice and INFO/WARNING lines printed before its log is set up, and the failed CUDA probe of a
#: machine without a GPU (students read them, in pink, as errors)
_NATIVE_NOISE = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\) is called|[IW]\d{4} "
    r"|E\d{4} .*(failed call to cuInit|Unable to register cu))"
)
_KERAS = None


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
    >>> quiet_native_start("I0000 00:00:1.0 port.cc:153] oneDNN custom operations are on.\\n"
    ...                    "E0000 00:00:1.1 cuda_platform.cc:52] failed call to cuInit: INTERNAL\\n"
    ...                    "E0000 00:00:1.2 foo.cc:1] out of memory\\n")
    'E0000 00:00:1.2 foo.cc:1] out of memory\\n'
    """
    return "".join(line for line in text.splitlines(keepends=True) if not _NATIVE_NOISE.match(line))


def _keras() -> Any:
    """Return Keras, imported (and its backend started) once, without the start-up noise.

    The native libraries' start-up lines on stderr are filtered out (:func:`quiet_native_start`) and every
    other line is kept.
    """
    global _KERAS
    if _KERAS is not None:
        return _KERAS
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import sys
    import tempfile

    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):  # no real stderr (an embedded interpreter): import as is
        import keras

        _KERAS = keras
        return keras
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            import keras

            keras.ops.convert_to_numpy(keras.ops.zeros((1,)))  # start the backend's devices now, quietly
        finally:
            with contextlib.suppress(OSError, ValueError):
                sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            kept = quiet_native_start(tmp.read().decode("utf-8", "replace"))
            if kept:
                sys.stderr.write(kept)
    _KERAS = keras
    return keras
