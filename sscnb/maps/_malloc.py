"""Fewer malloc arenas for the ``sscnb map`` process: the same maps in less resident memory.

glibc gives a thread that allocates while another thread holds the arena an arena of its own (up to
8 per core), and memory freed in an arena stays with it for that arena's later allocations. The
mapping's threads (the reader, the features, the CNN, the scratch and map writers, GDAL's) each pass
strips of a few tens of MB through their own arena, and each arena keeps what it freed. With two
arenas the freed strips are reused across threads.

Measured with ``benchmarks/map_benchmark.py`` (the 12 000 px mosaic, one survey per process, 2 CPU
cores), two arenas (``MALLOC_ARENA_MAX=2`` or this call) against glibc's default:

- TensorFlow: peak RSS 1.37-1.42 GiB in five runs against 1.41-1.46 GiB in four, at the same speed
  (end to end 30.1-32.1 s against 30.2-32.8 s);
- Keras on JAX, whose peak comes in pass 2 as on a GPU machine: 1.21-1.27 GiB in four runs against
  1.41-1.63 GiB in seven;
- on an H100 (one run, ``MALLOC_ARENA_MAX=2``): 1.92 GiB against 2.01-2.11 GiB, 14.2 s against
  14.3-14.8 s.

The maps are the same: where memory comes from changes nothing in it.
"""

from __future__ import annotations

import ctypes
import logging
import os
import sys

logger = logging.getLogger(__name__)

#: arenas for the mapping process (glibc's default is up to 8 per core)
ARENAS = 2
_M_ARENA_MAX = -8  # glibc's malloc.h


def limit_malloc_arenas(arenas: int = ARENAS) -> int | None:
    """Limit glibc's malloc to ``arenas`` arenas in this process, unless ``MALLOC_ARENA_MAX`` is set.

    Called when ``sscnb map`` starts, before its threads allocate. Arenas made before stay, and
    their threads keep them. A user's ``MALLOC_ARENA_MAX`` (which glibc reads when the process
    starts) is left as it is; on a system without glibc (macOS, Windows, musl) nothing changes.

    Parameters
    ----------
    arenas : int

    Returns
    -------
    int or None
        ``arenas`` where the limit was set, None where it was left alone.
    """
    if "MALLOC_ARENA_MAX" in os.environ or not sys.platform.startswith("linux"):
        return None
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return None
    if mallopt(_M_ARENA_MAX, int(arenas)) != 1:  # musl's mallopt does nothing and says so
        return None
    logger.debug("malloc arenas limited to %d (MALLOC_ARENA_MAX overrides)", arenas)
    return int(arenas)
