"""Command line: ``python -m sscnb run|check|evaluate|map|adapt|assess|notebooks|make-sample-data``."""

from __future__ import annotations

import logging
import sys

from .cliparser import build_parser, command_list, in_flags


def _assess(a) -> int:
    import pandas as pd

    from .assess import assess_map
    from .classes import ClassScheme

    res = assess_map(
        a.map_path,
        a.out,
        a.n,
        reference=a.reference,
        points=a.points,
        min_per_class=a.min_per_class,
        seed=a.seed,
        scheme=ClassScheme.load(a.class_csv),
        class_field=a.class_field,
        points_crs=a.points_crs,
        overwrite=a.overwrite,
        log=print if a.verbosity >= 0 else (lambda *_: None),
        out_setting="--out",
    )
    if res["estimates"] is not None:
        with pd.option_context("display.width", 200, "display.max_columns", 20):
            print(res["estimates"].to_string(index=False, float_format=lambda v: f"{v:.4g}"))
        print(f"wrote {res['files']['estimates']}")
    return 0


def _evaluate(a) -> int:
    from .evaluation import class_scores, evaluate_folder, overall_f1
    from .modelfiles import load_model
    from .params import SSCParams

    chosen = {k[3:]: v for k, v in vars(a).items() if k.startswith("p2_") and v is not None}
    quiet = a.verbosity < 0
    say = (lambda *_: None) if quiet else print
    params = SSCParams.from_dict(chosen, source="the command line")
    cnn = load_model(a.model)
    summary, _ = evaluate_folder(
        a.data_dir,
        cnn,
        a.out,
        a.experiment,
        params,
        overwrite=a.overwrite,
        save_figures=a.save_figures,
        dpi=a.dpi,
        save_class_rasters=a.class_rasters,
        progress=not quiet,
        scheduler=a.scheduler,
        workers=a.workers,
        log=say,
        labels=a.labels,
        class_field=a.class_field,
    )
    from pathlib import Path

    out = Path(a.out)  # evaluate_folder wrote Summary_<experiment>.csv there
    overall = overall_f1(out, a.experiment, params.phase2, images=set(summary.image))
    if not quiet:
        print(summary.round(4).to_string(index=False))
        scores = class_scores(out, a.experiment, params.phase2, images=set(summary.image), scheme=cnn.scheme)
        if len(scores):
            print("\nEvery class over all images (pooled confusion matrices):")
            print(scores.round(4).to_string(index=False))
        print(
            f"\nOverall pixel-weighted F1: CNN {overall['CNN']:.4f}, final ({params.phase2_name}) "
            f"{overall[params.phase2_name]:.4f}\nfiles in {out}"
        )
    return 0


def _map(a) -> int:
    from ._malloc import limit_malloc_arenas

    limit_malloc_arenas()  # before the mapping's threads allocate: less resident memory, the same maps
    from . import mapping
    from .modelfiles import load_model
    from .params import SSCParams

    chosen = {k[3:]: v for k, v in vars(a).items() if k.startswith("p2_") and v is not None}
    params = SSCParams.from_dict(chosen, source="the command line")
    cnn = load_model(a.model)
    kw = {}
    if a.min_polygon_area is not None:
        kw["min_polygon_area"] = a.min_polygon_area
    if a.window_mpx is not None:
        kw["window_mpx"] = a.window_mpx
    results = mapping.map_inputs(
        a.inputs,
        cnn,
        a.out,
        a.experiment,
        params,
        vectors=a.vectors,
        overwrite=a.overwrite,
        progress=a.verbosity >= 0,
        scheduler=a.scheduler,
        workers=a.workers,
        labels=a.labels,
        class_field=a.class_field,
        **kw,
    )
    for r in results:
        cols = [c for c in ("class", "pixels", "percent", "area_ha") if c in r.areas]
        print(f"\n{r.input.name} ({r.status}): {r.files['final']}")
        print(r.areas[cols].round(3).to_string(index=False))
    print(f"\nmaps, areas and styles are in {a.out}")
    return 0


def _adapt(a) -> int:
    from .adapt import adapt_model

    quiet = a.verbosity < 0
    paths = adapt_model(
        a.model,
        a.labels,
        a.images,
        a.out,
        model_name=a.name,
        epochs=a.epochs,
        replay=a.replay,
        replay_dir=a.replay_dir,
        class_field=a.class_field,
        seed=a.seed,
        overwrite=a.overwrite,
        progress=not quiet,
        log=(lambda *_: None) if quiet else print,
        out_setting="--out",
    )
    print(paths["model"])  # last line: the adapted model, for scripts
    return 0


def configure_logging(verbosity: int = 0) -> None:
    """Send sscnb's messages (and Python warnings) to stderr, once per process, in sscnb's own words.

    WARNING and up by default, INFO with ``-v``, errors only with ``-q``. A warning is one line,
    ``warning: StMarg_31162: ...``, shown once however often it is raised or logged (not Python's
    ``WARNING py.warnings: /path/x.py:453: DataWarning:`` with a line of source).
    """
    import warnings

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


def _run(a) -> int:
    from .runner import run_suite

    run_suite(
        a.config,
        experiment=a.experiment,
        only=a.only,
        overwrite=a.overwrite,
        extend=a.extend,
        progress=a.verbosity >= 0,
        log=print if a.verbosity >= 0 else (lambda *_: None),
    )
    return 0


def _check(a) -> int:
    from .classes import ClassScheme
    from .data import DataError
    from .datacheck import check_dataset

    if a.tile_size < 1:
        raise DataError(f"--tile-size must be at least 1 px, got {a.tile_size}: use the CNN's tile size (50)")
    if not 0 < a.purity <= 1:
        raise DataError(
            f"--purity must be more than 0 and at most 1, got {a.purity}: the share of a tile that must be one class (0.9)"
        )
    chk = check_dataset(a.data_dir, ClassScheme.load(a.class_csv), a.tile_size, a.purity)
    print(chk.inventory.to_string(index=False))
    print("\nusable tiles per river and class:\n" + chk.totals("tiles").to_string())
    for p in chk.problems:
        print(p)
    return 0 if chk.ok else 1


def _notebooks(a) -> int:
    from .runner import copy_notebooks

    files = copy_notebooks(a.out, overwrite=a.overwrite)
    print(f"copied {len(files)} notebooks to {a.out}: open them with  jupyter lab {a.out}")
    return 0


def _make_sample_data(a) -> int:
    from .synthetic import write_sample_data

    files = write_sample_data(a.out, seed=a.seed, force=a.force)
    print(f"wrote {len(files)} files to {a.out}")
    return 0


HANDLERS = {
    "run": _run,
    "check": _check,
    "map": _map,
    "evaluate": _evaluate,
    "adapt": _adapt,
    "assess": _assess,
    "notebooks": _notebooks,
    "make-sample-data": _make_sample_data,
}


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
    from .errors import SscnbError

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
        from .batch import _set_threads

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


def cli() -> None:
    """Run :func:`main` as a program (the ``sscnb`` command, ``python -m sscnb``) and exit with its status.

    Once the command is done, every object left is frozen out of the garbage collector's reach
    (:func:`gc.freeze`) before the interpreter exits: its last collections then skip the
    backends' millions of objects. Every output is complete and closed by then. A process
    that had imported TensorFlow took 1.1-1.5 s to exit, 0.1 s frozen (0.6 and 0.1 s with JAX;
    2 cores).
    """
    import gc

    rc = main()
    sys.stdout.flush()
    sys.stderr.flush()
    gc.freeze()
    sys.exit(rc)


if __name__ == "__main__":
    cli()
