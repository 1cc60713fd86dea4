"""The command: the numbered notebooks run with papermill (``sscnb run``)."""

from __future__ import annotations


def add_parser(sub) -> None:
    r = sub.add_parser("run", help="run the numbered notebooks with papermill")
    r.add_argument("--config", default="configs/sample_data.yml", help="run YAML (default: %(default)s)")
    r.add_argument("--experiment", help="override the experiment name (outputs/<experiment>/)")
    r.add_argument("--only", nargs="+", metavar="NN", help="run only notebooks whose names start so, e.g. 00 01")
    r.add_argument("--overwrite", action="store_true", help="replace a finished run of the same experiment")
    r.add_argument("--extend", action="store_true", help="run (more) notebooks in an existing run folder, keeping its files")


def handle(a) -> int:
    from sscnb.batch._runner import run_suite

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
