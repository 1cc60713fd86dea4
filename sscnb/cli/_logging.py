"""sscnb's messages and Python's warnings on stderr, one line each, once, in sscnb's own words."""

from __future__ import annotations

import logging
import warnings


def configure_logging(verbosity: int = 0) -> None:
    """Send sscnb's messages (and Python warnings) to stderr, once per process, in sscnb's own words.

    WARNING and up by default, INFO with ``-v``, errors only with ``-q``. A warning is one line,
    ``warning: StMarg_31162: ...``, shown once however often it is raised or logged (not Python's
    ``WARNING py.warnings: /path/x.py:453: DataWarning:`` with a line of source).

    Parameters
    ----------
    verbosity : {-1, 0, 1}
        ``-q`` (errors only), the default, or ``-v`` (also information).

    Returns
    -------
    None
    """
    level = {-1: logging.ERROR, 0: logging.WARNING}.get(verbosity, logging.INFO)
    root = logging.getLogger()
    handler = next((h for h in root.handlers if getattr(h, "_sscnb", False)), None)
    if handler is None:
        handler = logging.StreamHandler()
        handler._sscnb = True  # type: ignore[attr-defined]  # marks the handler sscnb added
        handler.setFormatter(_PlainFormatter())
        handler.addFilter(_OnceFilter())
        root.addHandler(handler)
    handler.setLevel(level)
    logging.getLogger("sscnb").setLevel(min(level, logging.INFO))
    warnings.showwarning = _warning_as_log


class _PlainFormatter(logging.Formatter):
    """``warning: ...`` / ``error: ...`` / the message alone (INFO); a traceback only where one was logged (``-v``)."""

    def format(self, record: logging.LogRecord) -> str:
        prefix = {logging.WARNING: "warning: ", logging.ERROR: "error: ", logging.CRITICAL: "error: "}.get(record.levelno, "")
        text = prefix + record.getMessage()
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


class _OnceFilter:
    """Let each warning or error text through once per process (INFO, such as progress, always)."""

    def __init__(self):
        self.seen: set[str] = set()

    def filter(self, record) -> bool:
        if record.levelno < logging.WARNING:
            return True
        text = record.getMessage()
        if text in self.seen:
            return False
        self.seen.add(text)
        return True


def _warning_as_log(message, category, filename, lineno, file=None, line=None) -> None:
    """Show a Python warning as one line of sscnb's log: sscnb's own as their text, others with their kind."""
    ours = getattr(category, "__module__", "").startswith("sscnb")
    logging.getLogger("sscnb").warning("%s", message if ours else f"{category.__name__}: {message}")
