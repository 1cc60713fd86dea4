"""The root of sscnb's errors.

Every error that sscnb raises on purpose (bad input, a setting it cannot honour, results that would mix) is an
:class:`SscnbError`, and also the built-in exception it is a kind of (``DataError(SscnbError, ValueError)``,
as rasterio does), so ``except SscnbError`` catches all of them and ``except ValueError`` keeps working.
"""

from __future__ import annotations

__all__ = ["SscnbError"]


class SscnbError(Exception):
    """An error sscnb raised on purpose; its message names the file or setting and the fix."""
