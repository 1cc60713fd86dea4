"""The command: the synthetic sample data made again (``sscnb make-sample-data``)."""

from __future__ import annotations


def add_parser(sub) -> None:
    s = sub.add_parser("make-sample-data", help="regenerate the synthetic sample data")
    s.add_argument("--out", default="sample_data", help="folder to write (default: %(default)s)")
    s.add_argument("--seed", type=int, default=2026, metavar="N", help="random seed of the scenes (default: %(default)s)")
    s.add_argument("--force", action="store_true", help="replace existing files")


def handle(a) -> int:
    from sscnb.synthetic import write_sample_data

    files = write_sample_data(a.out, seed=a.seed, force=a.force)
    print(f"wrote {len(files)} files to {a.out}")
    return 0
