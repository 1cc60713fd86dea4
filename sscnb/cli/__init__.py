"""The command line, ``sscnb COMMAND``: one module per command, each its options and what it does.

Each command's module (``_map.py``, ``_adapt.py``, ...) has ``add_parser(sub)``, its options and their
help in words, and ``handle(args) -> status``, which calls the package as the notebooks do. What
several commands share is in ``_options.py`` (the phase-2 options, named and explained by
:class:`sscnb.params.SSCParams`; the Dask options; option names in error messages) and
``_logging.py`` (warnings as one line). :func:`main` runs one command and turns sscnb's errors into
one line naming it; :func:`cli` is the ``sscnb`` program (``python -m sscnb``).
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import signal
import sys

from sscnb.cli import _adapt, _assess, _check, _evaluate, _map, _notebooks, _run, _sample_data
from sscnb.cli._logging import configure_logging
from sscnb.cli._options import FLAGS, in_flags

__all__ = [
    "main",
    "cli",
    "build_parser",
    "command_list",
    "configure_logging",
    "in_flags",
    "FLAGS",
    "HANDLERS",
    "CANCEL_BY_SIGINT",
]

#: set by a caller that stops sscnb with SIGINT (the QGIS plugin's Cancel): sscnb then takes SIGINT as Ctrl-C even where
#: it was started with SIGINT ignored, as a shell without job control starts a command put in the background (``&``)
CANCEL_BY_SIGINT = "SSCNB_CANCEL_BY_SIGINT"

#: the commands, in the order ``sscnb --help`` lists them
COMMANDS = {
    "run": _run,
    "check": _check,
    "map": _map,
    "evaluate": _evaluate,
    "adapt": _adapt,
    "assess": _assess,
    "notebooks": _notebooks,
    "make-sample-data": _sample_data,
}
#: what each command does with its parsed options: ``HANDLERS[name](args) -> exit status``
HANDLERS = {name: module.handle for name, module in COMMANDS.items()}


def build_parser() -> argparse.ArgumentParser:
    """Return the command line: one sub-command per job, each added by its own module.

    Returns
    -------
    argparse.ArgumentParser
    """
    from sscnb import __version__

    ap = argparse.ArgumentParser(prog="sscnb", description="CNN-supervised classification of river imagery")
    ap.add_argument("--version", action="version", version=f"sscnb {__version__}")
    ap.add_argument(
        "-v", "--verbose", dest="verbosity", action="store_const", const=1, default=0, help="also show informational messages"
    )
    ap.add_argument("-q", "--quiet", dest="verbosity", action="store_const", const=-1, help="only errors; no progress bars")
    sub = ap.add_subparsers(dest="cmd", metavar="COMMAND")
    for module in COMMANDS.values():
        module.add_parser(sub)
    return ap


def command_list(parser: argparse.ArgumentParser) -> str:
    """Return the commands of the command line, one a line with what it does, and how to learn more.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        From :func:`build_parser`.

    Returns
    -------
    str
    """
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    width = max(len(c.dest) for c in sub._choices_actions)
    lines = [f"  {c.dest:<{width}}  {(c.help or '').replace('%%', '%')}" for c in sub._choices_actions]
    return "usage: sscnb COMMAND ... (sscnb COMMAND --help: its options)\n\ncommands:\n" + "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run one command; its errors are printed as one line naming the command (the traceback goes to the log: ``-v`` shows it).

    Parameters
    ----------
    argv : list of str, optional
        The arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        0 when the command did its job, 1 when it could not (or the data it checked has errors).
    """
    from sscnb.errors import SscnbError

    parser = build_parser()
    a = parser.parse_args(argv)
    if a.cmd is None:  # sscnb alone: what it can do, one command a line
        print(command_list(parser))
        return 0
    configure_logging(a.verbosity)
    if getattr(a, "threads", None) is not None:
        if a.threads < 1:
            print(f"sscnb {a.cmd}: --threads must be at least 1, got {a.threads}", file=sys.stderr)
            return 1
        from sscnb.batch._tasks import _set_threads

        _set_threads(a.threads)  # before the first model: the backends read it when they start
    try:
        return HANDLERS[a.cmd](a)
    except (SscnbError, ValueError, OSError) as exc:  # bad input, a missing file, a batch that failed
        print(f"sscnb {a.cmd}: {in_flags(str(exc))}", file=sys.stderr)
        logging.getLogger("sscnb").info("where it happened", exc_info=True)
        return 1
    except KeyboardInterrupt as exc:  # Ctrl-C: one line, no traceback (files are written whole or not at all)
        print(f"\nsscnb {a.cmd}: {str(exc) or 'interrupted (Ctrl-C)'}", file=sys.stderr)
        return 130


def honour_cancel() -> bool:
    """Take SIGINT as Ctrl-C (KeyboardInterrupt: nothing half-written is left) where the caller asks and it was ignored.

    A process started in the background by a shell without job control inherits SIGINT ignored, and Python then
    never raises KeyboardInterrupt: a caller's Cancel (the QGIS plugin sends SIGINT to sscnb's own process group)
    would go unheard until the caller kills sscnb, leaving its current output half-made. With
    :data:`CANCEL_BY_SIGINT` set, the default handler is put back; without it, an ignored SIGINT stays ignored,
    as the shell meant.

    Returns
    -------
    bool
        True when the handler was put back.
    """
    if os.environ.get(CANCEL_BY_SIGINT) and signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        return True
    return False


def cli() -> None:
    """Run :func:`main` as a program (the ``sscnb`` command, ``python -m sscnb``) and exit with its status.

    Once the command is done, every object left is frozen out of the garbage collector's reach
    (:func:`gc.freeze`) before the interpreter exits: its last collections then skip the
    backends' millions of objects. Every output is complete and closed by then. A process
    that had imported TensorFlow took 1.1-1.5 s to exit, 0.1 s frozen (0.6 and 0.1 s with JAX;
    2 cores).

    Returns
    -------
    None
        It does not return: it exits (:class:`SystemExit`) with :func:`main`'s status.
    """
    honour_cancel()
    rc = main()
    sys.stdout.flush()
    sys.stderr.flush()
    gc.freeze()
    sys.exit(rc)
