"""Command line: ``python -m sscnb run|check|make-sample-data``."""
from __future__ import annotations

import argparse
import sys


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="sscnb", description="CNN-supervised classification of river imagery")
    sub = ap.add_subparsers(dest="cmd", required=True)

    r = sub.add_parser("run", help="run the numbered notebooks with papermill")
    r.add_argument("--config", default="configs/sample_data.yml", help="run YAML (default: %(default)s)")
    r.add_argument("--experiment", help="override the experiment name (outputs/<experiment>/)")
    r.add_argument("--only", nargs="+", metavar="NN", help="run only notebooks whose names start so, e.g. 00 01")
    r.add_argument("--overwrite", action="store_true", help="replace a finished run of the same experiment")
    r.add_argument("--extend", action="store_true",
                   help="run (more) notebooks in an existing run folder, keeping its files")

    c = sub.add_parser("check", help="check a data folder (what notebook 00 does, as text)")
    c.add_argument("data_dir")
    c.add_argument("--tile-size", type=int, default=50)
    c.add_argument("--purity", type=float, default=0.9)
    c.add_argument("--class-csv", default=None)

    s = sub.add_parser("make-sample-data", help="regenerate the synthetic sample data")
    s.add_argument("--out", default="sample_data")
    s.add_argument("--seed", type=int, default=2026)
    s.add_argument("--force", action="store_true", help="replace existing files")

    a = ap.parse_args(argv)
    if a.cmd == "run":
        from .runner import RunError, run_suite

        try:
            run_suite(a.config, experiment=a.experiment, only=a.only, overwrite=a.overwrite, extend=a.extend)
        except RunError as exc:
            print(f"sscnb run: {exc}", file=sys.stderr)
            return 1
        return 0
    if a.cmd == "check":
        from .classes import ClassScheme
        from .data import DataError, check_dataset

        try:
            chk = check_dataset(a.data_dir, ClassScheme.load(a.class_csv), a.tile_size, a.purity)
        except DataError as exc:
            print(f"sscnb check: {exc}", file=sys.stderr)
            return 1
        print(chk.inventory.to_string(index=False))
        print("\nusable tiles per river and class:\n" + chk.totals("tiles").to_string())
        for p in chk.problems:
            print(p)
        return 0 if chk.ok else 1
    if a.cmd == "make-sample-data":
        from .synthetic import write_sample_data

        try:
            files = write_sample_data(a.out, seed=a.seed, force=a.force)
        except FileExistsError as exc:
            print(f"sscnb make-sample-data: {exc}", file=sys.stderr)
            return 1
        print(f"wrote {len(files)} files to {a.out}")
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
